import Foundation
import GRDB
import Logging
import ServiceLifecycle

/// How hard a commit works to survive a crash.
public enum Durability: String, Sendable, CaseIterable {
    /// `synchronous=FULL`: the write-ahead log is synced on every commit; a committed transaction survives
    /// a process kill and a power cut.
    case full
    /// `synchronous=NORMAL`: the log is synced only at checkpoints; a committed transaction survives a process
    /// kill, but the last ones before a power cut may be lost (the database is never corrupted).
    case normal
}

/// Opens the SQLite database: a WAL-mode `DatabasePool` (one writer, concurrent readers) with the schema migrated.
public enum LedgerDatabase {
    /// - Throws: ``OpenError``, which names the file and says why it cannot be used.
    public static func open(path: String, durability: Durability = .full) throws -> DatabasePool {
        do {
            return try openPool(path: path, durability: durability)
        } catch let error as DatabaseError {
            throw OpenError(path: path, error)
        }
    }

    private static func openPool(path: String, durability: Durability) throws -> DatabasePool {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        // Another process (a backup, the consistency check) may hold the write lock for a moment.
        configuration.busyMode = .timeout(5)
        // Reads run synchronously on the calling thread (SQLiteLedgerStore.read); the threads that call are those
        // of Swift's cooperative pool, one per core. Sized from the machine (GRDB's default is 5) with room for
        // callers outside that pool, a request thread never waits for a reader connection.
        configuration.maximumReaderCount = max(5, 2 * ProcessInfo.processInfo.activeProcessorCount)
        let pool = try DatabasePool(path: path, configuration: configuration)
        // DatabasePool sets synchronous=NORMAL on the writer when it enables WAL, after any prepareDatabase
        // hook has run, so the durability setting is applied here, on the one connection that commits.
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = \(durability == .full ? "FULL" : "NORMAL")")
        }
        // A build that does not know every migration applied would run on a schema it was not written for.
        if try pool.read(Schema.migrator.hasBeenSuperseded) {
            try pool.close()
            throw OpenError(path: path, cause: "it was upgraded by a newer build of account-service; run that build")
        }
        try Schema.migrator.migrate(pool)
        return pool
    }

    /// The database file cannot be used; says which file and why, in one line.
    public struct OpenError: Error, CustomStringConvertible {
        public let path: String
        public let cause: String

        public var description: String { "cannot open the database \(path): \(cause)" }

        /// Why SQLite could not open or migrate `path` (``diagnose(path:_:)``).
        init(path: String, _ error: DatabaseError) {
            self.path = path
            cause = Self.diagnose(path: path, error)
        }

        init(path: String, cause: String) {
            self.path = path
            self.cause = cause
        }

        /// Says why SQLite could not open or migrate `path`, in terms of the file system where that is the cause.
        static func diagnose(path: String, _ error: DatabaseError) -> String {
            let url = URL(fileURLWithPath: path)
            let folder = url.deletingLastPathComponent().path
            var isFolder: ObjCBool = false
            switch error.resultCode {
            case .SQLITE_NOTADB:
                return "the file is not an SQLite database"
            case .SQLITE_CANTOPEN, .SQLITE_READONLY, .SQLITE_IOERR, .SQLITE_PERM, .SQLITE_AUTH:
                if !FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder) {
                    return "the folder \(folder) does not exist"
                } else if !isFolder.boolValue {
                    return "\(folder) is not a folder"
                } else if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
                    return "it is a folder, not a file"
                } else if !FileManager.default.isWritableFile(atPath: folder) {
                    return
                        "the folder \(folder) is not writable (SQLite creates its -wal and -shm files beside the database)"
                } else if FileManager.default.fileExists(atPath: path),
                    !FileManager.default.isWritableFile(atPath: path)
                {
                    return "the file is not writable"
                }
                // The extended code says which I/O failed (SQLITE_IOERR_SHMSIZE: the -shm file could not grow,
                // often a full disk).
                return "SQLite: \(error.message ?? "\(error.resultCode)") (\(error.extendedResultCode))"
            default:
                return "SQLite: \(error.message ?? "\(error.resultCode)")"
            }
        }
    }

    /// Copies the write-ahead log into the database file, then closes every connection, so that a cleanly
    /// stopped service leaves one self-contained file. (GRDB closes the writer before the read-only readers,
    /// so the last connection to close cannot checkpoint by itself.)
    public static func close(_ pool: DatabasePool) throws {
        try pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
        try pool.close()
    }
}

/// Closes the database when the application shuts down, once nothing else uses it (``buildApplication(_:)``
/// orders the services so).
public struct DatabaseCloser: Service {
    let store: SQLiteLedgerStore
    let logger: Logger

    public init(store: SQLiteLedgerStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// Closes the database on graceful shutdown, and says so; when the application fails instead (the group
    /// cancels its services, for example when the port is in use), it closes it quietly, so that the failure
    /// is the one thing the operator reads.
    public func run() async throws {
        do {
            try await gracefulShutdown()
        } catch {
            try await store.close()
            return
        }
        try await store.close()
        logger.notice("Database closed", metadata: ["path": "\(store.pool.path)"])
    }
}

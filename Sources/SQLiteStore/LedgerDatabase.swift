import AccountLedger
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
        createPrivately(path)
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
            if let full = LedgerDatabase.diskFull(error, path: path) { return full }
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

    /// Creates `path` empty with mode 0600 when it does not exist, so that the ledger's files are readable by
    /// their owner alone whatever the umask (SQLite would create it 0644 less the umask, and gives its -wal and
    /// -shm files the database file's mode). Does nothing when the file exists or cannot be created (SQLite then
    /// says why).
    static func createPrivately(_ path: String) {
        let descriptor = Foundation.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if descriptor >= 0 { Foundation.close(descriptor) }
    }

    /// A write that SQLite refused because the disk is full (SQLITE_FULL, or an I/O error on a file system with
    /// less than 1 MiB left, as when the -shm file cannot grow): says so, naming the folder and what is free.
    static func diskFull(_ error: DatabaseError, path: String) -> String? {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let free = freeBytes(in: folder)
        let full =
            error.resultCode == .SQLITE_FULL || (error.resultCode == .SQLITE_IOERR && free.map { $0 < 1 << 20 } == true)
        guard full else { return nil }
        return "the disk holding \(folder) is full (\(free.map { "\($0) bytes free" } ?? "free space unknown"))"
    }

    /// The bytes an unprivileged process may still write on the file system holding `folder`.
    static func freeBytes(in folder: String) -> Int64? {
        var stats = statvfs()
        guard statvfs(folder, &stats) == 0 else { return nil }
        return Int64(stats.f_bavail) * Int64(stats.f_frsize)
    }

    /// A write to `path` that failed for a reason outside the request (a full disk, an I/O error) as
    /// ``StoreUnavailableError``: the client may retry later; nil for any other error.
    static func unavailable(_ error: DatabaseError, path: String) -> StoreUnavailableError? {
        if let full = diskFull(error, path: path) { return StoreUnavailableError(reason: full, isDiskFull: true) }
        guard error.resultCode == .SQLITE_IOERR else { return nil }
        return StoreUnavailableError(reason: "I/O error on \(path): \(error.message ?? "\(error.extendedResultCode)")")
    }

    /// Copies the write-ahead log into the database file, then closes every connection, so that a cleanly
    /// stopped service leaves one self-contained file. (GRDB closes the writer before the read-only readers,
    /// so the last connection to close cannot checkpoint by itself.)
    public static func close(_ pool: DatabasePool) throws {
        try pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
        try pool.close()
    }
}

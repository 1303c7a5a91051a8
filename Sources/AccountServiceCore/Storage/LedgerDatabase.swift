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
    public static func open(path: String, durability: Durability = .full) throws -> DatabasePool {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        // Another process (a backup, the consistency check) may hold the write lock for a moment.
        configuration.busyMode = .timeout(5)
        let pool = try DatabasePool(path: path, configuration: configuration)
        // DatabasePool sets synchronous=NORMAL on the writer when it enables WAL, after any prepareDatabase
        // hook has run, so the durability setting is applied here, on the one connection that commits.
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = \(durability == .full ? "FULL" : "NORMAL")")
        }
        try Schema.migrator.migrate(pool)
        return pool
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
    let pool: DatabasePool
    let logger: Logger

    public init(pool: DatabasePool, logger: Logger) {
        self.pool = pool
        self.logger = logger
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try LedgerDatabase.close(pool)
        logger.info("Database closed", metadata: ["path": "\(pool.path)"])
    }
}

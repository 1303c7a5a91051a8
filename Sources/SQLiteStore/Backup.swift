import AccountLedger
import Foundation
import GRDB

/// Why the command failed, in words for the operator.
public struct BackupError: Error, CustomStringConvertible {
    public let description: String
}

/// `account-service backup`: a consistent copy of a database, taken while the service writes to it.
public enum Backup {
    /// Copies the database at `path` into a new file at `destination` with SQLite's online backup API, in one
    /// step inside one read transaction: the copy is the database as of one instant, whole commits only, and
    /// the service goes on writing meanwhile (a reader never blocks the writer in WAL mode). The copy is one
    /// self-contained file (its log checkpointed away), synced to disk before this returns. It refuses to
    /// overwrite an existing file. The index file is not copied: the service rebuilds it from the copy.
    public static func run(path: String, to destination: String) throws {
        guard !FileManager.default.fileExists(atPath: destination) else {
            throw BackupError(description: "\(destination) already exists; back up into a new file")
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw BackupError(description: "cannot open the database \(path): the file does not exist")
        }
        var configuration = Configuration()
        configuration.readonly = true
        let source = try open(path, configuration)
        LedgerDatabase.createPrivately(destination)
        let target = try open(destination, Configuration())
        do {
            try source.backup(to: target)
            try target.writeWithoutTransaction { db in
                // The copy is a ledger of its own from now on: an index file built from the original (or from
                // another copy) is not used with it (IndexFile).
                if try db.tableExists("ledger") { try db.execute(sql: "UPDATE ledger SET id = randomblob(16)") }
                try db.execute(sql: "PRAGMA synchronous = FULL")
                _ = try db.checkpoint(.truncate)
            }
            try target.close()
            try source.close()
        } catch {
            try? FileManager.default.removeItem(atPath: destination)
            for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: destination + suffix) }
            throw error
        }
    }

    /// Opens `path`, saying why it cannot be opened as the service does.
    private static func open(_ path: String, _ configuration: Configuration) throws -> DatabaseQueue {
        do {
            return try DatabaseQueue(path: path, configuration: configuration)
        } catch let error as DatabaseError {
            throw LedgerDatabase.OpenError(path: path, error)
        }
    }
}

import Foundation
import GRDB

/// `account-service backup`: a consistent copy of a database, taken while the service writes to it.
public enum Backup {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Copies the database at `path` into a new file at `destination` with SQLite's online backup API, in one
    /// step inside one read transaction: the copy is the database as of one instant, whole commits only, and
    /// the service goes on writing meanwhile (a reader never blocks the writer in WAL mode). The copy is one
    /// self-contained file (its log checkpointed away), synced to disk before this returns. It refuses to
    /// overwrite an existing file.
    public static func run(path: String, to destination: String) throws {
        guard !FileManager.default.fileExists(atPath: destination) else {
            throw Failure(description: "\(destination) already exists; back up into a new file")
        }
        var configuration = Configuration()
        configuration.readonly = true
        let source: DatabaseQueue
        do {
            guard FileManager.default.fileExists(atPath: path) else {
                throw Failure(description: "cannot open the database \(path): the file does not exist")
            }
            source = try DatabaseQueue(path: path, configuration: configuration)
        } catch let error as DatabaseError {
            throw LedgerDatabase.OpenError(path: path, cause: LedgerDatabase.OpenError.diagnose(path: path, error))
        }
        let target: DatabaseQueue
        do {
            target = try DatabaseQueue(path: destination)
        } catch let error as DatabaseError {
            throw LedgerDatabase.OpenError(
                path: destination, cause: LedgerDatabase.OpenError.diagnose(path: destination, error))
        }
        do {
            try source.backup(to: target)
            try target.writeWithoutTransaction { db in
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
}

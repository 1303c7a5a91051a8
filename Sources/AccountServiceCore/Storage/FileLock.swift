import Foundation

/// An exclusive `flock(2)` lock on a file of its own, held until released or until the process ends (the system
/// releases it then, whatever the way the process ended).
///
/// It is taken on `<database>-lock`, not on the database: closing any descriptor of a file drops every POSIX lock
/// the process holds on it, SQLite's own included, so the database file is opened by SQLite alone. The file is
/// left in place when released (removing it could let two processes lock two different files).
final class FileLock: Sendable {
    private let descriptor: Int32

    /// Locks `path`, creating it if needed; nil when another process (or another lock in this one) holds it.
    init?(exclusive path: String) throws {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path, "errno": errno])
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            return nil
        }
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)
    }
}

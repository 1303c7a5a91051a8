import Foundation
import Synchronization

/// An exclusive `flock(2)` lock on a file of its own, held until released or until the process ends (the system
/// releases it then, whatever the way the process ended).
///
/// It is taken on `<database>-lock`, not on the database: closing any descriptor of a file drops every POSIX lock
/// the process holds on it, SQLite's own included, so the database file is opened by SQLite alone. The file is
/// left in place when released (removing it could let two processes lock two different files).
package final class FileLock: Sendable {
    /// The locked file's descriptor, until released.
    private let descriptor: Mutex<Int32?>

    /// Locks `path`, creating it if needed; nil when another process (or another lock in this one) holds it.
    package convenience init?(exclusive path: String) throws {
        try self.init(path: path, operation: LOCK_EX | LOCK_NB)
    }

    /// Locks `path`, creating it if needed, waiting while another process holds it.
    package convenience init(waitingFor path: String) throws {
        try self.init(path: path, operation: LOCK_EX)!
    }

    private init?(path: String, operation: Int32) throws {
        // Readable by its owner only, as the files it guards are.
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path, "errno": errno])
        }
        var locked = flock(descriptor, operation)
        while locked != 0 && errno == EINTR { locked = flock(descriptor, operation) }
        guard locked == 0 else {
            let code = errno
            close(descriptor)
            // Held elsewhere (only with LOCK_NB); anything else is a failure to say.
            if code == EWOULDBLOCK { return nil }
            throw CocoaError(.fileLocking, userInfo: [NSFilePathErrorKey: path, "errno": code])
        }
        self.descriptor = Mutex(descriptor)
    }

    /// Releases the lock (closing the descriptor); releasing again does nothing.
    package func release() {
        descriptor.withLock { descriptor in
            if let open = descriptor { close(open) }
            descriptor = nil
        }
    }

    deinit {
        release()
    }
}

import AccountHTTP
import AccountLedger
import AccountServiceApp
import Foundation
import PostgresStore
import SQLiteStore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A program the tests run (the built executable, PostgreSQL's programs, `install`), spawned with posix_spawn and
/// reaped with waitpid, with no descriptor of this process but its standard ones.
/// Foundation's `Process` is not used for them: once applications ran in the test process, its wait for a child
/// that had exited sometimes never ended (the child left a zombie while `waitUntilExit` spun at 100% CPU),
/// which hung the whole suite.
package final class ChildProcess: Sendable {
    package let processIdentifier: pid_t
    /// The exit status once reaped: the exit code, or 128 + the signal that ended it.
    private let status = Mutex<Int32?>(nil)

    /// Starts `command` (an absolute path and its arguments) with `environment` (this process's when nil), its
    /// standard input from `input` (a descriptor of this process; /dev/null when nil), its standard output into
    /// `output` (a file path; /dev/null when nil) and its standard error into `errors` (the same as its output when
    /// nil), in `folder` when given. Files, not pipes, for what it writes: a server the child starts could inherit
    /// a pipe and keep it open.
    package init(
        _ command: [String], environment: [String: String]? = nil, input: Int32? = nil, output: String? = nil,
        errors: String? = nil, in folder: String? = nil
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let input {
            posix_spawn_file_actions_adddup2(&actions, input, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_addopen(&actions, 1, output ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        if let errors {
            posix_spawn_file_actions_addopen(&actions, 2, errors, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        // Nothing else of this process: NIO's accepted sockets are not close-on-exec, and a child (a PostgreSQL
        // server started by pg_ctl lives on) that held one would keep the connection open after the service
        // closed it, so its client would never see the close.
        _ = closeFrom(&actions, 3)
        // A shell changes into the folder, then runs the command in its place.
        let command = folder.map { ["/bin/sh", "-c", #"cd "$0" && exec "$@""#, $0] + command } ?? command
        var arguments = command.map { strdup($0) } + [nil]
        defer { for argument in arguments { free(argument) } }
        let variables = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        var environ = variables.map { strdup($0) } + [nil]
        defer { for variable in environ { free(variable) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, command[0], &actions, nil, &arguments, &environ)
        guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .ENOENT) }
        processIdentifier = pid
    }

    deinit {
        if isRunning {
            kill(processIdentifier, SIGKILL)
            waitUntilExit()
        }
    }

    package var isRunning: Bool { reap(options: WNOHANG) == nil }

    /// The exit status; waits for the exit when it has not happened yet.
    package var terminationStatus: Int32 { waitUntilExit() }

    package func terminate() {
        if isRunning { kill(processIdentifier, SIGTERM) }
    }

    @discardableResult
    package func waitUntilExit() -> Int32 {
        while true {
            if let status = reap(options: 0) { return status }
        }
    }

    /// Waits for the exit at most `timeout`; nil when it is still running then.
    package func wait(upTo timeout: Duration) async throws -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let status = reap(options: WNOHANG) { return status }
            try await Task.sleep(for: .milliseconds(20))
        }
        return reap(options: WNOHANG)
    }

    /// The status, reaping the child if it has exited (waiting for it without WNOHANG).
    private func reap(options: Int32) -> Int32? {
        status.withLock { status in
            if let status { return status }
            var raw: Int32 = 0
            var reaped: pid_t
            repeat { reaped = waitpid(processIdentifier, &raw, options) } while reaped == -1 && errno == EINTR
            guard reaped == processIdentifier else { return nil }
            // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import (they are macros).
            let signal = raw & 0x7f
            status = signal == 0 ? (raw >> 8) & 0xff : 128 + signal
            return status
        }
    }
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), which the Glibc module does not bring in.
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func closeFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32) -> Int32

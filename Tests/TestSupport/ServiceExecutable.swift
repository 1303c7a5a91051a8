import Foundation
import Testing

/// The `account-service` executable that `swift test` builds beside the test bundle, for the tests that run the
/// service as a process of its own.
package enum ServiceExecutable {
    /// The `account-service` executable of this build.
    package static var url: URL {
        get throws {
            let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            let url = bundle.deletingLastPathComponent().appendingPathComponent("account-service")
            try #require(
                FileManager.default.isExecutableFile(atPath: url.path),
                "no account-service executable beside \(bundle.path); `swift build --build-tests` builds it")
            return url
        }
    }

    /// The process exited before it listened.
    package struct ExitedError: Error, CustomStringConvertible {
        package let status: Int32
        package var description: String { "account-service exited with status \(status) before it listened" }
    }

    /// Starts the built executable with `arguments` (through `launcher`, when given) and waits until it accepts
    /// connections on `port`, for up to 20 s: a debug build starting beside the whole suite on two cores once took
    /// more than the 5 s this allowed before (a descriptor-exhaustion test refused in CI). Its output goes to
    /// `output` (a file path; nowhere when nil). The caller terminates it.
    package static func start(
        _ arguments: [String], port: Int, launcher: [String] = [], output: String? = nil
    ) async throws -> ChildProcess {
        let process = try ChildProcess(launcher + [try url.path] + arguments, output: output)
        for _ in 0..<800 {
            if (try? RawConnection(port: port)) != nil { return process }
            guard process.isRunning else { throw ExitedError(status: process.waitUntilExit()) }
            try await Task.sleep(for: .milliseconds(25))
        }
        process.terminate()
        process.waitUntilExit()
        throw POSIXError(.ECONNREFUSED)
    }
}

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

    /// Starts the built executable with `arguments` (through `launcher`, when given) and waits until it accepts
    /// connections on `port`; the caller terminates it.
    package static func start(
        _ arguments: [String], port: Int, launcher: [String] = []
    ) async throws -> ChildProcess {
        let process = try ChildProcess(launcher + [try url.path] + arguments)
        for _ in 0..<200 {
            if (try? RawConnection(port: port)) != nil { return process }
            try await Task.sleep(for: .milliseconds(25))
        }
        process.terminate()
        process.waitUntilExit()
        throw POSIXError(.ECONNREFUSED)
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import TestSupport
import Testing

@testable import AccountHTTP
@testable import AccountLedger
@testable import AccountServiceApp
@testable import PostgresStore

#if canImport(Glibc)
import Glibc
#endif

/// Access keys: 401 without a valid key, 403 for a read key on a write, for every route; rotation on SIGHUP;
/// no open API beyond loopback unless asked for.
@Suite(.timeLimit(.minutes(3))) struct AccessControlTests {
    /// Every route of the router, with its path's parameters filled in, and its method.
    static func routes() throws -> [(method: HTTPRequest.Method, path: String)] {
        let router = buildRouter(ledger: Ledger(store: FailingStore()))
        return router.routes.filter { $0.method != .head }.map { route in
            let path = "\(route.path)".split(separator: "/").map { part in
                part.hasPrefix("{") ? Substring(newID()) : part
            }.joined(separator: "/")
            return (route.method, "/" + path)
        }
    }

    @Test func everyRouteButTheProbesNeedsAKeyAndWritesNeedAWriteKey() async throws {
        try await withTemporaryDatabase { path in
            let keysPath = path + ".keys"
            let reader = try AccessKeyFile.add(name: "dashboard", scope: .read, path: keysPath)
            let writer = try AccessKeyFile.add(name: "payments", scope: .write, path: keysPath)
            let routes = try Self.routes()
            #expect(routes.count >= 10)
            let app = try await buildApplication(TestArguments(database: path, apiKeysPath: keysPath))
            try await app.test(.router) { client in
                for (method, uri) in routes {
                    func send(_ authorization: String?) async throws -> TestResponse {
                        var headers = HTTPFields()
                        if let authorization { headers[.authorization] = authorization }
                        return try await client.executeRequest(uri: uri, method: method, headers: headers, body: nil)
                    }
                    let context = "\(method) \(uri)"
                    // A load balancer's health check sends no key (haproxy: option httpchk GET /ready); nor does a
                    // browser asking for the console's page and assets (the console's own requests do).
                    if uri == "/ping" || uri == "/ready" || uri.hasPrefix("/console") {
                        #expect(try await send(nil).status == .ok, "\(context)")
                        #expect(try await send("Bearer wrong").status == .ok, "\(context)")
                        continue
                    }
                    for bad in [nil, "Bearer", "Bearer ", "Basic \(writer)", "\(writer)", "Bearer wrong"] {
                        let response = try await send(bad)
                        try response.problem(.unauthorized)
                        #expect(
                            response.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true, "\(context) \(bad ?? "-")")
                    }
                    let read = try await send("Bearer \(reader)")
                    if method == .get {
                        #expect(![.unauthorized, .forbidden].contains(read.status), "\(context) read: \(read.status)")
                    } else {
                        try read.problem(.forbidden)
                    }
                    // The scheme is case-insensitive (RFC 9110).
                    let write = try await send("bearer \(writer)")
                    #expect(![.unauthorized, .forbidden].contains(write.status), "\(context) write: \(write.status)")
                }
                // A key is never echoed in a problem.
                let problem = try await client.executeRequest(
                    uri: "/amount", method: .post, headers: [.authorization: "Bearer \(reader)"], body: nil)
                #expect(!String(buffer: problem.body).contains(reader))
            }
        }
    }

    @Test func withoutKeysTheServiceRefusesAnAddressBeyondLoopback() async throws {
        try await withTemporaryDatabase { path in
            await #expect(throws: UnauthenticatedListenError.self) {
                _ = try await buildApplication(TestArguments(hostname: "0.0.0.0", database: path))
            }
            #expect(!FileManager.default.fileExists(atPath: path), "refused before the database is opened")
            _ = try await buildApplication(
                TestArguments(hostname: "0.0.0.0", database: path, allowUnauthenticated: true))
            let keysPath = path + ".keys"
            _ = try AccessKeyFile.add(name: "ops", scope: .write, path: keysPath)
            _ = try await buildApplication(
                TestArguments(hostname: "0.0.0.0", database: path, apiKeysPath: keysPath))
            for loopback in ["127.0.0.1", "127.3.2.1", "localhost", "::1", "[::1]", "0:0:0:0:0:0:0:1"] {
                #expect(isLoopback(loopback), "\(loopback)")
            }
            // Judged by what the name is, not how it starts: anyone can point 127.evil.example anywhere.
            for beyond in [
                "10.0.0.1", "0.0.0.0", "::", "127.evil.example", "127.0.0.1.nip.io", "localhost.example", "::2",
            ] {
                #expect(!isLoopback(beyond), "\(beyond)")
            }
            await #expect(throws: UnauthenticatedListenError.self) {
                _ = try await buildApplication(TestArguments(hostname: "127.evil.example", database: path))
            }
        }
    }

    @Test func theKeysFileHoldsOnlyHashesAndRefusesWhatItCannotRead() async throws {
        try await withTemporaryDatabase { path in
            let keysPath = path + ".keys"
            let key = try AccessKeyFile.add(name: "a", scope: .read, path: keysPath)
            let text = try String(contentsOfFile: keysPath, encoding: .utf8)
            #expect(!text.contains(key) && key.hasPrefix("as_") && key.count == 46)
            let permissions = try FileManager.default.attributesOfItem(atPath: keysPath)[.posixPermissions] as? Int
            #expect(permissions == 0o600)
            #expect(throws: AccessKeyFileError.self) {
                try AccessKeyFile.add(name: "a", scope: .write, path: keysPath)
            }
            _ = try AccessKeyFile.add(name: "b", scope: .write, path: keysPath)
            try AccessKeyFile.remove(name: "a", path: keysPath)
            #expect(try AccessKeyFile.read(path: keysPath).map(\.name) == ["b"])
            // The last key stays: a file with no key would refuse every request.
            #expect(throws: AccessKeyFileError.self) { try AccessKeyFile.remove(name: "b", path: keysPath) }
            #expect(try AccessKeyFile.read(path: keysPath).map(\.name) == ["b"])
            try Data("a read not-hex\n".utf8).write(to: URL(fileURLWithPath: keysPath))
            #expect(throws: AccessKeyFileError.self) { try AccessKeys(path: keysPath) }
        }
    }

    /// A file saved on Windows (CRLF line endings, tabs) holds the same keys; a file with lines but no key is
    /// refused by the service rather than read as zero keys.
    @Test func aKeysFileWithCRLFLinesReadsTheSameAndOneWithNoKeyIsRefused() async throws {
        try await withTemporaryDatabase { path in
            let keysPath = path + ".keys"
            let key = try AccessKeyFile.add(name: "a", scope: .read, path: keysPath)
            _ = try AccessKeyFile.add(name: "b", scope: .write, path: keysPath)
            let unix = try String(contentsOfFile: keysPath, encoding: .utf8)
            let windows = unix.replacingOccurrences(of: "\n", with: "\r\n").replacingOccurrences(of: " ", with: "\t")
            try Data(windows.utf8).write(to: URL(fileURLWithPath: keysPath))
            let keys = try AccessKeys(path: keysPath)
            #expect(keys.count == 2)
            #expect(keys.key(for: key)?.name == "a")
            try Data("# only a comment\r\n\r\n".utf8).write(to: URL(fileURLWithPath: keysPath))
            #expect(throws: AccessKeyFileError.self) { try AccessKeys(path: keysPath) }
            // A reload that finds no key keeps the keys in use.
            try Data(windows.utf8).write(to: URL(fileURLWithPath: keysPath))
            try keys.reload()
            try Data("# only a comment\n".utf8).write(to: URL(fileURLWithPath: keysPath))
            #expect(throws: AccessKeyFileError.self) { try keys.reload() }
            #expect(keys.count == 2)
        }
    }

    /// Ten `keys add` at once on one file: every key they print is in the file afterwards.
    @Test func keysAddedAtOnceAreAllKept() async throws {
        try await withTemporaryDatabase { path in
            let keysPath = path + ".keys"
            let names = (0..<10).map { "key\($0)" }
            DispatchQueue.concurrentPerform(iterations: names.count) { index in
                _ = try? AccessKeyFile.add(name: names[index], scope: .read, path: keysPath)
            }
            let kept = try AccessKeyFile.read(path: keysPath).map(\.name).sorted()
            #expect(kept == names)
        }
    }

    /// SIGHUP to a service without keys (a log rotation, or a fleet-wide `kill -HUP`) is ignored, not fatal.
    @Test func aServiceWithoutKeysSurvivesSIGHUP() async throws {
        try await withTemporaryDatabase { path in
            let port = try RawConnection.freePort()
            let process = try await ServiceExecutable.start(
                ["--port", String(port), "--database", path, "--log-level", "critical"], port: port)
            defer {
                process.terminate()
                process.waitUntilExit()
            }
            kill(process.processIdentifier, SIGHUP)
            try await Task.sleep(for: .milliseconds(300))
            #expect(process.isRunning, "SIGHUP must not stop the service")
            let connection = try RawConnection(port: port)
            connection.send("GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            #expect(await connection.read(for: .seconds(5)).text.hasPrefix("HTTP/1.1 200"))
        }
    }

    /// The built executable: a key removed and another added in the file take effect on SIGHUP.
    @Test func keysRotateOnSIGHUPWithoutARestart() async throws {
        try await withTemporaryDatabase { path in
            let keysPath = path + ".keys"
            let old = try AccessKeyFile.add(name: "old", scope: .write, path: keysPath)
            let port = try RawConnection.freePort()
            let process = try await ServiceExecutable.start(
                ["--port", String(port), "--database", path, "--api-keys", keysPath, "--log-level", "critical"],
                port: port)
            defer {
                process.terminate()
                process.waitUntilExit()
            }
            func status(_ key: String) async throws -> String {
                let connection = try RawConnection(port: port)
                connection.send(
                    "GET /max_transaction_volume HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(key)\r\n\r\n")
                return await String(connection.read(for: .seconds(5)).text.prefix(12))
            }
            #expect(try await status(old) == "HTTP/1.1 200")
            let new = try AccessKeyFile.add(name: "new", scope: .read, path: keysPath)
            try AccessKeyFile.remove(name: "old", path: keysPath)
            #expect(try await status(new) == "HTTP/1.1 401", "not before SIGHUP")
            kill(process.processIdentifier, SIGHUP)
            var rotated = false
            for _ in 0..<100 where !rotated {
                rotated = try await status(new) == "HTTP/1.1 200"
                if !rotated { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(rotated)
            #expect(try await status(old) == "HTTP/1.1 401")
            #expect(process.isRunning, "SIGHUP must not stop the service")
        }
    }
}

import Foundation
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

/// Slow and idle clients cannot pin the service's connections.
@Suite(.timeLimit(.minutes(3))) struct ConnectionLimitTests {
    func withLiveApp(
        idleTimeout: Duration, maximumConnections: Int? = nil, maximumBodyMemory: Int = RequestBodies.defaultMemory,
        bodyTimeout: Duration = ConnectionLimits.defaultBodyTimeout,
        _ test: @escaping @Sendable (Int) async throws -> Void
    ) async throws {
        try await withTemporaryDatabase { path in
            let arguments = TestArguments(
                database: path, idleTimeout: idleTimeout, maximumConnections: maximumConnections,
                maximumBodyMemory: maximumBodyMemory, bodyTimeout: bodyTimeout)
            try await buildApplication(arguments).test(.live) { client in
                try await test(try #require(client.port))
            }
        }
    }

    @Test func aHalfSentRequestIsClosedAfterTheIdleTimeout() async throws {
        try await withLiveApp(idleTimeout: .seconds(1)) { port in
            let started = ContinuousClock.now
            let halfHeader = try RawConnection(port: port)
            halfHeader.send("GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            let halfBody = try RawConnection(port: port)
            halfBody.send(
                "POST /amount HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Transaction-Id: \(newID())\r\nContent-Length: 60\r\n\r\n{\"account_id\":")
            #expect(await halfHeader.read(for: .seconds(5)).closed)
            #expect(await halfBody.read(for: .seconds(5)).closed)
            let elapsed = ContinuousClock.now - started
            #expect(elapsed > .milliseconds(800) && elapsed < .seconds(5))
        }
    }

    /// A request that does not keep its connection alive (HTTP/1.0 without `Connection: keep-alive`, or any
    /// `Connection: close`) is answered and closed at once, not held until the idle timeout.
    @Test func aConnectionTheRequestDoesNotKeepAliveIsClosedAfterItsResponse() async throws {
        try await withLiveApp(idleTimeout: .seconds(30)) { port in
            for request in ["GET /ping HTTP/1.0\r\n\r\n", "GET /ping HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n"]
            {
                let connection = try RawConnection(port: port)
                connection.send(request)
                let answer = await connection.read(for: .seconds(10))
                #expect(answer.text.hasPrefix("HTTP/1.1 200"), "\(request): \(answer)")
                // Closed well before the 30 s idle timeout.
                let closed = answer.closed ? true : await connection.read(for: .seconds(10)).closed
                #expect(closed, "\(request)")
            }
            let kept = try RawConnection(port: port)
            kept.send("GET /ping HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            let answer = await kept.read(for: .seconds(10))
            #expect(answer.text.hasPrefix("HTTP/1.1 200") && !answer.closed, "\(answer)")
            let stillOpen = await !kept.read(for: .seconds(1)).closed
            #expect(stillOpen, "kept alive")
        }
    }

    /// `Expect: 100-continue` is answered before the body is sent (curl waits a second for it otherwise).
    @Test func aClientThatExpects100ContinueIsToldToGoOn() async throws {
        try await withLiveApp(idleTimeout: .seconds(30)) { port in
            let body = #"{"account_id":"\#(newID())","amount":5}"#
            let connection = try RawConnection(port: port)
            connection.send(
                "POST /amount HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nTransaction-Id: \(newID())\r\n"
                    + "Expect: 100-continue\r\nContent-Length: \(body.utf8.count)\r\n\r\n")
            // Each read returns as soon as a response head has arrived; the bound only ends a wait that fails.
            let proceed = await connection.read(for: .seconds(10))
            #expect(proceed.text.hasPrefix("HTTP/1.1 100 Continue\r\n"), "\(proceed)")
            connection.send(body)
            let answer = await connection.read(for: .seconds(10))
            #expect(answer.text.hasPrefix("HTTP/1.1 200"), "\(answer)")
        }
    }

    /// A body trickled a byte at a time, each byte well within the idle timeout, is cut at the body timeout,
    /// whether its length is declared or it is chunked.
    @Test func aBodyTrickledByteByByteIsCutAtTheBodyTimeout() async throws {
        try await withLiveApp(idleTimeout: .seconds(2), bodyTimeout: .seconds(2)) { port in
            let head =
                "POST /transactions HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
            let declared = try RawConnection(port: port)
            declared.send(head + "Content-Length: 100000\r\n\r\n")
            let chunked = try RawConnection(port: port)
            chunked.send(head + "Transfer-Encoding: chunked\r\n\r\n")
            let started = ContinuousClock.now
            var closed = (false, false)
            var received = ("", "")
            // A generous multiple of the 2 s timeout, for two busy cores: the trickle alone would go on for ever.
            while ContinuousClock.now - started < .seconds(20), !(closed.0 && closed.1) {
                declared.send(" ")
                chunked.send("1\r\n \r\n")
                if !closed.0 {
                    let read = await declared.read(for: .milliseconds(400))
                    (closed.0, received.0) = (read.closed, received.0 + read.text)
                }
                if !closed.1 {
                    let read = await chunked.read(for: .milliseconds(400))
                    (closed.1, received.1) = (read.closed, received.1 + read.text)
                }
            }
            #expect(closed.0 && closed.1, "both cut by the body timeout, not kept alive by the trickle: \(received)")
        }
    }

    /// Bodies in flight count against --max-body-memory: with 1 MiB allowed and a 700 KB body held half-sent, a
    /// second large body is answered 503 with Retry-After at once; once the first is done, it is accepted.
    @Test func largeBodiesBeyondTheMemoryBoundAreAnswered503() async throws {
        try await withLiveApp(idleTimeout: .seconds(30), maximumBodyMemory: 1 << 20) { port in
            let head =
                "POST /transactions HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 700000\r\n\r\n"
            let first = try RawConnection(port: port)
            first.send(head + "{")
            try await Task.sleep(for: .milliseconds(200))
            let second = try RawConnection(port: port)
            second.send(head)
            let refused = await second.read(for: .seconds(5)).text
            _ = first
            #expect(refused.hasPrefix("HTTP/1.1 503"), "\(refused)")
            #expect(refused.lowercased().contains("retry-after: 1"), "\(refused)")
            first.send(String(repeating: " ", count: 699_998) + "}")
            #expect(await first.read(for: .seconds(5)).text.hasPrefix("HTTP/1.1 400"), "the first body is read whole")
            let third = try RawConnection(port: port)
            third.send(head + "{" + String(repeating: " ", count: 699_998) + "}")
            #expect(await third.read(for: .seconds(5)).text.hasPrefix("HTTP/1.1 400"), "room again once it is done")
        }
    }

    /// More idle connections than the cap: they are closed by the timeout, and a new client is served.
    @Test func aFloodOfIdleConnectionsDoesNotStopOthersBeingServed() async throws {
        try await withLiveApp(idleTimeout: .seconds(1), maximumConnections: 8) { port in
            let idle = try (0..<20).map { _ in try RawConnection(port: port) }
            let client = try RawConnection(port: port)
            client.send("GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            let answer = await client.read(for: .seconds(10))
            #expect(answer.text.hasPrefix("HTTP/1.1 200"), "\(answer)")
            _ = idle
        }
    }

    /// The built executable with a descriptor limit of 128 asked for 1,000 connections: it serves 64 (the limit
    /// less the descriptors it keeps), so 150 connections that each ask for a balance twice a second for 3 s
    /// never take its last descriptors (a process without them is ended by libdispatch, under GRDB's queues, once
    /// it cannot open a /proc file: status 132). Once they are closed a new client is served.
    @Test func aConnectionCapAboveTheDescriptorLimitIsLoweredBelowIt() async throws {
        try await withTemporaryDatabase { path in
            let port = try RawConnection.freePort()
            let limit = 128
            let process = try await ServiceExecutable.start(
                ["--port", String(port), "--database", path, "--max-connections", "1000", "--log-level", "warning"],
                port: port, launcher: ["/usr/bin/prlimit", "--nofile=\(limit):\(limit)", "--"], output: path + ".out")
            defer {
                process.terminate()
                process.waitUntilExit()
            }
            let printed = { (try? String(contentsOfFile: path + ".out", encoding: .utf8)) ?? "" }

            var flood: [RawConnection] = []
            for _ in 0..<150 { if let connection = try? RawConnection(port: port) { flood.append(connection) } }
            var mostOpen = 0
            let end = ContinuousClock.now + .seconds(3)
            while ContinuousClock.now < end, process.isRunning {
                for connection in flood { connection.send("GET /balance/\(UUID()) HTTP/1.1\r\nHost: a\r\n\r\n") }
                mostOpen = max(mostOpen, Self.openDescriptors(of: process.processIdentifier))
                try await Task.sleep(for: .milliseconds(500))
            }
            try #require(
                process.isRunning,
                "the service exited with status \(process.terminationStatus), printing:\n\(printed())")
            #expect(mostOpen > ConnectionLimits.reservedDescriptors, "the flood was served: \(mostOpen) descriptors")
            #expect(mostOpen < limit - 8, "\(mostOpen) descriptors open at most, of \(limit)")
            #expect(printed().contains("--max-connections lowered"), "\(printed())")
            flood.removeAll()  // closes them

            let client = try RawConnection(port: port)
            client.send("GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            let answer = await client.read(for: .seconds(10))
            #expect(answer.text.hasPrefix("HTTP/1.1 200"), "\(answer)")
            #expect(process.isRunning)
        }
    }

    /// A descriptor limit that leaves less than 16 connections beside the descriptors the service keeps: it
    /// refuses to start, and says why.
    @Test func aDescriptorLimitTooLowIsRefusedAtStart() async throws {
        try await withTemporaryDatabase { path in
            let port = try RawConnection.freePort()
            await #expect(throws: ServiceExecutable.ExitedError.self) {
                let process = try await ServiceExecutable.start(
                    ["--port", String(port), "--database", path], port: port,
                    launcher: ["/usr/bin/prlimit", "--nofile=48:48", "--"], output: path + ".out")
                process.terminate()
                process.waitUntilExit()
            }
            let printed = (try? String(contentsOfFile: path + ".out", encoding: .utf8)) ?? ""
            #expect(printed.contains("the descriptor limit (ulimit -n) is 48"), "\(printed)")
        }
    }

    /// Each read replica's pool adds its connections to the descriptors kept: 100 descriptors leave room for
    /// connections beside 64, not beside 64 and two replicas' 16 each.
    @Test func eachReplicaAddsItsPoolToTheDescriptorsKept() async throws {
        #expect(ConnectionLimits.reservedDescriptors(replicas: 2) == ConnectionLimits.reservedDescriptors + 32)
        #expect(try ConnectionLimits.maximumConnections(requested: nil, descriptorLimit: 100) == 36)
        try await withTemporaryDatabase { path in
            let port = try RawConnection.freePort()
            let server = "postgres://postgres@127.0.0.1:9"
            await #expect(throws: ServiceExecutable.ExitedError.self) {
                let process = try await ServiceExecutable.start(
                    [
                        "--port", String(port), "--database", "\(server)/ledger", "--replica", "\(server)/a",
                        "--replica", "\(server)/b",
                    ], port: port, launcher: ["/usr/bin/prlimit", "--nofile=100:100", "--"], output: path + ".out")
                process.terminate()
                process.waitUntilExit()
            }
            let printed = (try? String(contentsOfFile: path + ".out", encoding: .utf8)) ?? ""
            #expect(printed.contains("is 100: the service keeps 96"), "\(printed)")
        }
    }

    /// How many descriptors a process has open.
    static func openDescriptors(of process: pid_t) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(process)/fd").count) ?? 0
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import TestSupport
import Testing

@testable import AccountHTTP
@testable import AccountLedger
@testable import AccountServiceApp
@testable import PostgresStore

#if canImport(Glibc)
import Glibc
#endif

/// The lines a test's application logs, as parsed JSON objects.
final class LogLines: Sendable {
    private let lines = Mutex<[ByteBuffer]>([])

    func append(_ line: ByteBuffer) { lines.withLock { $0.append(line) } }

    /// Every line parsed; a line that is not one JSON object fails the test.
    func parsed(sourceLocation: SourceLocation = #_sourceLocation) throws -> [[String: String]] {
        try lines.withLock { $0 }.map { line in
            let text = String(buffer: line)
            #expect(text.hasSuffix("\n") && text.dropLast().contains("\n") == false, sourceLocation: sourceLocation)
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(buffer: line)) as? [String: Any], "\(text)",
                sourceLocation: sourceLocation)
            return object.mapValues { "\($0)" }
        }
    }

    func handler(label: String) -> any LogHandler {
        LogLineHandler(label: label, format: .json) { [self] line, _ in append(line) }
    }
}

/// Request ids and the one line a request logs.
@Suite(.timeLimit(.minutes(3))) struct RequestLoggingTests {
    @Test func aRequestIDRoundTripsAndNamesTheRequestsLogLine() async throws {
        let log = LogLines()
        try await withTemporaryDatabase { path in
            let app = try await buildApplication(
                TestArguments(database: path, logLevel: .info), logHandler: log.handler)
            try await app.test(.router) { client in
                let given = try await client.executeRequest(
                    uri: "/ping", method: .get, headers: [.requestID: "lb-7f3a.9:42_x"], body: nil)
                #expect(given.headers[.requestID] == "lb-7f3a.9:42_x")

                // A malformed id is replaced by a generated one, which the response and the log line share.
                let malformed = try await client.executeRequest(
                    uri: "/balance/\(newID())", method: .get, headers: [.requestID: "two words\u{7F}"], body: nil)
                let generated = try #require(malformed.headers[.requestID])
                #expect(
                    generated != "two words\u{7F}"
                        && RequestObservationMiddleware<BasicRequestContext>.isWellFormed(generated))

                let posted = try await client.postAmount(transactionID: newID(), accountID: newID(), amount: 12_345)
                #expect(posted.status == .ok)

                let requests = try log.parsed().filter { $0["message"] == "request" }
                #expect(requests.count == 3)
                #expect(
                    requests.first == [
                        "time": requests.first?["time"] ?? "", "level": "info", "label": "account-service",
                        "message": "request", "hb.request.id": "lb-7f3a.9:42_x", "http.method": "GET",
                        "http.route": "/ping", "http.status": "200",
                        "duration_us": requests.first?["duration_us"] ?? "",
                    ])
                #expect(requests[1]["hb.request.id"] == generated)
                #expect(requests[1]["http.route"] == "/balance/{account_id}" && requests[1]["http.status"] == "404")
                // No id from the path, no body, no amount or balance in a line.
                #expect(requests[2]["http.route"] == "/amount")
                for line in requests {
                    #expect(!line.values.contains { $0.contains("12345") || $0.contains("-") && $0.count == 36 })
                }
            }
        }
    }

    /// An error the service logs carries the id of the request that caused it.
    @Test func theLinesARequestCausesCarryItsID() async throws {
        let log = LogLines()
        try await withLedger(store: FailingStore()) { ledger, _ async throws in
            let app = Application(
                router: buildRouter(ledger: ledger), logger: Logger(label: "account-service", factory: log.handler))
            try await app.test(.router) { client in
                let response = try await client.executeRequest(
                    uri: "/max_transaction_volume", method: .get, headers: [.requestID: "req-500"], body: nil)
                #expect(response.status == .internalServerError)
            }
        }
        let lines = try log.parsed().filter { $0["hb.request.id"] == "req-500" }
        #expect(lines.map { $0["message"] } == ["Request failed", "request"])
        #expect(lines.map { $0["level"] } == ["error", "info"])
    }

    /// Buffered output: info lines wait for a flush, a warning writes everything before it at once, in order.
    @Test func logOutputBuffersInfoLinesAndWritesProblemsAtOnce() throws {
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        defer {
            close(ends[0])
            close(ends[1])
        }
        _ = fcntl(ends[0], F_SETFL, O_NONBLOCK)
        func written() -> String {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = read(ends[0], &buffer, buffer.count)
            return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : ""
        }
        let output = LogOutput(descriptor: ends[1])
        output.write(ByteBuffer(string: "one\n"), level: .info)
        #expect(written() == "")
        output.write(ByteBuffer(string: "two\n"), level: .warning)
        #expect(written() == "one\ntwo\n")
        output.write(ByteBuffer(string: "three\n"), level: .info)
        output.flush()
        #expect(written() == "three\n")
    }
}

import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing

@testable import AccountLedger
@testable import PostgresStore
@testable import SQLiteStore

/// Three service processes on one PostgreSQL database, with nothing in front of them but clients that choose an
/// instance per request: postings and transfers on shared accounts end in exact sums, a follower of the change
/// feed sees every transaction once, in order, without a gap, and after one instance is killed mid-load, retrying
/// everything through the others applies each transaction once.
@Suite(.timeLimit(.minutes(3)), .enabled(if: StoreKind.all.contains(.postgres)))
struct MultiInstanceTests {
    /// One posting or transfer sent: its ids, and the amount it adds to the accounts' total.
    struct Sent: Sendable {
        let body: String
        let path: String
        let transactionID: String?
        let ids: [String]
        let total: Int64
    }

    static func headers(_ transactionID: String?) -> HTTPFields {
        var fields: HTTPFields = [.contentType: "application/json"]
        if let transactionID { fields[HTTPField.Name("Transaction-Id")!] = transactionID }
        return fields
    }

    /// Starts three service processes on the database at `url` and runs `body` with their ports; they are stopped
    /// when it returns.
    static func withThreeInstances(on url: String, _ body: ([Int]) async throws -> Void) async throws {
        var instances: [ChildProcess] = []
        defer {
            for process in instances where process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
        }
        var ports: [Int] = []
        for _ in 0..<3 {
            let port = try RawConnection.freePort()
            instances.append(
                try await ServiceExecutable.start(
                    ["--port", String(port), "--database", url, "--log-level", "error"], port: port))
            ports.append(port)
        }
        try await body(ports)
    }

    static func send(_ sent: Sent, with client: TestClient) async throws -> HTTPResponse.Status {
        try await client.post(sent.path, headers: headers(sent.transactionID), body: ByteBuffer(string: sent.body))
            .status
    }

    @Test func threeInstancesShareOneDatabaseAndSurviveTheKillOfOne() async throws {
        try await withTemporaryStore(.postgres) { url in
            var instances: [(port: Int, process: ChildProcess)] = []
            defer {
                for instance in instances where instance.process.isRunning {
                    instance.process.terminate()
                    instance.process.waitUntilExit()
                }
            }
            for _ in 0..<3 {
                let port = try RawConnection.freePort()
                let process = try await ServiceExecutable.start(
                    ["--port", String(port), "--database", url, "--log-level", "error"], port: port)
                instances.append((port, process))
            }
            let ports = instances.map(\.port)
            let victim = instances[2].process
            let accounts = (0..<5).map { _ in newID() }

            let (sent, followed) = try await withThrowingTaskGroup(
                of: (sent: [Sent], followed: [(sequence: Int64, id: String)]).self
            ) { group in
                for poster in 0..<9 {
                    group.addTask {
                        var sent: [Sent] = []
                        var clients: [Int: TestClient] = [:]
                        defer { for client in clients.values { Task { try? await client.shutdown() } } }
                        for step in 0..<30 {
                            let (a, b) = (accounts[(poster + step) % 5], accounts[(poster + step + 1) % 5])
                            let item: Sent
                            if step % 2 == 0 {
                                let id = newID()
                                item = Sent(
                                    body: #"{"account_id":"\#(a)","amount":\#(step + 1)}"#, path: "/amount",
                                    transactionID: id, ids: [id], total: Int64(step + 1))
                            } else {
                                let (debit, credit) = (newID(), newID())
                                item = Sent(
                                    body: #"{"balanced":true,"transactions":[{"transaction_id":"\#(debit)","#
                                        + #""account_id":"\#(a)","amount":-7},{"transaction_id":"\#(credit)","#
                                        + #""account_id":"\#(b)","amount":7}]}"#,
                                    path: "/transactions", transactionID: nil, ids: [debit, credit], total: 0)
                            }
                            sent.append(item)
                            let port = ports[(poster + step) % 3]
                            if clients[port] == nil {
                                let client = TestClient(host: "127.0.0.1", port: port)
                                client.connect()
                                clients[port] = client
                            }
                            // Through the victim, a request may fail once it is killed: it is retried below.
                            if let status = try? await Self.send(item, with: clients[port]!) {
                                #expect(status == .ok || port == ports[2], "\(status)")
                            } else {
                                clients[port] = nil
                            }
                        }
                        return (sent, [])
                    }
                }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(300))
                    kill(victim.processIdentifier, SIGKILL)
                    return ([], [])
                }
                group.addTask {
                    // The follower, through the first instance: every page continues the last without a gap.
                    let followed = try await TestClient.withClient(host: "127.0.0.1", port: ports[0]) { client in
                        var followed: [(sequence: Int64, id: String)] = []
                        var after: Int64 = 0
                        var quiet = 0
                        while quiet < 3 {
                            let response = try await client.get("/transactions?after=\(after)&limit=50&wait=1")
                            let page = try JSONDecoder().decode(FeedBody.self, from: Data(buffer: response.body!))
                            for (offset, entry) in page.transactions.enumerated() {
                                #expect(entry.sequence == after + 1 + Int64(offset), "a gap or a repeat in the feed")
                                followed.append((entry.sequence, entry.transaction_id))
                            }
                            quiet = page.transactions.isEmpty ? quiet + 1 : 0
                            after = page.next_after
                        }
                        return followed
                    }
                    return ([], followed)
                }
                var sent: [Sent] = []
                var followed: [(sequence: Int64, id: String)] = []
                for try await result in group {
                    sent += result.sent
                    followed += result.followed
                }
                return (sent, followed)
            }
            #expect(!victim.isRunning)

            // Everything again, through the survivors: each is applied once (a replay when it was already).
            try await TestClient.withClient(host: "127.0.0.1", port: ports[1]) { client in
                for item in sent { #expect(try await Self.send(item, with: client) == .ok) }
                var total: Int64 = 0
                for account in accounts {
                    let response = try await client.get("/balance/\(account)")
                    total += try JSONDecoder().decode(BalanceBody.self, from: Data(buffer: response.body!)).balance
                }
                #expect(total == sent.reduce(0) { $0 + $1.total })
            }
            let ids = sent.flatMap(\.ids)
            // The follower saw only acknowledged or committed transactions, each once; the check finds each sent
            // id once and every balance equal to its history.
            #expect(Set(followed.map(\.id)).count == followed.count)
            #expect(Set(followed.map(\.id)).isSubset(of: Set(ids)))
            let report = try await ConsistencyCheck.run(database: url)
            #expect(report.isConsistent, "\(report.discrepancies) \(report.integrityErrors) \(report.historyErrors)")
            #expect(report.transactions == ids.count)
        }
    }

    /// 64 clients debit one account (minimum 0) through three instances on one database: the limit holds across
    /// instances, since every commit decides on the account as the head lock leaves it.
    @Test func debitsThroughThreeInstancesNeverTakeAnAccountBelowItsMinimum() async throws {
        try await withTemporaryStore(.postgres) { url in
            try await Self.withThreeInstances(on: url) { ports in
                let account = newID()
                try await TestClient.withClient(host: "127.0.0.1", port: ports[0]) { client in
                    let settings = try await client.put(
                        "/accounts/\(account)", headers: Self.headers(nil),
                        body: ByteBuffer(string: #"{"minimum_balance":0}"#))
                    #expect(settings.status == .created)
                    let credit = Sent(
                        body: #"{"account_id":"\#(account)","amount":1000}"#, path: "/amount", transactionID: newID(),
                        ids: [], total: 1000)
                    #expect(try await Self.send(credit, with: client) == .ok)
                }
                let accepted = try await withThrowingTaskGroup(of: Int64.self) { group in
                    for poster in 0..<64 {
                        group.addTask {
                            try await TestClient.withClient(host: "127.0.0.1", port: ports[poster % 3]) { client in
                                var accepted: Int64 = 0
                                for step in 0..<8 {
                                    let amount = Int64((poster + step) % 37 + 1)
                                    let debit = Sent(
                                        body: #"{"account_id":"\#(account)","amount":\#(-amount)}"#, path: "/amount",
                                        transactionID: newID(), ids: [], total: -amount)
                                    let status = try await Self.send(debit, with: client)
                                    #expect(status == .ok || status == .unprocessableContent, "\(status)")
                                    if status == .ok { accepted += amount }
                                }
                                return accepted
                            }
                        }
                    }
                    return try await group.reduce(0, +)
                }
                try await TestClient.withClient(host: "127.0.0.1", port: ports[1]) { client in
                    let response = try await client.get("/balance/\(account)")
                    let balance = try JSONDecoder().decode(BalanceBody.self, from: Data(buffer: response.body!)).balance
                    #expect(balance >= 0)
                    #expect(balance == 1000 - accepted)
                    #expect(accepted > 0)
                }
                let report = try await ConsistencyCheck.run(postgresURL: url)
                #expect(report.isConsistent, "\(report)")
            }
        }
    }

    /// Three instances on one database, each running the hold expiry: 300 holds that expire together are each
    /// voided exactly once (one record per hold, with the id derived from it), and a post and a void of one hold
    /// sent through two instances at once resolve it once.
    @Test func threeInstancesVoidEachExpiredHoldOnceAndResolveEachHoldOnce() async throws {
        try await withTemporaryStore(.postgres) { url in
            try await Self.withThreeInstances(on: url) { ports in
                let account = newID()
                let expiring = (0..<300).map { _ in newID() }
                let racing = (0..<20).map { _ in newID() }
                try await TestClient.withClient(host: "127.0.0.1", port: ports[0]) { client in
                    for (holds, timeout) in [(expiring, 1), (racing, 3600)] {
                        let items = holds.map { #"{"transaction_id":"\#($0)","account_id":"\#(account)","amount":-2}"# }
                        let body =
                            #"{"pending":true,"timeout":\#(timeout),"transactions":[\#(items.joined(separator: ","))]}"#
                        let response = try await client.post(
                            "/transactions", headers: Self.headers(nil), body: ByteBuffer(string: body))
                        #expect(response.status == .ok)
                    }
                }
                let outcomes = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                    for (index, hold) in racing.enumerated() {
                        for (offset, action) in ["post", "void"].enumerated() {
                            group.addTask {
                                try await TestClient.withClient(host: "127.0.0.1", port: ports[(index + offset) % 3]) {
                                    client in
                                    let body =
                                        #"{"transactions":[{"transaction_id":"\#(newID())","pending_id":"\#(hold)","action":"\#(action)"}]}"#
                                    return try await client.post(
                                        "/transactions", headers: Self.headers(nil), body: ByteBuffer(string: body)
                                    ).status
                                }
                            }
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(outcomes.filter { $0 == .ok }.count == racing.count)
                #expect(outcomes.filter { $0 == .unprocessableContent }.count == racing.count)
                // Every expiring hold voided once, by whichever instance got there first.
                let voids = try await TestClient.withClient(host: "127.0.0.1", port: ports[1]) { client in
                    var voids: [RecordBody] = []
                    for _ in 0..<100 {
                        try await Task.sleep(for: .milliseconds(200))
                        let response = try await client.get("/transactions?after=0&limit=1000")
                        let feed = try JSONDecoder().decode(FeedBody.self, from: Data(buffer: response.body!))
                        voids = feed.transactions.filter { $0.reason == "expired" }
                        if voids.count >= expiring.count { break }
                    }
                    try await Task.sleep(for: .seconds(1))  // time for a second void, were there one
                    let response = try await client.get("/transactions?after=0&limit=1000")
                    return try JSONDecoder().decode(FeedBody.self, from: Data(buffer: response.body!)).transactions
                        .filter { $0.reason == "expired" }
                }
                #expect(voids.count == expiring.count)
                #expect(Set(voids.compactMap(\.pending_id)) == Set(expiring))
                #expect(
                    Set(voids.map(\.transaction_id))
                        == Set(
                            expiring.map { Resolution.expiry(of: TransactionID(UUID(uuidString: $0)!)).id.description })
                )
                let report = try await ConsistencyCheck.run(postgresURL: url)
                #expect(report.isConsistent, "\(report)")
            }
        }
    }
}

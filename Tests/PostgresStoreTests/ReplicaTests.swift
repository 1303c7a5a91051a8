import AccountServiceApp
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import PostgresNIO
import Synchronization
import TestSupport
import Testing

@testable import AccountLedger
@testable import PostgresStore

/// Read replicas (`--replica`): real streaming standbys made with `pg_basebackup -R` from the tests' throw-away
/// primaries. The reads that may lag are served by a standby in use, the others by the primary; the feed read on a
/// standby stays gap-safe while three instances write; a standby that stops, or falls further behind than
/// `--replica-max-lag`, is skipped without a request failing, and read again once it is back.
@Suite(.timeLimit(.minutes(3)), .enabled(if: StoreKind.withReplica.contains(.postgresReplica)))
struct ReplicaTests {
    /// The value of the metric line that starts with `series` (a name and its labels), nil when there is none.
    static func metric(_ series: String, in text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    /// The replica's series of `name`, as the instance on `client` reports it.
    static func replicaMetric(
        _ name: String, outcome: String? = nil, replica: String, client: some TestClientProtocol
    ) async throws -> Double {
        let text = String(buffer: try await client.get("/metrics").body)
        let label = URLComponents(string: replica).map { "\($0.host!):\($0.port!)\($0.path)" }!
        let series = "\(name){replica=\"\(label)\"" + (outcome.map { ",outcome=\"\($0)\"" } ?? "") + "}"
        return try #require(metric(series, in: text), "no \(series) in \(text)")
    }

    /// Waits, up to 20 s, until the instance reports the replica in use (`true`) or not.
    static func waitUntilReplica(
        inUse: Bool, _ replica: String, client: some TestClientProtocol,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        for _ in 0..<200 {
            if try await replicaMetric("ledger_replica_in_use", replica: replica, client: client) == (inUse ? 1 : 0) {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("the replica never became \(inUse ? "in use" : "unused")", sourceLocation: sourceLocation)
    }

    @Test func readsThatMayLagAreServedByTheReplicaAndTheOthersByThePrimary() async throws {
        try await withTemporaryStore(.postgresReplica) { url in
            let replica = try #require(try await replicas(of: .postgresReplica, at: url).first)
            try await buildApplication(TestArguments(database: url, replicas: [replica])).test(.router) { client in
                try await Self.waitUntilReplica(inUse: true, replica, client: client)
                let account = newID()
                let id = newID()
                _ = try await client.postAmount(transactionID: id, accountID: account, amount: 5)
                _ = try await client.postAmount(transactionID: newID(), accountID: account, amount: 7)
                func served() async throws -> Double {
                    try await Self.replicaMetric(
                        "ledger_replica_reads_total", outcome: "served", replica: replica, client: client)
                }
                // Every commit is applied by the standby before it is acknowledged (remote_apply), so the
                // replica's answers hold the writes: they are checked, and counted as the replica's.
                var count = try await served()
                let lagging: [(String, (TestResponse) throws -> Bool)] = [
                    (
                        "/accounts/\(account)/transactions",
                        { try $0.decode(StatementBody.self).transactions.count == 2 }
                    ),
                    ("/transactions?after=0", { try $0.decode(FeedBody.self).transactions.count == 2 }),
                    ("/balance/\(account)?at=2999-01-01T00:00:00Z", { try $0.decode(BalanceBody.self).balance == 12 }),
                    ("/accounts?limit=10", { try $0.decode(AccountListBody.self).accounts.count == 1 }),
                    ("/max_transaction_volume", { try $0.decode(VolumeBody.self).maxVolume == 2 }),
                ]
                for (path, holds) in lagging {
                    // A replica that answers its monitor or a read later than 0.5 s (a loaded machine) is skipped
                    // until its next look, and the read is the primary's: each read is tried again, up to three
                    // times, once the replica is in use again; one of them must be the replica's.
                    var fromReplica = false
                    for _ in 0..<3 where !fromReplica {
                        try await Self.waitUntilReplica(inUse: true, replica, client: client)
                        let response = try await client.get(path)
                        let held = try holds(response)
                        #expect(response.status == .ok && held, "\(path)")
                        let now = try await served()
                        fromReplica = now == count + 1
                        count = now
                    }
                    #expect(fromReplica, "\(path) is read from the replica")
                }
                for path in ["/balance/\(account)", "/transaction/\(id)", "/accounts/\(account)", "/ready"] {
                    #expect(try await client.get(path).status == .ok)
                    #expect(try await served() == count, "\(path) is read from the primary")
                }
            }
        }
    }

    /// Gap-safe on a standby that lags: a follower reading through an instance with `--replica` (asynchronous:
    /// commits do not wait for the standby) while three instances write sees every acknowledged transaction once,
    /// each page continuing the last, never a sequence at or below one it has seen.
    @Test func aFollowerOnTheReplicaSeesEveryTransactionOnceWhileThreeInstancesWrite() async throws {
        try await withTemporaryStore(.postgres) { url in
            let replica = try await TestPostgres.sharedStandby.url(of: url)
            try await PostgresDatabase.probe(url: replica, patience: .seconds(30))
            let follower = try await buildApplication(TestArguments(database: url, replicas: [replica]))
            try await follower.test(.ahc()) { followerClient in
                try await MultiInstanceTests.withThreeInstances(on: url) { ports in
                    let (posters, steps) = (9, 30)
                    let (written, followed) = try await withThrowingTaskGroup(
                        of: (written: [String], followed: [String]).self
                    ) { group in
                        for poster in 0..<posters {
                            group.addTask {
                                try await TestClient.withClient(host: "127.0.0.1", port: ports[poster % 3]) { client in
                                    var written: [String] = []
                                    for _ in 0..<steps {
                                        let id = newID()
                                        let response = try await client.post(
                                            "/amount", headers: MultiInstanceTests.headers(id),
                                            body: ByteBuffer(string: #"{"account_id":"\#(newID())","amount":1}"#))
                                        #expect(response.status == .ok)
                                        written.append(id)
                                    }
                                    return (written, [])
                                }
                            }
                        }
                        group.addTask {
                            // Late, so that the standby has a history to serve.
                            try await Task.sleep(for: .milliseconds(500))
                            var followed: [String] = []
                            var after: Int64 = 0
                            while followed.count < posters * steps {
                                let page = try await followerClient.get("/transactions?after=\(after)&limit=50&wait=2")
                                    .decode(FeedBody.self)
                                for (offset, entry) in page.transactions.enumerated() {
                                    #expect(entry.sequence == after + 1 + Int64(offset), "a gap or a repeat")
                                }
                                followed += page.transactions.map(\.transaction_id)
                                after = page.next_after
                            }
                            return ([], followed)
                        }
                        return try await group.reduce(into: ([String](), [String]())) {
                            $0.0 += $1.written
                            $0.1 += $1.followed
                        }
                    }
                    #expect(written.count == posters * steps)
                    #expect(followed.count == written.count && Set(followed) == Set(written))
                    let served = try await Self.replicaMetric(
                        "ledger_replica_reads_total", outcome: "served", replica: replica, client: followerClient)
                    #expect(served > 0, "the follower read from the replica")
                }
            }
        }
    }

    /// A primary and a standby of this test's own, with an instance reading from it (`--replica-max-lag 2`) under
    /// writers and readers: the standby stopped mid-load fails no read, and is read again once it is back; its
    /// replay paused, it falls behind, is skipped (reads hold the newest writes), and is read again once resumed.
    @Test func aStandbyThatStopsOrFallsBehindIsSkippedWithoutAFailedRead() async throws {
        let primary = TestPostgres(shared: false)
        let standby = TestPostgres(standbyOf: primary)
        let url = try await primary.createDatabase()
        let replica = try await standby.url(of: url)
        try await PostgresDatabase.probe(url: replica, patience: .seconds(30))
        let app = try await buildApplication(
            TestArguments(database: url, replicas: [replica], replicaMaximumLag: .seconds(2)))
        try await app.test(.ahc()) { client in
            try await Self.waitUntilReplica(inUse: true, replica, client: client)
            let accounts = (0..<8).map { _ in newID() }
            for account in accounts {
                #expect(
                    try await client.postAmount(transactionID: newID(), accountID: account, amount: 1).status == .ok)
            }
            let stop = StopFlag()
            let failures = try await withThrowingTaskGroup(of: [String].self) { group in
                for worker in 0..<4 {
                    group.addTask {
                        var failures: [String] = []
                        var step = 0
                        while !stop.value.load(ordering: .relaxed) {
                            let account = accounts[(worker + step) % accounts.count]
                            let paths = [
                                "/accounts/\(account)/transactions?limit=5", "/transactions?after=\(step)&limit=5",
                                "/accounts?limit=5", "/max_transaction_volume",
                            ]
                            let post = try await client.postAmount(
                                transactionID: newID(), accountID: account, amount: 1)
                            if post.status != .ok { failures.append("POST /amount: \(post.status)") }
                            let path = paths[step % paths.count]
                            let read = try await client.get(path)
                            if read.status != .ok { failures.append("\(path): \(read.status)") }
                            step += 1
                        }
                        return failures
                    }
                }
                group.addTask {
                    defer { stop.value.store(true, ordering: .relaxed) }
                    try await Task.sleep(for: .seconds(1))
                    try await standby.stop()
                    try await Self.waitUntilReplica(inUse: false, replica, client: client)
                    try await Task.sleep(for: .seconds(1))
                    try await standby.start()
                    try await Self.waitUntilReplica(inUse: true, replica, client: client)
                    return []
                }
                return try await group.reduce(into: [String]()) { $0 += $1 }
            }
            #expect(failures.isEmpty, "\(failures.prefix(5))")

            // Replay paused: the standby falls behind while commits go on, and is skipped past 2 s.
            try await PostgresDatabase.withClient(url: replica) { admin in
                _ = try await admin.query("SELECT pg_wal_replay_pause()")
            }
            // At once, while the replica is still in use (its lag below 2 s) and lacks the commit: a feed read
            // that it answers empty is made on the primary, which has it.
            let posted = try await client.postAmount(transactionID: newID(), accountID: newID(), amount: 1)
                .decode(RecordBody.self)
            let feed = try await client.get("/transactions?after=\(posted.sequence - 1)").decode(FeedBody.self)
            #expect(try await Self.replicaMetric("ledger_replica_in_use", replica: replica, client: client) == 1)
            #expect(feed.transactions.map(\.transaction_id) == [posted.transaction_id])
            let account = newID()
            for amount in 1...30 {
                _ = try await client.postAmount(transactionID: newID(), accountID: account, amount: Int64(amount))
                try await Task.sleep(for: .milliseconds(100))
            }
            try await Self.waitUntilReplica(inUse: false, replica, client: client)
            #expect(try await Self.replicaMetric("ledger_replica_lag_seconds", replica: replica, client: client) > 2)
            let statement = try await client.get("/accounts/\(account)/transactions?limit=1000")
            #expect(try statement.decode(StatementBody.self).transactions.count == 30, "the primary's answer")
            try await PostgresDatabase.withClient(url: replica) { admin in
                _ = try await admin.query("SELECT pg_wal_replay_resume()")
            }
            try await Self.waitUntilReplica(inUse: true, replica, client: client)
        }
    }
}

/// Tells the load's workers to stop.
final class StopFlag: Sendable {
    let value = Atomic(false)
}

/// How a replica's lag is bounded from the primary's WAL positions at the monitor's looks and the age of the
/// replica's last replayed commit (no server needed).
@Suite struct ReplicaLagTests {
    let now = ContinuousClock.now
    var looks: [(at: ContinuousClock.Instant, position: Int64)] {
        [(now - .seconds(3), 100), (now - .seconds(2), 200), (now - .seconds(1), 300)]
    }

    @Test func aReplicaThatHasReplayedTheLatestPositionHasNoLag() {
        // However old its last replayed commit: an idle primary does not make a caught-up standby look behind.
        #expect(PostgresReplicas.lag(replayed: 300, replayAge: 3600, looks: looks, now: now) == .zero)
        #expect(PostgresReplicas.lag(replayed: 350, replayAge: nil, looks: looks, now: now) == .zero)
    }

    @Test func behindItIsBoundedByTheLatestLookItHasReplayed() {
        #expect(PostgresReplicas.lag(replayed: 250, replayAge: nil, looks: looks, now: now) == .seconds(2))
        #expect(PostgresReplicas.lag(replayed: 100, replayAge: nil, looks: looks, now: now) == .seconds(3))
        // The age of its last replayed commit bounds it too: the smaller bound holds.
        #expect(PostgresReplicas.lag(replayed: 250, replayAge: 0.5, looks: looks, now: now) == .milliseconds(500))
        #expect(PostgresReplicas.lag(replayed: 250, replayAge: 9, looks: looks, now: now) == .seconds(2))
    }

    @Test func withNeitherBoundItIsUnknown() {
        // Behind every look kept, and no commit replayed since the standby started.
        #expect(PostgresReplicas.lag(replayed: 50, replayAge: nil, looks: looks, now: now) == nil)
        #expect(PostgresReplicas.lag(replayed: nil, replayAge: nil, looks: [], now: now) == nil)
        #expect(PostgresReplicas.lag(replayed: 50, replayAge: 7, looks: looks, now: now) == .seconds(7))
    }
}

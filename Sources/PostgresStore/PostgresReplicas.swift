import AccountLedger
import CoreMetrics
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// PostgreSQL streaming standbys (`--replica`) that serve the reads that may lag a little: statements, the change
/// feed, balances at an instant, account lists and the max volume (``PostgresLedgerStore``). Each read goes to the
/// next replica in use, round robin, and to the primary when none is; a read a replica fails is made again on the
/// primary, so no request fails because a replica did.
///
/// A replica is **in use** while it answers and is at most ``maximumLag`` behind the primary. A monitor looks
/// every ``interval``: it notes the primary's WAL position, then asks each replica whether it is a standby, how
/// far it has replayed and when the last transaction it replayed committed (`pg_last_xact_replay_timestamp()`).
/// A replica that has replayed the position the primary had at an earlier look holds everything committed
/// before that look; its lag is the smaller of the time since that look and the age of its last replayed commit
/// (0 when it has replayed the primary's latest position: an idle primary does not make a standby look behind).
/// A read that fails on a replica takes it out of use until the monitor finds it answering again.
///
/// The feed stays gap-safe: a standby replays commits in the primary's commit order, so every replica (and the
/// primary) holds a prefix of the same feed, and a read answers only sequences above its `after`. A feed read
/// that finds nothing on a replica while this instance knows of a later commit (its own, or one notified) is
/// made on the primary: a reader woken by a commit gets it without waiting for the replica.
public final class PostgresReplicas: Service, Sendable {
    /// Further behind than this, a replica is not read: `--replica-max-lag`.
    public static let defaultMaximumLag = Duration.seconds(5)
    /// How often the monitor looks at the replicas.
    static let interval = Duration.milliseconds(500)
    /// The longest a read waits for a replica before it is made on the primary: a replica that went away leaves
    /// its pool waiting to reconnect rather than failing, until the monitor's next look takes it out of use.
    static let readTimeout = Duration.milliseconds(500)
    /// The descriptors `replicas` replicas' pools may take (a pool's connections each), which the service keeps
    /// for itself beside its client connections.
    public static func descriptors(replicas: Int) -> Int { replicas * PostgresDatabase.poolConnections }

    final class Replica: Sendable {
        /// host:port/database, without credentials: for logs and metric labels.
        let name: String
        let client: PostgresClient
        let state = Mutex(State())
        let lag: Gauge
        let inUse: Gauge
        let served: Counter
        let failed: Counter

        struct State {
            var inUse = false
            /// Why it is not in use; "not yet looked at" until the monitor's first look.
            var reason: String? = "not yet looked at"
        }

        init(name: String, client: PostgresClient, metrics: any MetricsFactory) {
            self.name = name
            self.client = client
            lag = Gauge(label: "ledger_replica_lag_seconds", dimensions: [("replica", name)], factory: metrics)
            inUse = Gauge(label: "ledger_replica_in_use", dimensions: [("replica", name)], factory: metrics)
            served = Counter(
                label: "ledger_replica_reads_total", dimensions: [("replica", name), ("outcome", "served")],
                factory: metrics)
            failed = Counter(
                label: "ledger_replica_reads_total", dimensions: [("replica", name), ("outcome", "failed")],
                factory: metrics)
            inUse.record(0)
        }

        var isInUse: Bool { state.withLock { $0.inUse } }
    }

    let replicas: [Replica]
    let primary: PostgresClient
    public let maximumLag: Duration
    let logger: Logger
    private let turn = Atomic<Int>(0)
    /// The highest sequence this instance knows committed: its own commits and the ones notified.
    private let knownHead = Atomic<Int64>(0)
    /// The primary's WAL positions at the monitor's recent looks, oldest first.
    private let looks = Mutex<[(at: ContinuousClock.Instant, position: Int64)]>([])

    /// The replicas `urls` name (`postgres://` URLs, as the primary's), beside the primary's pool.
    public init(
        urls: [String], primary: PostgresClient, maximumLag: Duration = defaultMaximumLag,
        metrics: any MetricsFactory = NOOPMetricsHandler.instance, logger: Logger
    ) throws {
        self.primary = primary
        self.maximumLag = maximumLag
        self.logger = logger
        replicas = try urls.map { url in
            let target = try PostgresDatabase.Target(url: url)
            return Replica(
                name: target.name,
                client: PostgresClient(configuration: target.client, backgroundLogger: PostgresDatabase.quiet),
                metrics: metrics)
        }
    }

    /// Runs the replicas' pools and the monitor until the application stops.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for replica in self.replicas { group.addTask { await replica.client.run() } }
                group.addTask { await self.monitor() }
            }
        }
    }

    /// The next replica in use, round robin; nil when none is.
    func next() -> Replica? {
        let start = turn.wrappingAdd(1, ordering: .relaxed).oldValue
        for offset in 0..<replicas.count {
            let replica = replicas[Int((start &+ offset).magnitude % UInt(replicas.count))]
            if replica.isInUse { return replica }
        }
        return nil
    }

    /// A commit through `sequence` is known to have landed (this instance's, or another's notified).
    public func observe(committedThrough sequence: Int64) {
        _ = knownHead.max(sequence, ordering: .relaxed)
    }

    /// The highest sequence this instance knows committed.
    var head: Int64 { knownHead.load(ordering: .relaxed) }

    /// `replica` failed a read: out of use until the monitor finds it answering.
    func failed(_ replica: Replica, _ error: any Error) {
        replica.failed.increment()
        setState(of: replica, inUse: false, reason: PostgresLedgerStore.reason(for: error))
    }

    private func setState(of replica: Replica, inUse: Bool, reason: String?) {
        let was = replica.state.withLock { state in
            defer { state = Replica.State(inUse: inUse, reason: reason) }
            return state
        }
        replica.inUse.record(inUse ? 1 : 0)
        if inUse, !was.inUse {
            logger.notice("Reading from replica", metadata: ["replica": "\(replica.name)"])
        } else if !inUse, was.inUse || was.reason == Replica.State().reason, let reason {
            logger.warning(
                "Not reading from replica", metadata: ["replica": "\(replica.name)", "reason": "\(reason)"])
        }
    }

    /// Looks at every replica each ``interval`` until cancelled.
    private func monitor() async {
        while !Task.isCancelled {
            await look()
            try? await Task.sleep(for: Self.interval)
        }
    }

    /// One look: the primary's WAL position, then each replica's state.
    func look() async {
        let timeout = min(Self.interval * 2, maximumLag)
        let position = try? await PostgresLedgerStore.within(timeout) { [primary] in
            var position: Int64?
            for try await value in try await primary.query("SELECT (pg_current_wal_lsn() - '0/0')::int8").decode(
                Int64.self)
            {
                position = value
            }
            return position
        }
        if let position = position ?? nil {
            let kept = Int(maximumLag / Self.interval) + 4
            looks.withLock { looks in
                looks.append((ContinuousClock.now, position))
                if looks.count > kept { looks.removeFirst(looks.count - kept) }
            }
        }
        await withDiscardingTaskGroup { group in
            for replica in replicas {
                group.addTask { await self.look(at: replica, timeout: timeout) }
            }
        }
    }

    private func look(at replica: Replica, timeout: Duration) async {
        let answer: (standby: Bool, replayed: Int64?, replayAge: Double?)?
        do {
            answer = try await PostgresLedgerStore.within(timeout) {
                let rows = try await replica.client.query(
                    """
                    SELECT pg_is_in_recovery(), (pg_last_wal_replay_lsn() - '0/0')::int8,
                        extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8,
                        (SELECT last_sequence FROM ledger_head)
                    """
                ).decode((Bool, Int64?, Double?, Int64).self)
                // The head is read only to learn that the replica holds the ledger's schema.
                for try await (standby, replayed, replayAge, _) in rows { return (standby, replayed, replayAge) }
                return nil
            }
        } catch {
            setState(of: replica, inUse: false, reason: PostgresLedgerStore.reason(for: error))
            return
        }
        guard let answer, answer.standby else {
            setState(of: replica, inUse: false, reason: "not a standby (pg_is_in_recovery() is false)")
            return
        }
        guard let lag = lag(replayed: answer.replayed, replayAge: answer.replayAge) else {
            replica.lag.record(-1)
            setState(of: replica, inUse: false, reason: "its lag is not known yet")
            return
        }
        replica.lag.record(Double(lag.nanoseconds) / 1e9)
        if lag <= maximumLag {
            setState(of: replica, inUse: true, reason: nil)
        } else {
            setState(
                of: replica, inUse: false,
                reason:
                    "\(lag.components.seconds) s behind, more than --replica-max-lag \(maximumLag.components.seconds) s"
            )
        }
    }

    /// A replica's lag from what it has replayed (a WAL position) and the age of its last replayed commit, with
    /// the primary's recent positions; nil when neither tells.
    func lag(replayed: Int64?, replayAge: Double?, now: ContinuousClock.Instant = .now) -> Duration? {
        Self.lag(replayed: replayed, replayAge: replayAge, looks: looks.withLock { $0 }, now: now)
    }

    /// The lag of a replica that has replayed up to `replayed` and whose last replayed commit is `replayAge`
    /// seconds old, given the primary's positions at earlier `looks` (oldest first): 0 once it has replayed the
    /// latest; otherwise at most the time since the latest look whose position it has replayed, and at most the
    /// age of its last replayed commit. Nil when neither tells.
    static func lag(
        replayed: Int64?, replayAge: Double?, looks: [(at: ContinuousClock.Instant, position: Int64)],
        now: ContinuousClock.Instant
    ) -> Duration? {
        var bound: Duration?
        if let replayed {
            if let latest = looks.last, replayed >= latest.position { return .zero }
            if let reached = looks.last(where: { $0.position <= replayed }) { bound = now - reached.at }
        }
        if let replayAge {
            let age = Duration.nanoseconds(Int64(max(0, replayAge) * 1e9))
            bound = bound.map { min($0, age) } ?? age
        }
        return bound
    }
}

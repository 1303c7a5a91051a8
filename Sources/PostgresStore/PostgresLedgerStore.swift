import AccountLedger
import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

/// The ledger's state in PostgreSQL, shared by any number of service instances.
///
/// **Commits** are serialized across instances by one row, `ledger_head`, which holds the last sequence: a
/// commit's write updates it on the condition that it still holds the sequence the commit's snapshot read, and
/// every other change of the write joins that update, so a commit writes only on the snapshot it decided on, and
/// the head's row lock, held until the commit is visible, keeps the next commit from becoming visible first: the
/// feed never skips (the gap-safety rule of ``LedgerStore``). A commit is two round trips whatever its size: one
/// statement reads the snapshot (`= ANY(array)` index probes), one writes everything (`unnest` of arrays); each
/// commits on its own. When the head moved in between (another instance committed), the commit is made again
/// inside a transaction that locks the head first (`SELECT … FOR UPDATE`); one lock taken first by everyone
/// cannot deadlock, and the account updates still apply only if each balance is the one the snapshot held.
///
/// **Faults**: an operation that cannot reach the database within ``operationTimeout`` throws
/// ``StoreUnavailableError``; the client reconnects by itself when the database returns.
public struct PostgresLedgerStore: LedgerStore {
    /// The channel a commit notifies, so that every instance's waiting feed readers wake (``PostgresCommitListener``).
    static let commitChannel = "ledger_commits"
    /// The longest a request waits for the database before it is answered 503, unless told otherwise
    /// (`--database-timeout`).
    public static let defaultOperationTimeout = Duration.seconds(5)
    /// The longest a request waits for the database before it is answered 503.
    public let operationTimeout: Duration

    /// Each operation has ``operationTimeout``; a request, queued behind others, has it too, end to end.
    public var deadline: Duration? { operationTimeout }

    let client: PostgresClient
    let logger: Logger
    /// GET /balance and GET /transaction/{id}: lookups that arrive together share one query (``ReadBatcher``).
    let balances: ReadBatcher<UUID, Int64>
    let transactions: ReadBatcher<UUID, LedgerEntry>
    /// GET /accounts/{id}, as GET /balance.
    let accounts: ReadBatcher<UUID, Account>
    /// The streaming standbys that serve the reads that may lag (``PostgresReplicas``); nil: every read is the
    /// primary's.
    let replicas: PostgresReplicas?
    /// How many queries each of them may have under way at once: 2 served the most GET /balance requests
    /// (docs/performance.md, "Why the code is shaped so").
    static let lookupConcurrency = 2

    public init(
        client: PostgresClient, replicas: PostgresReplicas? = nil, logger: Logger,
        operationTimeout: Duration = Self.defaultOperationTimeout
    ) {
        self.client = client
        self.replicas = replicas
        self.logger = logger
        self.operationTimeout = operationTimeout
        balances = ReadBatcher(concurrency: Self.lookupConcurrency) { ids in
            try await Self.within(operationTimeout) {
                var balances: [UUID: Int64] = [:]
                for try await (id, balance) in try await client.execute(BalancesByID(ids: ids)) {
                    balances[id] = balance
                }
                return balances
            }
        }
        accounts = ReadBatcher(concurrency: Self.lookupConcurrency) { ids in
            try await Self.within(operationTimeout) {
                var accounts: [UUID: Account] = [:]
                for try await account in try await client.execute(AccountsByID(ids: ids)) {
                    accounts[account.id.uuid] = account
                }
                return accounts
            }
        }
        transactions = ReadBatcher(concurrency: Self.lookupConcurrency) { ids in
            try await Self.within(operationTimeout) {
                var entries: [UUID: LedgerEntry] = [:]
                for try await entry in try await client.execute(TransactionsByID(ids: ids)) {
                    entries[entry.transaction.id.uuid] = entry
                }
                return entries
            }
        }
    }

    /// A commit is first tried optimistically, in two round trips and two statements that each commit on
    /// their own: the snapshot, then the write on the condition that the head has not moved (``SQL/write``).
    /// One instance's commits never move the head under each other (the ledger commits one at a time), so that
    /// is the usual case. When another instance committed in between, or a Transaction-Id was recorded by
    /// another writer (a unique violation), it is tried again under the head lock, which cannot fail so.
    public func commit(
        _ keys: CommitKeys, decide: @escaping @Sendable (LedgerSnapshot) -> CommitPlan
    ) async throws -> CommitPlan {
        let plan = try await available {
            try await client.withConnection { connection in
                do {
                    let (snapshot, configured) = try await snapshot(of: keys, on: connection)
                    let plan = decide(snapshot)
                    if try await write(plan, configured: configured, on: connection) { return plan }
                } catch let error where Self.sqlState(of: error) == "23505" {  // unique_violation
                }
                return try await commitLocked(keys, decide: decide, on: connection)
            }
        }
        if let last = plan.created.last { replicas?.observe(committedThrough: last.sequence) }
        return plan
    }

    /// Another instance committed through `sequence` (its notification): a feed read that a replica answers
    /// empty below it is made on the primary.
    public func commitLandedElsewhere(through sequence: Int64) {
        replicas?.observe(committedThrough: sequence)
    }

    /// A commit under the head lock: BEGIN, the lock, the snapshot, the write, COMMIT. Every commit that writes
    /// waits for the lock (or, optimistic, fails on the head it changes), so nothing changes the snapshot.
    private func commitLocked(
        _ keys: CommitKeys, decide: @escaping @Sendable (LedgerSnapshot) -> CommitPlan,
        on connection: PostgresConnection
    ) async throws -> CommitPlan {
        _ = try await connection.query("BEGIN", logger: logger)
        do {
            _ = try await connection.query(PostgresQuery(unsafeSQL: SQL.lockHead), logger: logger)
            let (snapshot, configured) = try await snapshot(of: keys, on: connection)
            let plan = decide(snapshot)
            guard try await write(plan, configured: configured, on: connection) else {
                throw ConcurrentModificationError()
            }
            _ = try await connection.query("COMMIT", logger: logger)
            return plan
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }

    /// Configurations under the head lock, as a commit of their own: BEGIN, the lock, the accounts, the rules'
    /// decisions, the writes and the head's count of configurations (so that an optimistic commit whose snapshot
    /// read an account before them writes nothing and is made again under the lock), COMMIT.
    public func configure(
        _ accounts: [AccountID],
        decide: @escaping @Sendable ([AccountID: Account]) -> [Result<ConfigurationPlan, LedgerError>]
    ) async throws -> [Result<ConfigurationPlan, LedgerError>] {
        try await available { [logger] in
            try await client.withConnection { connection in
                _ = try await connection.query("BEGIN", logger: logger)
                do {
                    _ = try await connection.query(PostgresQuery(unsafeSQL: SQL.lockHead), logger: logger)
                    var existing: [AccountID: Account] = [:]
                    for try await account in try await connection.execute(
                        AccountsByID(ids: accounts.map(\.uuid)), logger: logger)
                    {
                        existing[account.id] = account
                    }
                    let decisions = decide(existing)
                    let plans = decisions.compactMap { try? $0.get() }.filter { $0.settings != nil }
                    if !plans.isEmpty {
                        try await write(plans, on: connection)
                        _ = try await connection.query(PostgresQuery(unsafeSQL: SQL.countConfiguration), logger: logger)
                    }
                    _ = try await connection.query("COMMIT", logger: logger)
                    return decisions
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    throw error
                }
            }
        }
    }

    /// Writes the settings of `plans` (in order; an account configured twice ends with its last) in two
    /// statements whatever their number: the accounts' rows (``SQL/upsertSettings``), then the members that left
    /// and entered account_metadata (``SQL/replaceMembers``), each account's from its state before the first plan
    /// to its last, so that no row is deleted and inserted by one statement.
    private func write(_ plans: [ConfigurationPlan], on connection: PostgresConnection) async throws {
        var order: [AccountID] = []
        var first: [AccountID: Account?] = [:]
        var last: [AccountID: ConfigurationPlan] = [:]
        for plan in plans {
            let id = plan.account.id
            if first[id] == nil {
                order.append(id)
                first[id] = .some(plan.previous)
            }
            last[id] = plan
        }
        let finals = order.map { last[$0]! }
        let rules = finals.map { $0.settings!.rules }
        var upsert = PostgresBindings(capacity: 8)
        upsert.append(finals.map(\.account.id.uuid))
        upsert.append(finals.map(\.account.createdAt.millisecondsSince1970))
        upsert.append(rules.map { $0.currency ?? "" })  // '' is none: nullif
        upsert.append(rules.map { $0.minimumBalance != nil })
        upsert.append(rules.map { $0.minimumBalance ?? 0 })
        upsert.append(rules.map { $0.maximumBalance != nil })
        upsert.append(rules.map { $0.maximumBalance ?? 0 })
        upsert.append(finals.map { $0.settings!.metadata.canonicalJSON ?? "" })
        _ = try await connection.query(PostgresQuery(unsafeSQL: SQL.upsertSettings, binds: upsert), logger: logger)
        var gone: [(account: UUID, member: Metadata.Member)] = []
        var added: [(account: UUID, member: Metadata.Member)] = []
        for plan in finals {
            let id = plan.account.id
            let old = Set((first[id]!?.metadata ?? .empty).members)
            let new = Set(plan.settings!.metadata.members)
            gone += old.subtracting(new).map { (id.uuid, $0) }
            added += new.subtracting(old).map { (id.uuid, $0) }
        }
        guard !gone.isEmpty || !added.isEmpty else { return }
        let members = Self.binds(
            gone.map(\.account), gone.map(\.member.key), gone.map(\.member.value), added.map(\.account),
            added.map(\.member.key), added.map(\.member.value))
        _ = try await connection.query(PostgresQuery(unsafeSQL: SQL.replaceMembers, binds: members), logger: logger)
    }

    /// What the rules need, read in one statement (``SQL/snapshot``), and how many configurations had committed.
    private func snapshot(
        of keys: CommitKeys, on connection: PostgresConnection
    ) async throws -> (LedgerSnapshot, configured: Int64) {
        var snapshot = LedgerSnapshot()
        var configured: Int64 = 0
        var holds: [TransactionID: LedgerEntry] = [:]
        var resolutions: [TransactionID: LedgerEntry] = [:]
        let statement = Snapshot(
            ids: keys.ids.map(\.uuid), accounts: Array(Set(keys.accounts.map(\.uuid))),
            holds: Array(Set(keys.holds.map(\.uuid))))
        for try await row in try await connection.execute(statement, logger: logger) {
            switch (row.0, row.3, row.4, row.5, row.6) {
            case (0, _, _, let count?, _):
                snapshot.lastSequence = row.1
                snapshot.lastCreatedAt = row.2.map(Timestamp.init(millisecondsSince1970:))
                configured = count
            case (1, let id?, let account?, let amount?, let balanceAfter?),
                (3, let id?, let account?, let amount?, let balanceAfter?),
                (4, let id?, let account?, let amount?, let balanceAfter?):
                let entry = Self.entry(
                    sequence: row.1, id: id, account: account, amount: amount, createdAt: row.2 ?? 0,
                    balanceAfter: balanceAfter, metadata: row.7, kind: row.8, pending: row.10, expiresAt: row.9)
                switch row.0 {
                case 1: snapshot.recorded[entry.transaction.id] = entry
                case 3: holds[entry.transaction.id] = entry
                default: if let hold = entry.transaction.role.hold { resolutions[hold] = entry }
                }
            case (2, let id?, _, let pendingDebits?, let pendingCredits?):
                snapshot.accounts[AccountID(id)] = AccountState(
                    balance: row.1, pendingDebits: pendingDebits, pendingCredits: pendingCredits,
                    rules: AccountRules(currency: row.7, minimumBalance: row.8, maximumBalance: row.9),
                    transactionCount: row.2 ?? 0)
            default:
                throw UnexpectedSnapshotRow(kind: row.0)
            }
        }
        for (id, entry) in holds { snapshot.holds[id] = Hold(entry: entry, resolution: resolutions[id]) }
        return (snapshot, configured)
    }

    /// The commit's two statements, prepared once per connection (with generic plans, see
    /// ``PostgresDatabase``): a commit is then two round trips of Bind and Execute, without a parse or a plan.
    struct Snapshot: PostgresPreparedStatement {
        static let sql = SQL.snapshot
        typealias Row = (Int32, Int64, Int64?, UUID?, UUID?, Int64?, Int64?, String?, Int64?, Int64?, UUID?)
        let ids: [UUID]
        let accounts: [UUID]
        let holds: [UUID]

        func makeBindings() throws -> PostgresBindings { PostgresLedgerStore.binds(ids, accounts, holds) }
        func decodeRow(_ row: PostgresRow) throws -> Row {
            var columns = RowReader(row)
            return (
                try columns.int32(), try columns.int64(), try columns.int64OrNil(), try columns.uuidOrNil(),
                try columns.uuidOrNil(), try columns.int64OrNil(), try columns.int64OrNil(), try columns.stringOrNil(),
                try columns.int64OrNil(), try columns.int64OrNil(), try columns.uuidOrNil()
            )
        }
    }

    struct UnexpectedSnapshotRow: Error, CustomStringConvertible {
        let kind: Int32
        var description: String { "the commit's snapshot returned a row of kind \(kind) with missing columns" }
    }

    /// Writes the plan's changes if the head still holds the snapshot's last sequence and count of
    /// configurations; false, writing nothing, if it moved. A plan that creates nothing writes nothing.
    private func write(_ plan: CommitPlan, configured: Int64, on connection: PostgresConnection) async throws -> Bool {
        guard !plan.created.isEmpty else { return true }
        do {
            var rows = try await connection.execute(Write(plan: plan, configured: configured), logger: logger)
                .makeAsyncIterator()
            return try await rows.next() != nil
        } catch let error where Self.sqlState(of: error) == "22012" {
            // The write statement's own refusal: fewer accounts updated than planned, or a transaction whose
            // account it neither inserts nor updates (``SQL/write``).
            throw ConcurrentModificationError()
        }
    }

    /// ``SQL/write`` of a plan that creates transactions: one row when written, none when the head moved.
    struct Write: PostgresPreparedStatement {
        static let sql = SQL.write
        typealias Row = Void
        let plan: CommitPlan
        let configured: Int64

        func makeBindings() throws -> PostgresBindings {
            let new = plan.accounts.filter { $0.previousBalance == nil }
            let updated = plan.accounts.filter { $0.previousBalance != nil }
            let (first, last) = (plan.created[0], plan.created[plan.created.count - 1])
            var binds = PostgresBindings(capacity: 28)
            binds.append(new.map(\.account.uuid))
            binds.append(new.map(\.balance))
            binds.append(new.map(\.addedTransactions))
            binds.append(updated.map(\.account.uuid))
            binds.append(updated.map(\.balance))
            binds.append(updated.map(\.addedTransactions))
            binds.append(updated.map { $0.previousBalance! })
            binds.append(plan.created.map(\.sequence))
            binds.append(plan.created.map(\.transaction.id.uuid))
            binds.append(plan.created.map(\.transaction.accountID.uuid))
            binds.append(plan.created.map(\.transaction.amount))
            binds.append(plan.created.map(\.createdAt.millisecondsSince1970))
            binds.append(plan.created.map(\.balanceAfter))
            binds.append(last.sequence)
            binds.append(last.createdAt.millisecondsSince1970)
            binds.append(Int64(updated.count))
            binds.append(first.sequence - 1)  // the snapshot's last sequence: the created ones follow it
            binds.append(plan.created.map { $0.transaction.metadata.canonicalJSON ?? "" })  // '' is none: nullif
            binds.append(configured)
            binds.append(new.map(\.pendingDebits))  // $20
            binds.append(new.map(\.pendingCredits))
            binds.append(updated.map(\.pendingDebits))
            binds.append(updated.map(\.pendingCredits))
            let roles = plan.created.map(\.transaction.role)
            binds.append(roles.map { Int16($0.code ?? 0) })  // $24; 0 is none: nullif
            binds.append(roles.map { $0.hold?.uuid ?? UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)) })
            binds.append(roles.map { $0.expiresAt?.millisecondsSince1970 ?? 0 })  // 0 is none (a hold's is later)
            let expiring = plan.resolutions.filter { $0.expiresAt != nil }
            binds.append(expiring.map { $0.expiresAt!.millisecondsSince1970 })  // $27
            binds.append(expiring.map(\.hold.uuid))
            return binds
        }
        func decodeRow(_ row: PostgresRow) throws {}
    }

    /// A commit's plan did not match the database: an account's balance was not the one its snapshot held, or a
    /// transaction's account would not exist. Never expected (every write is conditioned on the head its snapshot
    /// read, and the rules change every account they post to); nothing of the commit was written.
    struct ConcurrentModificationError: Error, CustomStringConvertible {
        var description: String {
            "a commit's plan did not match the database (a balance changed under it, or an account was missing); "
                + "nothing was written"
        }
    }

}

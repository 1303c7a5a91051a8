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
    /// The longest a request waits for the database before it is answered 503.
    public static let operationTimeout = Duration.seconds(5)

    /// Each operation has ``operationTimeout``; a request, queued behind others, has it too, end to end.
    public var deadline: Duration? { Self.operationTimeout }

    enum SQL {
        static let columns = "sequence, id, account_id, amount, created_at, balance_after"
        static let lockHead = "SELECT last_sequence FROM ledger_head FOR UPDATE"
        /// What the rules need, in one statement so that it is one snapshot: the head (kind 0: last sequence and
        /// commit time), the postings' recorded transactions (kind 1, ``columns``) and their accounts' balances
        /// (kind 2: balance, id), each an `= ANY(array)` index probe.
        static let snapshot = """
            SELECT 0, last_sequence, last_created_at, NULL::uuid, NULL::uuid, NULL::int8, NULL::int8
            FROM ledger_head
            UNION ALL
            SELECT 1, sequence, created_at, id, account_id, amount, balance_after
            FROM transactions WHERE id = ANY($1::uuid[])
            UNION ALL
            SELECT 2, balance, NULL, id, NULL, NULL, NULL FROM accounts WHERE id = ANY($2::uuid[])
            """
        /// Every change of a commit in one statement, made on the condition that the head still holds the last
        /// sequence of the snapshot ($17): the head's update is the condition, and every other change joins it,
        /// so when another commit moved the head nothing is written and no row is returned. Otherwise the head
        /// row stays locked until the commit is visible, so commits become visible in sequence order (the
        /// gap-safety rule of ``LedgerStore``). The sub-statements see one snapshot. It fails, dividing by zero
        /// (SQLSTATE 22012), so that nothing of it is written, if it updated fewer existing accounts than $16 (a
        /// balance changed under the commit), or if a transaction's account is neither inserted nor updated by it
        /// (the foreign key's guarantee, checked once per statement rather than by a trigger per row).
        ///
        /// It also keeps `busiest_accounts`, the accounts with the largest transaction count. Counts only grow, so
        /// when an account the commit touches goes above the recorded largest, the recorded ones leave
        /// (`dethroned`) and the touched accounts at the new largest enter (`crowned`); when one only reaches it,
        /// it joins them. (A row's key holds its count, so an account that leaves and enters in one statement
        /// does not collide with itself; the sub-statements all see the table as it was before the statement.)
        static let write = """
            WITH head AS (
                UPDATE ledger_head SET last_sequence = $14, last_created_at = $15 WHERE last_sequence = $17
                RETURNING 1
            ), new_accounts AS (
                INSERT INTO accounts (id, balance, transaction_count)
                SELECT u.* FROM unnest($1::uuid[], $2::int8[], $3::int8[]) AS u, head
                RETURNING id, transaction_count
            ), updated AS (
                UPDATE accounts AS a SET balance = u.balance, transaction_count = a.transaction_count + u.added
                FROM unnest($4::uuid[], $5::int8[], $6::int8[], $7::int8[]) AS u (id, balance, added, previous), head
                WHERE a.id = u.id AND a.balance = u.previous
                RETURNING a.id, a.transaction_count
            ), touched AS (
                SELECT id, transaction_count FROM new_accounts UNION ALL SELECT id, transaction_count FROM updated
            ), top AS (
                SELECT max(transaction_count) AS count FROM touched
            ), dethroned AS (
                DELETE FROM busiest_accounts WHERE transaction_count < (SELECT count FROM top)
            ), crowned AS (
                INSERT INTO busiest_accounts (transaction_count, id)
                SELECT transaction_count, id FROM touched
                WHERE transaction_count = (SELECT count FROM top)
                    AND transaction_count >= (SELECT coalesce(max(transaction_count), 0) FROM busiest_accounts)
            ), inserted AS (
                INSERT INTO transactions (\(columns))
                SELECT u.* FROM unnest($8::int8[], $9::uuid[], $10::uuid[], $11::int8[], $12::int8[], $13::int8[]) AS u,
                    head
            )
            SELECT 1 / (
                (SELECT count(*) FROM updated) = $16
                AND NOT EXISTS (SELECT unnest($10::uuid[]) EXCEPT SELECT unnest($1::uuid[]) EXCEPT SELECT unnest($4::uuid[]))
            )::int, pg_notify('\(commitChannel)', $14::text) FROM head
            """
        static let transactionsByID = "SELECT \(columns) FROM transactions WHERE id = ANY($1::uuid[])"
        static let balancesByID = "SELECT id, balance FROM accounts WHERE id = ANY($1::uuid[])"
        static let balanceAtInstant = """
            SELECT balance_after FROM transactions WHERE account_id = $1 AND created_at <= $2
            ORDER BY created_at DESC, sequence DESC LIMIT 1
            """
        /// A statement page: transactions_by_account below (created_at, sequence) = (the commit time of the first
        /// transaction at or after `before`, `before`), read backwards; created_at never decreases along
        /// sequence, so this is "sequence < before". One statement, two index descents.
        static let statementPage = """
            SELECT \(columns) FROM transactions
            WHERE account_id = $1 AND (created_at, sequence) < (
                COALESCE((SELECT created_at FROM transactions WHERE sequence >= $2 ORDER BY sequence LIMIT 1),
                         9223372036854775807), $2)
            ORDER BY created_at DESC, sequence DESC LIMIT $3
            """
        static let feedPage = "SELECT \(columns) FROM transactions WHERE sequence > $1 ORDER BY sequence LIMIT $2"
        /// The busiest accounts: the table holds exactly them (``write`` keeps it), so this reads the answer and
        /// nothing else.
        static let maxTransactionVolume = """
            SELECT id, transaction_count FROM busiest_accounts ORDER BY transaction_count, id
            """
    }

    let client: PostgresClient
    let logger: Logger
    /// GET /balance and GET /transaction/{id}: lookups that arrive together share one query (``ReadBatcher``).
    let balances: ReadBatcher<UUID, Int64>
    let transactions: ReadBatcher<UUID, LedgerEntry>
    /// How many queries each of them may have under way at once (GET /balance, 64 connections, one run each:
    /// 2 → 31,100 requests/s, 4 → 19,100, 8 → 21,600; one query per request: 15,700).
    static let lookupConcurrency = 2

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
        balances = ReadBatcher(concurrency: Self.lookupConcurrency) { ids in
            try await Self.within(Self.operationTimeout) {
                var balances: [UUID: Int64] = [:]
                for try await (id, balance) in try await client.execute(BalancesByID(ids: ids)) {
                    balances[id] = balance
                }
                return balances
            }
        }
        transactions = ReadBatcher(concurrency: Self.lookupConcurrency) { ids in
            try await Self.within(Self.operationTimeout) {
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
        _ postings: [Transaction], decide: @escaping @Sendable (LedgerSnapshot) -> CommitPlan
    ) async throws -> CommitPlan {
        try await available {
            try await client.withConnection { connection in
                do {
                    let plan = decide(try await snapshot(of: postings, on: connection))
                    if try await write(plan, on: connection) { return plan }
                } catch let error where Self.sqlState(of: error) == "23505" {  // unique_violation
                }
                return try await commitLocked(postings, decide: decide, on: connection)
            }
        }
    }

    /// A commit under the head lock: BEGIN, the lock, the snapshot, the write, COMMIT. Every commit that writes
    /// waits for the lock (or, optimistic, fails on the head it changes), so nothing changes the snapshot.
    private func commitLocked(
        _ postings: [Transaction], decide: @escaping @Sendable (LedgerSnapshot) -> CommitPlan,
        on connection: PostgresConnection
    ) async throws -> CommitPlan {
        _ = try await connection.query("BEGIN", logger: logger)
        do {
            _ = try await connection.query(PostgresQuery(unsafeSQL: SQL.lockHead), logger: logger)
            let plan = decide(try await snapshot(of: postings, on: connection))
            guard try await write(plan, on: connection) else { throw ConcurrentModificationError() }
            _ = try await connection.query("COMMIT", logger: logger)
            return plan
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }

    /// What the rules need, read in one statement (``SQL/snapshot``).
    private func snapshot(of postings: [Transaction], on connection: PostgresConnection) async throws -> LedgerSnapshot
    {
        var snapshot = LedgerSnapshot()
        let statement = Snapshot(ids: postings.map(\.id.uuid), accounts: Array(Set(postings.map(\.accountID.uuid))))
        for try await (kind, number, time, id, account, amount, balanceAfter) in try await connection.execute(
            statement, logger: logger)
        {
            switch (kind, id, account, amount, balanceAfter) {
            case (0, _, _, _, _):
                snapshot.lastSequence = number
                snapshot.lastCreatedAt = time.map(Timestamp.init(millisecondsSince1970:))
            case (1, let id?, let account?, let amount?, let balanceAfter?):
                let entry = LedgerEntry(
                    transaction: Transaction(id: TransactionID(id), accountID: AccountID(account), amount: amount),
                    sequence: number, createdAt: Timestamp(millisecondsSince1970: time ?? 0),
                    balanceAfter: balanceAfter)
                snapshot.recorded[entry.transaction.id] = entry
            case (2, let id?, _, _, _):
                snapshot.balances[AccountID(id)] = number
            default:
                throw UnexpectedSnapshotRow(kind: kind)
            }
        }
        return snapshot
    }

    /// The commit's two statements, prepared once per connection (with generic plans, see
    /// ``PostgresDatabase``): a commit is then two round trips of Bind and Execute, without a parse or a plan.
    struct Snapshot: PostgresPreparedStatement {
        static let sql = SQL.snapshot
        typealias Row = (Int32, Int64, Int64?, UUID?, UUID?, Int64?, Int64?)
        let ids: [UUID]
        let accounts: [UUID]

        func makeBindings() throws -> PostgresBindings { PostgresLedgerStore.binds(ids, accounts) }
        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    struct UnexpectedSnapshotRow: Error, CustomStringConvertible {
        let kind: Int32
        var description: String { "the commit's snapshot returned a row of kind \(kind) with missing columns" }
    }

    /// Writes the plan's changes if the head still holds the snapshot's last sequence; false, writing nothing,
    /// if it moved. A plan that creates nothing writes nothing.
    private func write(_ plan: CommitPlan, on connection: PostgresConnection) async throws -> Bool {
        guard !plan.created.isEmpty else { return true }
        do {
            var rows = try await connection.execute(Write(plan: plan), logger: logger).makeAsyncIterator()
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

        func makeBindings() throws -> PostgresBindings {
            let new = plan.accounts.filter { $0.previousBalance == nil }
            let updated = plan.accounts.filter { $0.previousBalance != nil }
            let (first, last) = (plan.created[0], plan.created[plan.created.count - 1])
            var binds = PostgresBindings(capacity: 17)
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
            return binds
        }
        func decodeRow(_ row: PostgresRow) throws {}
    }

    /// The SQLSTATE of an error the server raised, if it is one.
    static func sqlState(of error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
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

    public func transaction(_ id: TransactionID) async throws -> LedgerEntry? {
        try await transactions.value(of: id.uuid)
    }

    public func balance(of account: AccountID) async throws -> Int64? {
        try await balances.value(of: account.uuid)
    }

    /// The lookups, prepared once per connection (named statements: no parse or plan per query).
    struct BalancesByID: PostgresPreparedStatement {
        static let sql = SQL.balancesByID
        typealias Row = (UUID, Int64)
        let ids: [UUID]

        func makeBindings() throws -> PostgresBindings { PostgresLedgerStore.binds(ids) }
        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    struct TransactionsByID: PostgresPreparedStatement {
        static let sql = SQL.transactionsByID
        typealias Row = LedgerEntry
        let ids: [UUID]

        func makeBindings() throws -> PostgresBindings { PostgresLedgerStore.binds(ids) }
        func decodeRow(_ row: PostgresRow) throws -> Row { try PostgresLedgerStore.entry(row) }
    }

    public func balance(of account: AccountID, at instant: Timestamp) async throws -> Int64? {
        try await all(of: BalanceAtInstant(account: account.uuid, instant: instant.millisecondsSince1970)).first
    }

    public func statement(of account: AccountID, before: Int64?, limit: Int) async throws -> [LedgerEntry] {
        try await all(of: StatementPage(account: account.uuid, before: before ?? .max, limit: Int64(limit)))
    }

    public func transactions(after: Int64, limit: Int) async throws -> [LedgerEntry] {
        try await all(of: FeedPage(after: after, limit: Int64(limit)))
    }

    public func transactionVolume() async throws -> TransactionVolume {
        let busiest = try await all(of: MaxTransactionVolume())
        return TransactionVolume(maxVolume: busiest.first?.1 ?? 0, accounts: busiest.map { AccountID($0.0) })
    }

    /// Every row of a prepared read (at most one for ``SQL/balanceAtInstant``, whose LIMIT is 1).
    private func all<Statement: PostgresPreparedStatement>(of statement: Statement) async throws -> [Statement.Row]
    where Statement.Row: Sendable {
        try await available { [client] in
            var rows: [Statement.Row] = []
            for try await row in try await client.execute(statement) { rows.append(row) }
            return rows
        }
    }

    /// The other reads, prepared as the lookups are.
    struct BalanceAtInstant: PostgresPreparedStatement {
        static let sql = SQL.balanceAtInstant
        typealias Row = Int64
        let account: UUID
        let instant: Int64

        func makeBindings() throws -> PostgresBindings { PostgresLedgerStore.binds(account, instant) }
        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    struct StatementPage: PostgresPreparedStatement {
        static let sql = SQL.statementPage
        typealias Row = LedgerEntry
        let account: UUID
        let before: Int64
        let limit: Int64

        func makeBindings() throws -> PostgresBindings { PostgresLedgerStore.binds(account, before, limit) }
        func decodeRow(_ row: PostgresRow) throws -> Row { try PostgresLedgerStore.entry(row) }
    }

    struct FeedPage: PostgresPreparedStatement {
        static let sql = SQL.feedPage
        typealias Row = LedgerEntry
        let after: Int64
        let limit: Int64

        func makeBindings() throws -> PostgresBindings { PostgresLedgerStore.binds(after, limit) }
        func decodeRow(_ row: PostgresRow) throws -> Row { try PostgresLedgerStore.entry(row) }
    }

    struct MaxTransactionVolume: PostgresPreparedStatement {
        static let sql = SQL.maxTransactionVolume
        typealias Row = (UUID, Int64)

        func makeBindings() throws -> PostgresBindings { PostgresLedgerStore.binds() }
        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// A row selected as ``SQL/columns``.
    static func entry(_ row: PostgresRow) throws -> LedgerEntry {
        let (sequence, id, account, amount, createdAt, balanceAfter) = try row.decode(
            (Int64, UUID, UUID, Int64, Int64, Int64).self)
        return LedgerEntry(
            transaction: Transaction(id: TransactionID(id), accountID: AccountID(account), amount: amount),
            sequence: sequence, createdAt: Timestamp(millisecondsSince1970: createdAt), balanceAfter: balanceAfter)
    }

    /// The parameters $1, $2, … of a statement.
    static func binds<each Value: PostgresNonThrowingEncodable & Sendable>(
        _ values: repeat each Value
    )
        -> PostgresBindings
    {
        var binds = PostgresBindings()
        repeat binds.append(each values)
        return binds
    }

    /// Runs `operation` within ``operationTimeout`` (``within(_:_:)``).
    private func available<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await Self.within(Self.operationTimeout, operation)
    }

    /// Runs `operation`, turning a database that cannot be reached, or that does not answer within `timeout`,
    /// into ``StoreUnavailableError``. The answer comes at the timeout even if the operation goes on: a query already
    /// sent cannot be cancelled from here, and a task group would wait for it. (The pool keeps trying to connect,
    /// so the next operation finds the database as soon as it is back.)
    package static func within<T: Sendable>(
        _ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        do {
            return try await Deadline.within(
                timeout, else: StoreUnavailableError(reason: "PostgreSQL did not answer within \(timeout)"), operation)
        } catch let error as StoreUnavailableError {
            throw error
        } catch let error where isUnavailable(error) {
            throw StoreUnavailableError(reason: reason(for: error))
        }
    }

    /// What went wrong, in a line for an operator: the server's SQLSTATE and message, or the client's error code
    /// and the error under it (a refused connection, say). PSQLError's own description hides all of it, so that
    /// a query's values cannot leak into a log; neither does this.
    static func reason(for error: any Error) -> String {
        switch error {
        case let error as StoreUnavailableError:
            return error.reason
        case let error as PSQLError:
            if let server = error.serverInfo {
                return "PostgreSQL: \(server[.sqlState] ?? "?") \(server[.message] ?? "")"
            }
            return "\(error.code)" + (error.underlying.map { ": \($0)" } ?? "")
        default:
            return String(describing: error)
        }
    }

    /// The errors of a database that is down, restarting, unreachable or shedding load, rather than of a request:
    /// everything but what the server refused for a reason of its own, a row that does not decode, and a commit
    /// that found the database changed under it.
    static func isUnavailable(_ error: any Error) -> Bool {
        switch error {
        case is StoreUnavailableError:
            return true
        case let error as PSQLError where error.code == .server:
            // Class 08: connection exception; 57P01-03: the server is shutting down or starting;
            // class 53: insufficient resources (too many connections, disk full).
            let state = sqlState(of: error) ?? ""
            return state.hasPrefix("08") || state.hasPrefix("57P") || state.hasPrefix("53")
        case let error as PSQLError:
            return ![
                .tooManyParameters, .invalidCommandTag, .unexpectedBackendMessage, .messageDecodingFailure,
                .unsupportedAuthMechanism, .authMechanismRequiresPassword, .saslError,
            ].contains(error.code)
        case is PostgresDecodingError, is ConcurrentModificationError:
            return false
        default:
            // The pool's own errors (its circuit breaker when the server stays unreachable), a cancelled request
            // and the channel's errors.
            return true
        }
    }
}

import AccountLedger
import Foundation
import Logging
import PostgresNIO

extension PostgresLedgerStore {
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

    /// The reads below that may lag (a replica's when there are replicas) and those that may not (the primary's):
    /// docs/postgresql.md, "Read replicas".
    public func balance(of account: AccountID, at instant: Timestamp) async throws -> Int64? {
        try await allMayLag(of: BalanceAtInstant(account: account.uuid, instant: instant.millisecondsSince1970)).first
    }

    public func statement(of account: AccountID, before: Int64?, limit: Int) async throws -> [LedgerEntry] {
        try await allMayLag(of: StatementPage(account: account.uuid, before: before ?? .max, limit: Int64(limit)))
    }

    /// A replica's empty answer is taken only if this instance knows of no commit after `after`; otherwise the
    /// primary answers (a waiting reader woken by a commit reads it at once).
    public func transactions(after: Int64, limit: Int) async throws -> [LedgerEntry] {
        try await allMayLag(of: FeedPage(after: after, limit: Int64(limit))) { [replicas] page in
            !page.isEmpty || (replicas?.head ?? 0) <= after
        }
    }

    public func transactionVolume() async throws -> TransactionVolume {
        let busiest = try await allMayLag(of: MaxTransactionVolume())
        return TransactionVolume(maxVolume: busiest.first?.1 ?? 0, accounts: busiest.map { AccountID($0.0) })
    }

    /// The primary's answer, whatever the replicas: for the readiness probe.
    public func probe() async throws {
        _ = try await all(of: FeedPage(after: .max, limit: 1))
    }

    /// Every row of a prepared read (at most one for ``SQL/balanceAtInstant``, whose LIMIT is 1).
    func all<Statement: PostgresPreparedStatement>(of statement: Statement) async throws -> [Statement.Row]
    where Statement.Row: Sendable {
        try await available { [client] in try await Self.rows(of: statement, from: client) }
    }

    /// Every row of `statement`, read through `client` (the primary's pool or a replica's).
    static func rows<Statement: PostgresPreparedStatement>(
        of statement: Statement, from client: PostgresClient
    ) async throws -> [Statement.Row] where Statement.Row: Sendable {
        var rows: [Statement.Row] = []
        for try await row in try await client.execute(statement) { rows.append(row) }
        return rows
    }

    /// Every row of a read that may lag: from the next replica in use (``PostgresReplicas``) if it answers within
    /// ``PostgresReplicas/readTimeout`` and `accept` takes its answer, otherwise from the primary. A replica that fails
    /// is taken out of use; the request does not fail for it.
    func allMayLag<Statement: PostgresPreparedStatement>(
        of statement: Statement, accept: @Sendable ([Statement.Row]) -> Bool = { _ in true }
    ) async throws -> [Statement.Row] where Statement.Row: Sendable {
        if let replicas, let replica = replicas.next() {
            do {
                let rows = try await Self.within(min(operationTimeout, PostgresReplicas.readTimeout)) {
                    try await Self.rows(of: statement, from: replica.client)
                }
                if accept(rows) {
                    replica.served.increment()
                    return rows
                }
            } catch {
                if Task.isCancelled { throw error }
                replicas.failed(replica, error)
            }
        }
        return try await all(of: statement)
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

    public func resolution(of hold: TransactionID) async throws -> LedgerEntry? {
        try await all(of: ResolutionOfHold(hold: hold.uuid)).first
    }

    public func expiredHolds(at instant: Timestamp, limit: Int) async throws -> [TransactionID] {
        try await all(of: ExpiredHolds(instant: instant.millisecondsSince1970, limit: Int64(limit)))
            .map(TransactionID.init)
    }

    struct ResolutionOfHold: PostgresPreparedStatement {
        static let sql = SQL.resolutionOfHold
        typealias Row = LedgerEntry
        let hold: UUID

        func makeBindings() throws -> PostgresBindings { PostgresLedgerStore.binds(hold) }
        func decodeRow(_ row: PostgresRow) throws -> Row { try PostgresLedgerStore.entry(row) }
    }

    struct ExpiredHolds: PostgresPreparedStatement {
        static let sql = SQL.expiredHolds
        typealias Row = UUID
        let instant: Int64
        let limit: Int64

        func makeBindings() throws -> PostgresBindings { PostgresLedgerStore.binds(instant, limit) }
        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    public func account(_ id: AccountID) async throws -> Account? {
        try await accounts.value(of: id.uuid)
    }

    /// Pages start from an id (inclusive): after `after` is from its successor, and there is none after the
    /// largest UUID.
    public func accounts(after: AccountID?, limit: Int, filter: MetadataFilter?) async throws -> [Account] {
        var start = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
        if let after {
            guard let next = after.uuid.successor else { return [] }
            start = next
        }
        if let filter {
            return try await allMayLag(
                of: AccountsWithMemberFrom(key: filter.key, value: filter.value, start: start, limit: Int64(limit)))
        }
        return try await allMayLag(of: AccountsFrom(start: start, limit: Int64(limit)))
    }

    struct AccountsByID: PostgresPreparedStatement {
        static let sql = SQL.accountsByID
        typealias Row = Account
        let ids: [UUID]

        func makeBindings() throws -> PostgresBindings { PostgresLedgerStore.binds(ids) }
        func decodeRow(_ row: PostgresRow) throws -> Row { try PostgresLedgerStore.account(row) }
    }

    struct AccountsFrom: PostgresPreparedStatement {
        static let sql = SQL.accountsFrom
        typealias Row = Account
        let start: UUID
        let limit: Int64

        func makeBindings() throws -> PostgresBindings { PostgresLedgerStore.binds(start, limit) }
        func decodeRow(_ row: PostgresRow) throws -> Row { try PostgresLedgerStore.account(row) }
    }

    struct AccountsWithMemberFrom: PostgresPreparedStatement {
        static let sql = SQL.accountsWithMemberFrom
        typealias Row = Account
        let key: String
        let value: String
        let start: UUID
        let limit: Int64

        func makeBindings() throws -> PostgresBindings { PostgresLedgerStore.binds(key, value, start, limit) }
        func decodeRow(_ row: PostgresRow) throws -> Row { try PostgresLedgerStore.account(row) }
    }

    /// A row selected as ``SQL/accountColumns``.
    static func account(_ row: PostgresRow) throws -> Account {
        var columns = RowReader(row)
        let (id, balance, count, pendingDebits, pendingCredits) = (
            try columns.uuid(), try columns.int64(), try columns.int64(), try columns.int64(), try columns.int64()
        )
        let (currency, minimum, maximum, metadata, createdAt) = (
            try columns.stringOrNil(), try columns.int64OrNil(), try columns.int64OrNil(), try columns.stringOrNil(),
            try columns.int64()
        )
        return Account(
            id: AccountID(id),
            state: AccountState(
                balance: balance, pendingDebits: pendingDebits, pendingCredits: pendingCredits,
                rules: AccountRules(currency: currency, minimumBalance: minimum, maximumBalance: maximum),
                transactionCount: count),
            metadata: Metadata(stored: metadata), createdAt: Timestamp(millisecondsSince1970: createdAt))
    }

    /// A row selected as ``SQL/columns``.
    static func entry(_ row: PostgresRow) throws -> LedgerEntry {
        var columns = RowReader(row)
        let (sequence, id, account, amount, createdAt) = (
            try columns.int64(), try columns.uuid(), try columns.uuid(), try columns.int64(), try columns.int64()
        )
        let (balanceAfter, metadata, kind, pending, expiresAt) = (
            try columns.int64(), try columns.stringOrNil(), try columns.int16OrNil(), try columns.uuidOrNil(),
            try columns.int64OrNil()
        )
        return entry(
            sequence: sequence, id: id, account: account, amount: amount, createdAt: createdAt,
            balanceAfter: balanceAfter, metadata: metadata, kind: kind.map(Int64.init), pending: pending,
            expiresAt: expiresAt)
    }

    /// A record from its columns.
    static func entry(
        sequence: Int64, id: UUID, account: UUID, amount: Int64, createdAt: Int64, balanceAfter: Int64,
        metadata: String?, kind: Int64?, pending: UUID?, expiresAt: Int64?
    ) -> LedgerEntry {
        LedgerEntry(
            transaction: Transaction(
                id: TransactionID(id), accountID: AccountID(account), amount: amount,
                metadata: Metadata(stored: metadata),
                role: Transaction.Role(
                    code: kind, hold: pending.map(TransactionID.init),
                    expiresAt: expiresAt.map(Timestamp.init(millisecondsSince1970:)))),
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
}

extension UUID {
    /// The next UUID in byte order (PostgreSQL's order of uuid), nil for the largest.
    var successor: UUID? {
        var bytes = withUnsafeBytes(of: uuid) { Array($0) }
        for index in bytes.indices.reversed() {
            if bytes[index] < 0xFF {
                bytes[index] += 1
                return bytes.withUnsafeBytes { UUID(uuid: $0.load(as: uuid_t.self)) }
            }
            bytes[index] = 0
        }
        return nil
    }
}

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
    func all<Statement: PostgresPreparedStatement>(of statement: Statement) async throws -> [Statement.Row]
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
}

import AccountHTTP
import AccountLedger
import AccountServiceApp
import PostgresStore
import SQLiteStore

/// A store that hands every call to `inner`: a test double overrides the one or two it changes.
package protocol ForwardingStore: LedgerStore {
    associatedtype Inner: LedgerStore
    var inner: Inner { get }
}

extension ForwardingStore {
    package func commit(
        _ keys: CommitKeys, decide: @escaping @Sendable (LedgerSnapshot) -> CommitPlan
    ) async throws -> CommitPlan { try await inner.commit(keys, decide: decide) }
    package func transaction(_ id: TransactionID) async throws -> LedgerEntry? { try await inner.transaction(id) }
    package func resolution(of hold: TransactionID) async throws -> LedgerEntry? {
        try await inner.resolution(of: hold)
    }
    package func expiredHolds(at instant: Timestamp, limit: Int) async throws -> [TransactionID] {
        try await inner.expiredHolds(at: instant, limit: limit)
    }
    package func balance(of account: AccountID) async throws -> Int64? { try await inner.balance(of: account) }
    package func balance(of account: AccountID, at instant: Timestamp) async throws -> Int64? {
        try await inner.balance(of: account, at: instant)
    }
    package func statement(of account: AccountID, before: Int64?, limit: Int) async throws -> [LedgerEntry] {
        try await inner.statement(of: account, before: before, limit: limit)
    }
    package func transactions(after: Int64, limit: Int) async throws -> [LedgerEntry] {
        try await inner.transactions(after: after, limit: limit)
    }
    package func transactionVolume() async throws -> TransactionVolume { try await inner.transactionVolume() }
    package func configure(
        _ accounts: [AccountID],
        decide: @escaping @Sendable ([AccountID: Account]) -> [Result<ConfigurationPlan, LedgerError>]
    ) async throws -> [Result<ConfigurationPlan, LedgerError>] { try await inner.configure(accounts, decide: decide) }
    package func account(_ id: AccountID) async throws -> Account? { try await inner.account(id) }
    package func accounts(after: AccountID?, limit: Int, filter: MetadataFilter?) async throws -> [Account] {
        try await inner.accounts(after: after, limit: limit, filter: filter)
    }
    package func probe() async throws { try await inner.probe() }
    package var unavailability: StoreUnavailableError? { inner.unavailability }
    package var isSoleWriter: Bool { inner.isSoleWriter }
    package var deadline: Duration? { inner.deadline }
}

/// A store whose every operation fails, as a full or broken disk would make it.
package struct FailingStore: LedgerStore {
    package init() {}

    package struct DiskFailureError: Error {}

    package func commit(
        _ keys: CommitKeys, decide: @escaping @Sendable (LedgerSnapshot) -> CommitPlan
    ) async throws -> CommitPlan { throw DiskFailureError() }
    package func transaction(_ id: TransactionID) async throws -> LedgerEntry? { throw DiskFailureError() }
    package func resolution(of hold: TransactionID) async throws -> LedgerEntry? { throw DiskFailureError() }
    package func expiredHolds(at instant: Timestamp, limit: Int) async throws -> [TransactionID] {
        throw DiskFailureError()
    }
    package func balance(of account: AccountID) async throws -> Int64? { throw DiskFailureError() }
    package func balance(of account: AccountID, at instant: Timestamp) async throws -> Int64? {
        throw DiskFailureError()
    }
    package func statement(of account: AccountID, before: Int64?, limit: Int) async throws -> [LedgerEntry] {
        throw DiskFailureError()
    }
    package func transactions(after: Int64, limit: Int) async throws -> [LedgerEntry] { throw DiskFailureError() }
    package func transactionVolume() async throws -> TransactionVolume { throw DiskFailureError() }
    package func configure(
        _ accounts: [AccountID],
        decide: @escaping @Sendable ([AccountID: Account]) -> [Result<ConfigurationPlan, LedgerError>]
    ) async throws -> [Result<ConfigurationPlan, LedgerError>] { throw DiskFailureError() }
    package func account(_ id: AccountID) async throws -> Account? { throw DiskFailureError() }
    package func accounts(after: AccountID?, limit: Int, filter: MetadataFilter?) async throws -> [Account] {
        throw DiskFailureError()
    }
}

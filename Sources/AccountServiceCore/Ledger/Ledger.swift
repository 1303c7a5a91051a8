/// The ledger's rules: transactions are posted idempotently by id, balances stay exact, and accounts are
/// created by their first accepted transaction. It knows nothing of HTTP or SQL.
public struct Ledger: Sendable {
    let store: any LedgerStore
    /// Commits postings; it must be running (the application runs it as a service) for `post` to return.
    public let groupCommit: GroupCommit

    public init(store: any LedgerStore) {
        self.store = store
        self.groupCommit = GroupCommit(store: store)
    }

    /// Posts a transaction once: a repeat with the same id, account and amount replays the recorded one.
    /// It returns once the transaction is committed, in a write transaction it may share with concurrent postings.
    /// - Throws: ``LedgerError/idempotencyConflict(requested:recorded:)`` when the id is recorded with another
    ///   account or amount, ``LedgerError/balanceOutOfRange(_:)`` when the balance would leave 64 bits,
    ///   ``LedgerUnavailable`` once the ledger is shutting down.
    public func post(_ transaction: Transaction) async throws -> PostingOutcome {
        try await groupCommit.post(transaction)
    }

    /// The rules of one posting, applied with the primitives of an open write transaction.
    /// It writes nothing when it throws.
    static func post(_ transaction: Transaction, with writer: any LedgerWriter) throws -> PostingOutcome {
        if let recorded = try writer.transaction(transaction.id) {
            guard recorded == transaction else {
                throw LedgerError.idempotencyConflict(requested: transaction, recorded: recorded)
            }
            return .replayed(recorded)
        }
        guard try writer.apply(transaction.amount, to: transaction.accountID) else {
            throw LedgerError.balanceOutOfRange(transaction)
        }
        try writer.record(transaction)
        return .created(transaction)
    }

    public func transaction(_ id: TransactionID) async throws -> Transaction {
        guard let transaction = try await store.transaction(id) else { throw LedgerError.transactionNotFound(id) }
        return transaction
    }

    public func balance(of account: AccountID) async throws -> Int64 {
        guard let balance = try await store.balance(of: account) else { throw LedgerError.accountNotFound(account) }
        return balance
    }

    public func transactionVolume() async throws -> TransactionVolume {
        try await store.transactionVolume()
    }
}

/// Where the ledger keeps its state. The storage module implements it; the ledger holds the rules.
public protocol LedgerStore: Sendable {
    /// Runs `body` in one atomic write transaction: everything it writes is committed together and durably
    /// before this returns, or nothing is if it throws.
    func write<T: Sendable>(_ body: @escaping @Sendable (any LedgerWriter) throws -> T) async throws -> T

    func transaction(_ id: TransactionID) async throws -> Transaction?
    func balance(of account: AccountID) async throws -> Int64?
    func transactionVolume() async throws -> TransactionVolume
}

/// The primitive writes the ledger composes, valid only inside ``LedgerStore/write(_:)``.
public protocol LedgerWriter {
    func transaction(_ id: TransactionID) throws -> Transaction?
    /// Adds `amount` to the account's balance and one to its transaction count, creating the account at zero
    /// if it does not exist. Returns false, and changes nothing, when the new balance would not fit in 64 bits.
    func apply(_ amount: Int64, to account: AccountID) throws -> Bool
    /// Records the transaction. Its id must be new.
    func record(_ transaction: Transaction) throws
}

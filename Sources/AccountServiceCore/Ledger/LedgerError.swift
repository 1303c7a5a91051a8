/// A request the ledger refuses. Nothing was written when one of these is thrown.
public enum LedgerError: Error, Hashable, Sendable {
    /// The transaction id is already recorded with another account or amount.
    case idempotencyConflict(requested: Transaction, recorded: Transaction)
    /// Applying the amount would take the balance outside the signed 64-bit range.
    case balanceOutOfRange(Transaction)
    case accountNotFound(AccountID)
    case transactionNotFound(TransactionID)
    /// The ledger is shutting down and accepts no more postings; the request may be retried elsewhere or later.
    case unavailable
}

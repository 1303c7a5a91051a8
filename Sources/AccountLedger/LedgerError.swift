/// A request the ledger refuses. Nothing was written when one of these is thrown.
public enum LedgerError: Error, Hashable, Sendable {
    /// The transaction id is already recorded (or appears earlier in its batch) with another account or amount.
    case idempotencyConflict(requested: Transaction, recorded: Transaction)
    /// Applying the amount would take the balance outside the signed 64-bit range.
    case balanceOutOfRange(Transaction)
    /// The posting would take the account below its minimum balance: `resulting` is its balance plus its pending
    /// debits after it.
    case insufficientFunds(Transaction, minimum: Int64, resulting: Int128)
    /// The posting would take the account above its maximum balance: `resulting` is its balance plus its pending
    /// credits after it.
    case limitExceeded(Transaction, maximum: Int64, resulting: Int128)
    /// A batch was refused whole because of these postings, in batch order.
    case batchRefused([RefusedPosting])
    /// A batch posted as balanced (double-entry) whose amounts do not sum to zero in a currency (nil: among the
    /// accounts that have none).
    case unbalanced(sum: Int128, currency: String?)
    /// The posting names a currency that is not its account's (`account` nil: the account has none).
    case currencyMismatch(Transaction, requested: String, account: String?)
    /// The account has transactions, so its currency cannot change from `currency` (nil: none) to `requested`.
    case currencyFixed(AccountID, currency: String?, requested: String?)
    /// A resolution names a hold that is not recorded (or a record that is not a hold).
    case unknownHold(TransactionID)
    /// The hold has a resolution already: `resolution`, a post or a void.
    case holdResolved(TransactionID, resolution: Transaction)
    /// The hold expired at `expiresAt`: no post or void is accepted from then on (the ledger voids it).
    case holdExpired(TransactionID, expiresAt: Timestamp)
    /// A post's amount is not within the hold's: it has the held amount's sign and at most its magnitude.
    case invalidResolution(Resolution, held: Int64)
    /// The ledger's expiry reached a hold before its expiry (another instance's clock runs ahead, say).
    case holdNotExpired(TransactionID, expiresAt: Timestamp?)
    case accountNotFound(AccountID)
    /// The account had no transaction at or before the instant (or does not exist).
    case noTransactionBy(AccountID, Timestamp)
    case transactionNotFound(TransactionID)
    /// The ledger is shutting down and accepts no more postings; the request may be retried elsewhere or later.
    case unavailable
}

/// An item of a batch that the rules refused, and why: an ``LedgerError/idempotencyConflict(requested:recorded:)``,
/// a ``LedgerError/balanceOutOfRange(_:)``, a limit of its account, or a resolution that its hold refuses.
public struct RefusedPosting: Hashable, Sendable {
    /// Its position in the batch, from 0.
    public let index: Int
    /// The item's transaction id.
    public let id: TransactionID
    public let reason: LedgerError

    public init(index: Int, id: TransactionID, reason: LedgerError) {
        self.index = index
        self.id = id
        self.reason = reason
    }
}

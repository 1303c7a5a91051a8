/// A money movement on one account: a positive amount credits it, a negative one debits it.
public struct Transaction: Hashable, Sendable {
    public let id: TransactionID
    public let accountID: AccountID
    /// The signed amount in the account's smallest unit; exact, never a float.
    public let amount: Int64

    public init(id: TransactionID, accountID: AccountID, amount: Int64) {
        self.id = id
        self.accountID = accountID
        self.amount = amount
    }
}

/// What posting a transaction did.
public enum PostingOutcome: Hashable, Sendable {
    /// The transaction was new and is now recorded.
    case created(Transaction)
    /// A transaction with this id and the same account and amount was already recorded; nothing changed.
    case replayed(Transaction)

    /// The transaction as recorded.
    public var transaction: Transaction {
        switch self {
        case .created(let transaction), .replayed(let transaction): transaction
        }
    }
}

/// The accounts with the most accepted transactions.
public struct TransactionVolume: Hashable, Sendable {
    /// The largest number of transactions accepted for any one account; 0 when there are no accounts.
    public let maxVolume: Int64
    /// Every account with `maxVolume` transactions, in ascending id order.
    public let accounts: [AccountID]

    public init(maxVolume: Int64, accounts: [AccountID]) {
        self.maxVolume = maxVolume
        self.accounts = accounts
    }
}

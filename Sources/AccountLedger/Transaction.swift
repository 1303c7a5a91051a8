#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// A money movement on one account: a positive amount credits it, a negative one debits it.
public struct Transaction: Hashable, Sendable {
    public let id: TransactionID
    public let accountID: AccountID
    /// The signed amount in the account's smallest unit; exact, never a float.
    public let amount: Int64
    /// The client's members, stored and returned with it, and part of what a replay must repeat.
    public let metadata: Metadata

    public init(id: TransactionID, accountID: AccountID, amount: Int64, metadata: Metadata = .empty) {
        self.id = id
        self.accountID = accountID
        self.amount = amount
        self.metadata = metadata
    }
}

/// An instant, in whole milliseconds since 1970-01-01T00:00:00Z (UTC).
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let millisecondsSince1970: Int64

    public init(millisecondsSince1970: Int64) {
        self.millisecondsSince1970 = millisecondsSince1970
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.millisecondsSince1970 < rhs.millisecondsSince1970
    }

    public var description: String { "\(millisecondsSince1970) ms" }
}

/// A transaction as the ledger recorded it: where it stands in the commit order, when it was committed, and the
/// balance of its account right after it.
public struct LedgerEntry: Hashable, Sendable {
    public let transaction: Transaction
    /// Its position in the ledger's commit order: positive and unique; gaps are allowed.
    public let sequence: Int64
    /// When its commit was made; it never decreases along `sequence`.
    public let createdAt: Timestamp
    public let balanceAfter: Int64

    public init(transaction: Transaction, sequence: Int64, createdAt: Timestamp, balanceAfter: Int64) {
        self.transaction = transaction
        self.sequence = sequence
        self.createdAt = createdAt
        self.balanceAfter = balanceAfter
    }
}

/// What posting a transaction did.
public enum PostingOutcome: Hashable, Sendable {
    /// The transaction was new and is now recorded.
    case created(LedgerEntry)
    /// A transaction with this id and the same account, amount and metadata was already recorded; nothing
    /// changed, and this is the original record.
    case replayed(LedgerEntry)

    /// The transaction as recorded.
    public var entry: LedgerEntry {
        switch self {
        case .created(let entry), .replayed(let entry): entry
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

extension Timestamp {
    /// The system clock, to the millisecond.
    @Sendable public static func now() -> Timestamp {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Timestamp(millisecondsSince1970: Int64(time.tv_sec) * 1000 + Int64(time.tv_nsec) / 1_000_000)
    }
}

/// Postings applied in order, all or nothing, in one commit: a transfer between accounts, or a bulk load.
/// A single posting is a batch of one.
public struct Batch: Hashable, Sendable {
    /// The most postings one batch may hold.
    public static let maximumCount = 10_000

    public let transactions: [Transaction]
    /// Whether this is a double-entry posting, whose amounts must sum to exactly zero in each currency.
    public let balanced: Bool
    /// The currency an item names (by its index), which must be its account's: checked, not recorded.
    public let currencies: [Int: String]

    public init(_ transactions: [Transaction], balanced: Bool = false, currencies: [Int: String] = [:]) {
        self.transactions = transactions
        self.balanced = balanced
        self.currencies = currencies
    }

    /// The exact sum of the amounts: 10,000 amounts of 64 bits cannot overflow 128.
    public var sum: Int128 {
        transactions.reduce(0) { $0 + Int128($1.amount) }
    }
}

import Foundation

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
    /// An ordinary posting, a hold, or a hold's resolution.
    public let role: Role

    public init(
        id: TransactionID, accountID: AccountID, amount: Int64, metadata: Metadata = .empty, role: Role = .posting
    ) {
        self.id = id
        self.accountID = accountID
        self.amount = amount
        self.metadata = metadata
        self.role = role
    }

    /// What a record is. Only postings and posts change a balance and count in the account's transactions.
    public enum Role: Hashable, Sendable {
        /// An ordinary posting: `status` posted.
        case posting
        /// A hold (`status` pending): its amount is reserved in the account's pending sums until a post or a
        /// void resolves it, or until `expiresAt` (nil: it never expires), when the ledger voids it.
        case hold(expiresAt: Timestamp?)
        /// The post of a hold (`status` posted): its amount is the amount posted.
        case post(hold: TransactionID)
        /// The void of a hold (`status` voided): its amount is the amount held; `expired` when the ledger voided it
        /// at its expiry.
        case void(hold: TransactionID, expired: Bool)

        /// The code both stores keep in a record's `kind` column: nil for a posting (most records, so the column
        /// costs them a header byte), 1 a hold, 2 a post, 3 a void, 4 an expiry's void.
        public var code: Int64? {
            switch self {
            case .posting: nil
            case .hold: 1
            case .post: 2
            case .void(_, let expired): expired ? 4 : 3
            }
        }

        /// The role stored as `code`, `hold` (a resolution's `pending_id`) and `expiresAt` (a hold's); an unknown
        /// code or a resolution without its hold reads as a posting (the stores' CHECK constraints allow
        /// neither).
        public init(code: Int64?, hold: TransactionID?, expiresAt: Timestamp?) {
            switch (code, hold) {
            case (1, _): self = .hold(expiresAt: expiresAt)
            case (2, let hold?): self = .post(hold: hold)
            case (3, let hold?): self = .void(hold: hold, expired: false)
            case (4, let hold?): self = .void(hold: hold, expired: true)
            default: self = .posting
            }
        }

        /// A hold's expiry.
        public var expiresAt: Timestamp? {
            if case .hold(let expiresAt) = self { expiresAt } else { nil }
        }

        /// The hold that a post or a void resolves.
        public var hold: TransactionID? {
            switch self {
            case .posting, .hold: nil
            case .post(let hold), .void(let hold, _): hold
            }
        }

        /// Whether the record changes its account's balance and counts among its transactions: postings and posts.
        public var isPosted: Bool {
            switch self {
            case .posting, .post: true
            case .hold, .void: false
            }
        }
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

/// Items applied in order, all or nothing, in one commit: a transfer between accounts, a bulk load, holds, the
/// resolutions of holds. A single posting is a batch of one.
public struct Batch: Hashable, Sendable {
    /// The most items one batch may hold.
    public static let maximumCount = 10_000
    /// The longest a hold may live, in seconds: a year.
    public static let maximumTimeout: Int64 = 31_536_000

    public let items: [Item]
    /// Whether this is a double-entry posting, whose amounts must sum to exactly zero in each currency (a post
    /// counting its amount, a void 0).
    public let balanced: Bool
    /// Whether its postings are holds (a pending batch holds no resolution).
    public let pending: Bool
    /// The seconds after its commit at which its holds expire (nil: never); only for a pending batch.
    public let timeout: Int64?
    /// The currency an item names (by its index), which must be its account's: checked, not recorded.
    public let currencies: [Int: String]

    /// A batch of ordinary postings (or holds, when `pending`).
    public init(
        _ transactions: [Transaction], balanced: Bool = false, pending: Bool = false, timeout: Int64? = nil,
        currencies: [Int: String] = [:]
    ) {
        self.init(
            items: transactions.map(Item.posting), balanced: balanced, pending: pending, timeout: timeout,
            currencies: currencies)
    }

    public init(
        items: [Item], balanced: Bool = false, pending: Bool = false, timeout: Int64? = nil,
        currencies: [Int: String] = [:]
    ) {
        self.items = items
        self.balanced = balanced
        self.pending = pending
        self.timeout = timeout
        self.currencies = currencies
    }

    /// The items that are postings (holds in a pending batch), in order.
    public var postings: [Transaction] {
        items.compactMap { if case .posting(let posting) = $0 { posting } else { nil } }
    }

    /// One item: a posting (a hold in a pending batch), or the resolution of a hold.
    public enum Item: Hashable, Sendable {
        case posting(Transaction)
        case resolution(Resolution)

        public var id: TransactionID {
            switch self {
            case .posting(let transaction): transaction.id
            case .resolution(let resolution): resolution.id
            }
        }
    }
}

/// A request to resolve a hold: post it (all or part) or void it. Its account is the hold's.
public struct Resolution: Hashable, Sendable {
    /// The id of the record the resolution makes.
    public let id: TransactionID
    /// The hold it resolves.
    public let hold: TransactionID
    public let action: Action
    public let metadata: Metadata

    public init(id: TransactionID, hold: TransactionID, action: Action, metadata: Metadata = .empty) {
        self.id = id
        self.hold = hold
        self.action = action
        self.metadata = metadata
    }

    public enum Action: Hashable, Sendable {
        /// Posts `amount` (nil: the amount held) and releases the whole hold.
        case post(amount: Int64?)
        /// Releases the hold and changes no balance.
        case void
        /// The ledger's void of a hold past its expiry (``HoldExpiry``): refused before it.
        case expire
    }

    /// The void the ledger makes when `hold` expires. Its id is derived from the hold's, so that every instance
    /// that voids the hold makes the same record, and all but the first replay it; `attempt` > 0 derives again
    /// from the last, should a client have taken that id.
    public static func expiry(of hold: TransactionID, attempt: Int = 0) -> Resolution {
        var id = hold
        for _ in 0...attempt { id = derivedID(from: id) }
        return Resolution(id: id, hold: hold, action: .expire)
    }

    /// A UUID (version 8, RFC 9562) whose 122 free bits mix every bit of `id`'s: two rounds of SplitMix64's
    /// finalizer over both halves, each half feeding the other.
    static func derivedID(from id: TransactionID) -> TransactionID {
        func mix(_ value: UInt64) -> UInt64 {
            var z = value &+ 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let bytes = id.uuid.uuid
        var high: UInt64 = 0
        var low: UInt64 = 0
        withUnsafeBytes(of: bytes) { raw in
            for index in 0..<8 { high = high << 8 | UInt64(raw[index]) }
            for index in 8..<16 { low = low << 8 | UInt64(raw[index]) }
        }
        high = mix(high ^ 0x686F_6C64_2D65_7870)  // "hold-exp"
        low = mix(low ^ high)
        high = mix(high ^ low)
        high = high & ~0xF000 | 0x8000  // version 8
        low = low & ~(0xC000_0000_0000_0000 as UInt64) | 0x8000_0000_0000_0000  // variant 10
        var out = [UInt8](repeating: 0, count: 16)
        for index in 0..<8 {
            out[index] = UInt8(truncatingIfNeeded: high >> (56 - 8 * index))
            out[8 + index] = UInt8(truncatingIfNeeded: low >> (56 - 8 * index))
        }
        return TransactionID(
            UUID(
                uuid: (
                    out[0], out[1], out[2], out[3], out[4], out[5], out[6], out[7], out[8], out[9], out[10], out[11],
                    out[12], out[13], out[14], out[15]
                )))
    }
}

/// A hold as the ledger recorded it, and its resolution once it has one.
public struct Hold: Hashable, Sendable {
    /// The hold's record (``Transaction/Role/hold(expiresAt:)``).
    public let entry: LedgerEntry
    /// Its post or void, nil while it is open.
    public let resolution: LedgerEntry?

    public init(entry: LedgerEntry, resolution: LedgerEntry?) {
        self.entry = entry
        self.resolution = resolution
    }

    public var expiresAt: Timestamp? { entry.transaction.role.expiresAt }

    /// Where it stands at `now`: an open hold past its expiry is expired already (no resolution is accepted),
    /// though the ledger's void that releases it may not be committed yet.
    public func state(at now: Timestamp) -> HoldState {
        switch resolution?.transaction.role {
        case .post: return .posted
        case .void(_, let expired): return expired ? .expired : .voided
        case .posting, .hold, nil:
            if let expiresAt, now >= expiresAt { return .expired }
            return .pending
        }
    }
}

public enum HoldState: String, Hashable, Sendable {
    case pending, posted, voided, expired
}

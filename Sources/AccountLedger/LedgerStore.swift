/// Where the ledger keeps its state. The store targets implement it (SQLiteStore, PostgresStore); the ledger holds
/// the rules. A store that has background work of its own (merges, a pool) is also a `Service`, which the
/// application runs beside the ledger.
///
/// **Gap-safe visibility**, the rule every store keeps: once any reader has seen a transaction with sequence S,
/// no transaction with a sequence ≤ S becomes visible later. A store assigns sequences in commit order, inside
/// the write transaction that makes them visible, and never lets a commit with smaller sequences become visible
/// after one with larger sequences (SQLite's single writer gives this: each commit takes the next sequences while
/// it holds the write lock, and becomes visible at once, whole; PostgreSQL's commits all update one row, the ledger
/// head, and only if it still holds the last sequence their snapshot read, see ``PostgresLedgerStore``).
public protocol LedgerStore: Sendable {
    /// Commits the items whose keys are `keys` in one atomic, durable write transaction, decided by the ledger's
    /// rules.
    ///
    /// Inside the transaction the store reads what the rules need (``LedgerSnapshot``), calls `decide` once with
    /// it, writes the ``CommitPlan``'s changes (its records, account changes, and holds' resolutions, each hold
    /// resolved at most once: a second resolution of a hold fails the write), and commits. It returns the plan once the commit is durable. If
    /// anything fails, nothing is written and the error is thrown. (A store may roll back and try once more on a
    /// new snapshot, calling `decide` again; it returns the plan it committed. `decide` is pure.)
    func commit(
        _ keys: CommitKeys, decide: @escaping @Sendable (LedgerSnapshot) -> CommitPlan
    ) async throws -> CommitPlan

    func transaction(_ id: TransactionID) async throws -> LedgerEntry?
    /// The post or void that resolved the hold `hold`; nil while it is open (or when no hold has that id).
    func resolution(of hold: TransactionID) async throws -> LedgerEntry?
    /// Open holds whose expiry is at or before `instant`, earliest first, at most `limit`: an index range.
    func expiredHolds(at instant: Timestamp, limit: Int) async throws -> [TransactionID]
    func balance(of account: AccountID) async throws -> Int64?
    /// The balance after the account's last transaction committed at or before `instant`; nil when it had none.
    func balance(of account: AccountID, at instant: Timestamp) async throws -> Int64?
    /// The account's transactions with a sequence below `before` (all when nil), newest first, at most `limit`.
    func statement(of account: AccountID, before: Int64?, limit: Int) async throws -> [LedgerEntry]
    /// Every transaction with a sequence above `after`, in sequence order, at most `limit`.
    func transactions(after: Int64, limit: Int) async throws -> [LedgerEntry]
    func transactionVolume() async throws -> TransactionVolume

    /// Opens or configures accounts in one atomic, durable write transaction, serialized with every commit: the
    /// store reads the accounts (absent: they do not exist), calls `decide` once with them, writes the settings
    /// of each plan that has some, in order (opening an account when the plan's `previous` is nil), and commits.
    /// It returns the decisions; a refused configuration writes nothing, and does not disturb the others.
    func configure(
        _ accounts: [AccountID],
        decide: @escaping @Sendable ([AccountID: Account]) -> [Result<ConfigurationPlan, LedgerError>]
    ) async throws -> [Result<ConfigurationPlan, LedgerError>]
    func account(_ id: AccountID) async throws -> Account?
    /// Accounts in id order after `after` (from the first when nil), at most `limit`; with `filter`, only those
    /// whose metadata holds exactly that member.
    func accounts(after: AccountID?, limit: Int, filter: MetadataFilter?) async throws -> [Account]

    /// Answers a read that finds nothing (an index probe) from the database that takes the writes: the
    /// readiness probe. By default, a feed read past the last sequence.
    func probe() async throws

    /// Why the store cannot take writes now, when it knows (a full disk that its background work keeps
    /// retrying on, say); nil when it has no reason to think so. The readiness probe reports it.
    var unavailability: StoreUnavailableError? { get }

    /// Whether every commit to the database goes through this store (no other process writes to it), so that
    /// an answer read from it stays true until this store's next commit.
    var isSoleWriter: Bool { get }

    /// The longest a request may wait for this store, end to end (queued for a commit, or behind other reads),
    /// before it is answered ``StoreUnavailableError``; nil: no bound (the store answers or fails by itself).
    var deadline: Duration? { get }
}

extension LedgerStore {
    public func probe() async throws { _ = try await transactions(after: .max, limit: 1) }
    public var unavailability: StoreUnavailableError? { nil }
    public var isSoleWriter: Bool { false }
    public var deadline: Duration? { nil }
}

/// What a commit's snapshot reads: every item's id, the postings' accounts, and the holds that resolutions name
/// (with their accounts), each in the items' order (a key may repeat).
public struct CommitKeys: Sendable, Hashable {
    public var ids: [TransactionID] = []
    public var accounts: [AccountID] = []
    public var holds: [TransactionID] = []

    public init(ids: [TransactionID] = [], accounts: [AccountID] = [], holds: [TransactionID] = []) {
        self.ids = ids
        self.accounts = accounts
        self.holds = holds
    }

    /// The keys of ordinary postings.
    public init(_ postings: [Transaction]) {
        self.init(ids: postings.map(\.id), accounts: postings.map(\.accountID))
    }

    /// The keys of `batches`' items.
    public init(_ batches: [Batch]) {
        for batch in batches {
            for item in batch.items {
                ids.append(item.id)
                switch item {
                case .posting(let posting): accounts.append(posting.accountID)
                case .resolution(let resolution): holds.append(resolution.hold)
                }
            }
        }
    }
}

/// What the ledger's rules need to know to decide a commit, read inside its write transaction.
public struct LedgerSnapshot: Sendable {
    /// The recorded transactions whose ids are among the items' (absent ids are not recorded).
    public var recorded: [TransactionID: LedgerEntry]
    /// The postings' accounts and the named holds' accounts that exist: balance, pending sums and rules (absent
    /// accounts do not exist yet).
    public var accounts: [AccountID: AccountState]
    /// The holds that the resolutions name, with their resolutions (absent: no hold has that id).
    public var holds: [TransactionID: Hold]
    /// The largest sequence recorded, 0 when none is.
    public var lastSequence: Int64
    /// The commit time of the last recorded transaction; a new commit is never earlier.
    public var lastCreatedAt: Timestamp?

    public init(
        recorded: [TransactionID: LedgerEntry] = [:], accounts: [AccountID: AccountState] = [:],
        holds: [TransactionID: Hold] = [:], lastSequence: Int64 = 0, lastCreatedAt: Timestamp? = nil
    ) {
        self.recorded = recorded
        self.accounts = accounts
        self.holds = holds
        self.lastSequence = lastSequence
        self.lastCreatedAt = lastCreatedAt
    }
}

/// What the rules need to know of an account that exists.
public struct AccountState: Sendable, Hashable {
    public var balance: Int64
    /// The sum of the account's open holds' negative amounts (≤ 0) and of their positive ones (≥ 0).
    public var pendingDebits: Int64
    public var pendingCredits: Int64
    public var rules: AccountRules
    /// How many posted transactions it has: once it has one (or an open hold), its currency is fixed.
    public var transactionCount: Int64

    public init(
        balance: Int64, pendingDebits: Int64 = 0, pendingCredits: Int64 = 0, rules: AccountRules = .none,
        transactionCount: Int64 = 0
    ) {
        self.balance = balance
        self.pendingDebits = pendingDebits
        self.pendingCredits = pendingCredits
        self.rules = rules
        self.transactionCount = transactionCount
    }
}

/// What an account's postings must keep to: its currency and its balance limits (nil: none).
public struct AccountRules: Sendable, Hashable {
    public var currency: String?
    public var minimumBalance: Int64?
    public var maximumBalance: Int64?

    /// No currency, no limits: an account that a posting opened.
    public static let none = AccountRules()

    public init(currency: String? = nil, minimumBalance: Int64? = nil, maximumBalance: Int64? = nil) {
        self.currency = currency
        self.minimumBalance = minimumBalance
        self.maximumBalance = maximumBalance
    }
}

/// What the rules decided for a commit: an outcome per posting, and the changes the store must write.
public struct CommitPlan: Sendable {
    /// One per batch, in order: the outcome of each of its postings, or ``LedgerError/batchRefused(_:)``.
    public var outcomes: [Result<[PostingOutcome], LedgerError>] = []
    /// The new transactions to record, in posting order, with consecutive sequences and one commit time.
    public var created: [LedgerEntry] = []
    /// The new state of every account a created transaction changes, in the order of first touch.
    public var accounts: [AccountChange] = []
    /// The holds that created posts and voids resolve, in their order.
    public var resolutions: [HoldResolution] = []
    /// The commit's time: its transactions', and the opening time of the accounts it creates.
    public var createdAt = Timestamp(millisecondsSince1970: 0)
}

/// What the rules decided for an account's settings (PUT /accounts/{id}).
public struct ConfigurationPlan: Sendable {
    public let outcome: ConfigurationOutcome
    /// The settings to write; nil when the account holds them already (nothing is written).
    public let settings: AccountSettings?
    /// The account before (nil: it does not exist yet, and the write opens it), and as the commit leaves it.
    public let previous: Account?
    public let account: Account

    public init(outcome: ConfigurationOutcome, settings: AccountSettings?, previous: Account?, account: Account) {
        self.outcome = outcome
        self.settings = settings
        self.previous = previous
        self.account = account
    }
}

/// One account's change in a commit.
public struct AccountChange: Sendable, Equatable {
    public let account: AccountID
    /// The balance the snapshot held, nil for an account the commit creates. The store writes the change only
    /// if the balance is still this one, so a rule or a lock that went wrong cannot lose an update silently.
    public let previousBalance: Int64?
    public let balance: Int64
    /// How many posted transactions the commit adds to the account's count.
    public let addedTransactions: Int64
    /// The account's pending sums after the commit.
    public let pendingDebits: Int64
    public let pendingCredits: Int64

    public init(
        account: AccountID, previousBalance: Int64?, balance: Int64, addedTransactions: Int64,
        pendingDebits: Int64 = 0, pendingCredits: Int64 = 0
    ) {
        self.account = account
        self.previousBalance = previousBalance
        self.balance = balance
        self.addedTransactions = addedTransactions
        self.pendingDebits = pendingDebits
        self.pendingCredits = pendingCredits
    }
}

/// A hold that a commit resolves: the store records that it is resolved (once: a second resolution fails the
/// write) and takes it out of the expiring holds.
public struct HoldResolution: Sendable, Equatable {
    public let hold: TransactionID
    /// The hold's expiry, nil when it has none.
    public let expiresAt: Timestamp?
    /// The sequence of the post or void.
    public let sequence: Int64
}

/// The store's database cannot be reached, or did not answer in time: the request may be retried (here, once
/// the database is back, or on another instance). A commit that fails so may or may not have been written; a
/// retry with the same Transaction-Id is what settles it.
public struct StoreUnavailableError: Error, CustomStringConvertible {
    public let reason: String
    /// The database refuses writes because its disk is full: they succeed again once an operator frees space.
    public let isDiskFull: Bool

    public init(reason: String, isDiskFull: Bool = false) {
        self.reason = reason
        self.isDiskFull = isDiskFull
    }

    public var description: String { "the database is unavailable: \(reason)" }
}

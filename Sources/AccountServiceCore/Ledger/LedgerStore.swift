/// Where the ledger keeps its state. The storage module implements it; the ledger holds the rules.
public protocol LedgerStore: Sendable {
    /// Commits `postings` in one atomic, durable write transaction, decided by the ledger's rules.
    ///
    /// Inside the transaction the store reads what the rules need (``LedgerSnapshot``: the transactions already
    /// recorded under the postings' ids, the balances of their accounts), calls `decide` once with it, writes the
    /// ``CommitPlan``'s changes, and commits. It returns the plan once the commit is durable. If anything fails,
    /// nothing is written and the error is thrown.
    func commit(
        _ postings: [Transaction], decide: @escaping @Sendable (LedgerSnapshot) -> CommitPlan
    ) async throws -> CommitPlan

    func transaction(_ id: TransactionID) async throws -> Transaction?
    func balance(of account: AccountID) async throws -> Int64?
    func transactionVolume() async throws -> TransactionVolume
}

/// What the ledger's rules need to know to decide a commit, read inside its write transaction.
public struct LedgerSnapshot: Sendable {
    /// The recorded transactions whose ids are among the postings' (absent ids are not recorded).
    public var recorded: [TransactionID: Transaction]
    /// The balances of the postings' accounts that exist (absent accounts have no transaction yet).
    public var balances: [AccountID: Int64]

    public init(recorded: [TransactionID: Transaction] = [:], balances: [AccountID: Int64] = [:]) {
        self.recorded = recorded
        self.balances = balances
    }
}

/// What the rules decided for a commit: an outcome per posting, and the changes the store must write.
public struct CommitPlan: Sendable {
    /// One per posting, in order: created or replayed, or the reason it was refused.
    public var outcomes: [Result<PostingOutcome, LedgerError>] = []
    /// The new transactions to record, in posting order.
    public var created: [Transaction] = []
    /// The new balance of every account a created transaction touches, in the order of first touch.
    public var accounts: [AccountChange] = []
}

/// One account's change in a commit.
public struct AccountChange: Sendable, Equatable {
    public let account: AccountID
    /// The balance the snapshot held, nil for an account the commit creates. The store writes the change only
    /// if the balance is still this one, so a rule or a lock that went wrong cannot lose an update silently.
    public let previousBalance: Int64?
    public let balance: Int64
    /// How many created transactions the commit adds to the account's count.
    public let addedTransactions: Int64
}

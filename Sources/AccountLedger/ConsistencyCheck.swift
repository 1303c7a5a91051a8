import Foundation

/// Verifies that the stored ledger agrees with itself: every account's balance and transaction count equal the
/// sum and the count of its posted transactions, its pending sums the sums of its open holds, each hold is resolved
/// at most once and only after it, each transaction's balance_after is its account's running sum in sequence
/// order, commit times never decrease along sequence, every transaction belongs to an account, and
/// SQLite's own integrity check passes. It reads one snapshot, so it can run while the service is writing.
public struct ConsistencyCheck: Sendable {
    /// An account whose stored figures differ from its transactions.
    public struct Discrepancy: Sendable, Equatable, CustomStringConvertible {
        public let account: AccountID
        public let storedBalance: Int64?
        public let storedCount: Int64?
        public let transactionsSum: Int128
        public let transactionsCount: Int64

        public var description: String {
            let stored = storedBalance.map { "balance \($0), count \(storedCount!)" } ?? "no account row"
            return "account \(account): \(stored); its transactions sum to \(transactionsSum) over \(transactionsCount)"
        }
    }

    public struct Report: Sendable {
        public var accounts = 0
        public var transactions = 0
        public var discrepancies: [Discrepancy] = []
        /// What `PRAGMA integrity_check` and `PRAGMA foreign_key_check` reported, when not "ok".
        public var integrityErrors: [String] = []
        /// Transactions whose balance_after is not their account's running sum in sequence order, whose
        /// created_at is earlier than the previous transaction's, or that resolve a hold that is not open.
        public var historyErrors: [String] = []

        /// Accounts whose pending sums are not the sums of their open holds, or whose metadata is not in the form the store writes (``Metadata/canonicalJSON``).
        public var accountErrors: [String] = []

        /// Index tables that disagree with the transactions (SQLite: an entry missing, extra or different in a
        /// slice's merged range), and ids recorded twice.
        public var indexErrors: [String] = []

        public init() {}

        public var isConsistent: Bool {
            discrepancies.isEmpty && integrityErrors.isEmpty && historyErrors.isEmpty && indexErrors.isEmpty
                && accountErrors.isEmpty
        }
    }

    /// The comparison itself, fed by a store's rows: every transaction in sequence order, then every account.
    /// Sums in 128 bits: SQLite's sum() can overflow on an intermediate total even when every balance fits,
    /// and total() is a float. Memory grows with the number of accounts, not of transactions.
    package struct Tally {
        package var report: Report
        private var sums: [UUID: (sum: Int128, count: Int64)] = [:]
        private var lastCreatedAt = Int64.min
        /// The holds not resolved so far: their account and amount.
        private var openHolds: [UUID: (account: UUID, amount: Int64)] = [:]
        /// The open holds' sums by account, made once the transactions are all read.
        private var pendingSums: [UUID: (debits: Int128, credits: Int128)]?

        package init(report: Report = Report()) {
            self.report = report
        }

        /// In sequence order, each balance_after must be its account's running sum of posted amounts, commit times
        /// must never decrease, and a post or void must resolve a hold of its account that is open, with the
        /// held amount (a void) or at most it (a post).
        package mutating func transaction(
            sequence: Int64, id: UUID, account: UUID, amount: Int64, createdAt: Int64, balanceAfter: Int64,
            role: Transaction.Role
        ) {
            if role.isPosted {
                sums[account, default: (0, 0)].sum += Int128(amount)
                sums[account, default: (0, 0)].count += 1
            } else if sums[account] == nil {
                sums[account] = (0, 0)
            }
            report.transactions += 1
            switch role {
            case .posting: break
            case .hold:
                openHolds[id] = (account, amount)
            case .post(let hold), .void(let hold, _):
                if let open = openHolds.removeValue(forKey: hold.uuid) {
                    let fits =
                        if case .post = role {
                            (amount < 0) == (open.amount < 0) && amount.magnitude <= open.amount.magnitude
                        } else { amount == open.amount }
                    if open.account != account || !fits {
                        report.historyErrors.append(
                            "transaction \(sequence) resolves hold \(hold) of account \(AccountID(open.account)) "
                                + "(amount \(open.amount)) with amount \(amount) on account \(AccountID(account))")
                    }
                } else {
                    report.historyErrors.append(
                        "transaction \(sequence) resolves hold \(hold), which is not an open hold before it")
                }
            }
            if Int128(balanceAfter) != sums[account]!.sum {
                report.historyErrors.append(
                    "transaction \(sequence) of account \(AccountID(account)): balance_after \(balanceAfter), "
                        + "but the account's amounts up to it sum to \(sums[account]!.sum)")
            }
            if createdAt < lastCreatedAt {
                report.historyErrors.append(
                    "transaction \(sequence): created_at \(createdAt) is earlier than the one before (\(lastCreatedAt))"
                )
            }
            lastCreatedAt = createdAt
        }

        /// Balance limits are not checked: a limit may be tightened below a balance, which it then only keeps from
        /// moving further away.
        package mutating func account(
            _ id: UUID, balance: Int64, count: Int64, pendingDebits: Int64, pendingCredits: Int64, metadata: String?
        ) {
            report.accounts += 1
            if pendingSums == nil {
                var byAccount: [UUID: (debits: Int128, credits: Int128)] = [:]
                for (account, amount) in openHolds.values {
                    if amount < 0 {
                        byAccount[account, default: (0, 0)].debits += Int128(amount)
                    } else {
                        byAccount[account, default: (0, 0)].credits += Int128(amount)
                    }
                }
                pendingSums = byAccount
            }
            let (debits, credits) = pendingSums?[id] ?? (0, 0)
            if Int128(pendingDebits) != debits || Int128(pendingCredits) != credits {
                report.accountErrors.append(
                    "account \(AccountID(id)): pending debits \(pendingDebits) and credits \(pendingCredits), "
                        + "but its open holds sum to \(debits) and \(credits)")
            }
            if metadata != nil, Metadata(canonicalJSON: metadata).flatMap({ Metadata.encoded($0.members) }) != metadata
            {
                report.accountErrors.append("account \(AccountID(id)): its metadata is not in canonical form")
            }
            let (sum, transactions) = sums.removeValue(forKey: id) ?? (0, 0)
            if Int128(balance) != sum || count != transactions {
                report.discrepancies.append(
                    Discrepancy(
                        account: AccountID(id), storedBalance: balance, storedCount: count, transactionsSum: sum,
                        transactionsCount: transactions))
            }
        }

        /// The report, with the transactions of accounts that have no row.
        package mutating func finish() -> Report {
            for (account, (sum, count)) in sums {
                report.discrepancies.append(
                    Discrepancy(
                        account: AccountID(account), storedBalance: nil, storedCount: nil,
                        transactionsSum: sum, transactionsCount: count))
            }
            sums = [:]
            report.discrepancies.sort { $0.account.description < $1.account.description }
            return report
        }
    }
}

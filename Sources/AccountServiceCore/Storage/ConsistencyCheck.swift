import Foundation
import GRDB

/// Verifies that the stored ledger agrees with itself: every account's balance and transaction count equal the
/// sum and the count of its transactions, each transaction's balance_after is its account's running sum in
/// sequence order, commit times never decrease along sequence, every transaction belongs to an account, and
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

    public struct MissingDatabase: Error, CustomStringConvertible {
        let path: String
        public var description: String { "there is no database at \(path)" }
    }

    public struct Report: Sendable {
        public var accounts = 0
        public var transactions = 0
        public var discrepancies: [Discrepancy] = []
        /// What `PRAGMA integrity_check` and `PRAGMA foreign_key_check` reported, when not "ok".
        public var integrityErrors: [String] = []
        /// Transactions whose balance_after is not their account's running sum in sequence order, or whose
        /// created_at is earlier than the previous transaction's.
        public var historyErrors: [String] = []

        /// Index tables that disagree with the transactions (SQLite: an entry missing, extra or different in a
        /// slice's merged range), and ids recorded twice.
        public var indexErrors: [String] = []

        public var isConsistent: Bool {
            discrepancies.isEmpty && integrityErrors.isEmpty && historyErrors.isEmpty && indexErrors.isEmpty
        }
    }

    /// Checks the database at `path`, which must exist; nothing is written to it.
    public static func run(path: String) throws -> Report {
        guard FileManager.default.fileExists(atPath: path) else { throw MissingDatabase(path: path) }
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? queue.close() }
        let indexFile = IndexFile.path(of: path)
        if FileManager.default.fileExists(atPath: indexFile) {
            try queue.writeWithoutTransaction { db in
                try db.execute(sql: "ATTACH DATABASE ? AS indexes", arguments: [indexFile])
            }
        }
        return try queue.read { db in try run(in: db) }
    }

    /// Checks the ledger in `db`'s main schema, and its index file when attached as `indexes`.
    static func run(in db: Database) throws -> Report {
        var report = Report()
        // The index file first: its snapshot is then no newer than the ledger's, which a statement takes the
        // first time it reads the ledger, so every entry merged in it has its transaction in the ledger's.
        let indexed = try indexFileHoldsIndexes(in: db)
        report.integrityErrors = try String.fetchAll(db, sql: "PRAGMA integrity_check").filter { $0 != "ok" }
        report.integrityErrors += try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").map { row in
            "foreign key check: table \(row[0] as String) row \(row[1] as Int64? ?? -1) refers to a missing \(row[2] as String) row"
        }

        report.indexErrors = try indexErrors(in: db, indexed: indexed)

        var tally = Tally(report: report)
        let transactions = try Row.fetchCursor(
            db,
            sql: "SELECT sequence, account_id, amount, created_at, balance_after FROM transactions ORDER BY sequence")
        while let row = try transactions.next() {
            tally.transaction(
                sequence: row[0], account: row[1], amount: row[2], createdAt: row[3], balanceAfter: row[4])
        }
        let accounts = try AccountRecord.fetchCursor(db)
        while let account = try accounts.next() {
            tally.account(account.id, balance: account.balance, count: account.transactionCount)
        }
        return tally.finish()
    }

    /// Whether the index file is attached, and holds the indexes of this ledger (else the service rebuilds it when
    /// it starts: there is nothing to compare).
    private static func indexFileHoldsIndexes(in db: Database) throws -> Bool {
        guard try String.fetchAll(db, sql: "SELECT name FROM pragma_database_list").contains("indexes"),
            try Int.fetchOne(db, sql: "PRAGMA indexes.user_version") == IndexFile.layout
        else { return false }
        return try db.tableExists("ledger") && IndexFile.holdsIndexes(in: db, indexes: "indexes", ledger: "main")
    }

    /// Each index table's slice holds exactly the entries of the transactions up to its merged point (those
    /// beyond it wait in the service's memory), and no id is recorded twice.
    static func indexErrors(in db: Database, indexed: Bool) throws -> [String] {
        guard try db.tableExists("ledger") else {
            return ["the database's schema is older than this build's: start the service once to upgrade it"]
        }
        var errors = try Row.fetchAll(
            db, sql: "SELECT lower(hex(id)), count(*) FROM transactions GROUP BY id HAVING count(*) > 1 LIMIT 100"
        ).map { row in "transaction id \(row[0] as String) is recorded \(row[1] as Int64) times" }
        guard indexed else { return errors }
        // A slice is a hex digit of the key (IndexBacklog.slice(of:)): an id's first, an account's last.
        let indexes = [
            ("transaction_ids", "substr(hex(id), 1, 1)", "id, sequence"),
            (
                "transactions_by_account", "substr(hex(account_id), 32, 1)",
                "account_id, created_at, sequence, id, amount, balance_after"
            ),
        ]
        for (table, digit, columns) in indexes {
            let expected = """
                SELECT \(columns) FROM main.transactions JOIN indexes.index_progress
                    ON name = '\(table)' AND slice = instr('0123456789ABCDEF', \(digit)) - 1
                WHERE sequence <= merged_through
                """
            let missing = try Int.fetchOne(
                db, sql: "SELECT count(*) FROM (\(expected) EXCEPT SELECT \(columns) FROM indexes.\(table))")!
            let extra = try Int.fetchOne(
                db, sql: "SELECT count(*) FROM (SELECT \(columns) FROM indexes.\(table) EXCEPT \(expected))")!
            if missing > 0 { errors.append("\(table): \(missing) merged transactions have no entry or another one") }
            if extra > 0 { errors.append("\(table): \(extra) entries match no merged transaction") }
        }
        return errors
    }

    /// The comparison itself, fed by a store's rows: every transaction in sequence order, then every account.
    /// Sums in 128 bits: SQLite's sum() can overflow on an intermediate total even when every balance fits,
    /// and total() is a float. Memory grows with the number of accounts, not of transactions.
    struct Tally {
        var report: Report
        private var sums: [UUID: (sum: Int128, count: Int64)] = [:]
        private var lastCreatedAt = Int64.min

        init(report: Report = Report()) {
            self.report = report
        }

        /// In sequence order, each balance_after must be its account's running sum, and commit times must never
        /// decrease.
        mutating func transaction(sequence: Int64, account: UUID, amount: Int64, createdAt: Int64, balanceAfter: Int64)
        {
            sums[account, default: (0, 0)].sum += Int128(amount)
            sums[account, default: (0, 0)].count += 1
            report.transactions += 1
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

        mutating func account(_ id: UUID, balance: Int64, count: Int64) {
            report.accounts += 1
            let (sum, transactions) = sums.removeValue(forKey: id) ?? (0, 0)
            if Int128(balance) != sum || count != transactions {
                report.discrepancies.append(
                    Discrepancy(
                        account: AccountID(id), storedBalance: balance, storedCount: count, transactionsSum: sum,
                        transactionsCount: transactions))
            }
        }

        /// The report, with the transactions of accounts that have no row.
        mutating func finish() -> Report {
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

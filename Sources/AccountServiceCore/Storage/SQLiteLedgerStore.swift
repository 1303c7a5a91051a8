import Foundation
import GRDB

/// The ledger's state in SQLite. A commit is one write transaction, and SQLite has one writer at a time, so
/// the snapshot the rules decide on cannot change before the commit's changes are written: no update is lost.
public struct SQLiteLedgerStore: LedgerStore {
    /// The statements the store runs, each defined once; `StorageTests` checks the plans of the reads.
    enum SQL {
        static let transactionByID = "SELECT \(LedgerEntry.columns) FROM transactions WHERE id = ?"
        static let balanceByID = "SELECT balance FROM accounts WHERE id = ?"
        /// The last balance_after of the account at or before an instant: one descent of transactions_by_account.
        static let balanceAtInstant = """
            SELECT balance_after FROM transactions WHERE account_id = ?1 AND created_at <= ?2
            ORDER BY created_at DESC, sequence DESC LIMIT 1
            """
        /// A statement page: the range of transactions_by_account below (created_at, sequence) = (the commit time
        /// of the first transaction at or after `before` ?2, `before`), read backwards. created_at never decreases
        /// along sequence, so this is "sequence < before". One statement: the bound is a scalar subquery (one
        /// descent of the table, evaluated once), so a page is one read transaction, not two.
        static let statementPage = """
            SELECT \(LedgerEntry.columns) FROM transactions
            WHERE account_id = ?1 AND created_at <= \(commitTimeFrom)
                AND (created_at < \(commitTimeFrom) OR sequence < ?2)
            ORDER BY created_at DESC, sequence DESC LIMIT ?3
            """
        /// The commit time of the first transaction at or after ?2, or the largest integer when there is none.
        private static let commitTimeFrom = """
            coalesce((SELECT created_at FROM transactions WHERE sequence >= ?2 ORDER BY sequence LIMIT 1),
                     9223372036854775807)
            """
        /// A feed page: a range of the table itself, which is ordered by sequence.
        static let feedPage = """
            SELECT \(LedgerEntry.columns) FROM transactions WHERE sequence > ?1 ORDER BY sequence LIMIT ?2
            """
        static let lastTransaction = """
            SELECT sequence, created_at FROM transactions WHERE sequence = (SELECT max(sequence) FROM transactions)
            """
        /// One statement, two index probes: max() reads the last entry of accounts_by_transaction_count, and the
        /// accounts with that count are the contiguous run of entries that follows the probe, in id order.
        static let maxTransactionVolume = """
            SELECT id, transaction_count FROM accounts
            WHERE transaction_count = (SELECT max(transaction_count) FROM accounts)
            ORDER BY id
            """
        static let insertAccount = "INSERT INTO accounts (id, balance, transaction_count) VALUES (?, ?, ?)"
        static let insertTransaction = """
            INSERT INTO transactions (\(LedgerEntry.columns)) VALUES (?, ?, ?, ?, ?, ?)
            """
        /// Applies only if the balance is still the one the rules decided on.
        static let updateAccount = """
            UPDATE accounts SET balance = ?2, transaction_count = transaction_count + ?3
            WHERE id = ?1 AND balance = ?4
            """

        /// Every statement that serves a GET, or that a commit reads with.
        static let reads = [
            transactionByID, balanceByID, balanceAtInstant, statementPage, feedPage, lastTransaction,
            maxTransactionVolume,
        ]
    }

    /// The database changed under a commit: a balance was not the one its snapshot held. Never expected; the
    /// commit is rolled back.
    struct ConcurrentModification: Error, CustomStringConvertible {
        let account: AccountID
        var description: String { "the balance of account \(account) changed during a commit" }
    }

    let pool: DatabasePool

    public init(pool: DatabasePool) {
        self.pool = pool
    }

    public func commit(
        _ postings: [Transaction], decide: @escaping @Sendable (LedgerSnapshot) -> CommitPlan
    ) async throws -> CommitPlan {
        try await pool.write { db in
            let plan = decide(try Self.snapshot(for: postings, in: db))
            try Self.write(plan, in: db)
            return plan
        }
    }

    /// Looks up each posting's id and account once (a commit of a thousand postings runs two thousand
    /// lookups, hence ``Statement/bind(_:)`` rather than `StatementArguments`).
    private static func snapshot(for postings: [Transaction], in db: Database) throws -> LedgerSnapshot {
        var snapshot = LedgerSnapshot()
        let last = try db.cachedStatement(sql: SQL.lastTransaction)
        last.bind()
        if let (sequence, createdAt) = try last.firstRow(in: db, { ($0.integer(at: 0), $0.integer(at: 1)) }) {
            snapshot.lastSequence = sequence
            snapshot.lastCreatedAt = Timestamp(millisecondsSince1970: createdAt)
        }
        let transactionByID = try db.cachedStatement(sql: SQL.transactionByID)
        let balanceByID = try db.cachedStatement(sql: SQL.balanceByID)
        // A new account is looked up again by each of its postings; that costs less than remembering it.
        for posting in postings {
            transactionByID.bind(.uuid(posting.id.uuid))
            if let recorded = try transactionByID.firstRow(in: db, LedgerEntry.init(row:)) {
                snapshot.recorded[posting.id] = recorded
            }
            if snapshot.balances[posting.accountID] == nil {
                balanceByID.bind(.uuid(posting.accountID.uuid))
                if let balance = try balanceByID.firstRow(in: db, { $0.integer(at: 0) }) {
                    snapshot.balances[posting.accountID] = balance
                }
            }
        }
        return snapshot
    }

    /// Accounts first: a transaction's account must exist (a foreign key).
    private static func write(_ plan: CommitPlan, in db: Database) throws {
        let updateAccount = try db.cachedStatement(sql: SQL.updateAccount)
        let insertAccount = try db.cachedStatement(sql: SQL.insertAccount)
        for change in plan.accounts {
            if let previous = change.previousBalance {
                updateAccount.bind(
                    .uuid(change.account.uuid), .integer(change.balance), .integer(change.addedTransactions),
                    .integer(previous))
                _ = try updateAccount.stepToRow(in: db)
                guard db.changesCount == 1 else { throw ConcurrentModification(account: change.account) }
            } else {
                insertAccount.bind(
                    .uuid(change.account.uuid), .integer(change.balance), .integer(change.addedTransactions))
                _ = try insertAccount.stepToRow(in: db)
            }
        }
        let insertTransaction = try db.cachedStatement(sql: SQL.insertTransaction)
        for entry in plan.created {
            insertTransaction.bind(
                .integer(entry.sequence), .uuid(entry.transaction.id.uuid), .uuid(entry.transaction.accountID.uuid),
                .integer(entry.transaction.amount), .integer(entry.createdAt.millisecondsSince1970),
                .integer(entry.balanceAfter))
            _ = try insertTransaction.stepToRow(in: db)
        }
    }

    public func transaction(_ id: TransactionID) async throws -> LedgerEntry? {
        try read { db in
            let statement = try db.cachedStatement(sql: SQL.transactionByID)
            statement.bind(.uuid(id.uuid))
            return try statement.firstRow(in: db, LedgerEntry.init(row:))
        }
    }

    public func balance(of account: AccountID, at instant: Timestamp) async throws -> Int64? {
        try read { db in
            try Int64.fetchOne(
                db.cachedStatement(sql: SQL.balanceAtInstant),
                arguments: [account.uuid, instant.millisecondsSince1970])
        }
    }

    public func statement(of account: AccountID, before: Int64?, limit: Int) async throws -> [LedgerEntry] {
        try read { db in
            let page = try db.cachedStatement(sql: SQL.statementPage)
            page.bind(.uuid(account.uuid), .integer(before ?? .max), .integer(Int64(limit)))
            return try page.rows(in: db, LedgerEntry.init(row:))
        }
    }

    public func transactions(after: Int64, limit: Int) async throws -> [LedgerEntry] {
        try read { db in
            let page = try db.cachedStatement(sql: SQL.feedPage)
            page.bind(.integer(after), .integer(Int64(limit)))
            return try page.rows(in: db, LedgerEntry.init(row:))
        }
    }

    public func balance(of account: AccountID) async throws -> Int64? {
        try read { db in try Int64.fetchOne(db.cachedStatement(sql: SQL.balanceByID), arguments: [account.uuid]) }
    }

    public func transactionVolume() async throws -> TransactionVolume {
        try read { db in
            let rows = try Row.fetchAll(db.cachedStatement(sql: SQL.maxTransactionVolume))
            let maxVolume: Int64 = rows.first?["transaction_count"] ?? 0
            return TransactionVolume(maxVolume: maxVolume, accounts: rows.map { AccountID($0["id"]) })
        }
    }

    /// Runs read statements on the calling thread, on a reader connection of the pool.
    ///
    /// Every read of the ledger is a single SELECT, which SQLite already runs atomically on one snapshot, and it
    /// sees every commit that completed before it started, so the explicit read transaction of
    /// `DatabasePool.read` would only add two statements. Running it here rather than on the reader's dispatch
    /// queue saves two thread switches per request, which cost far more than the index lookup itself (profiled:
    /// SQLite was 3% of the samples of a GET /balance load, thread switching over a third). The pool is sized
    /// so that this never waits for a connection (see ``LedgerDatabase/open(path:durability:)``).
    private func read<T>(_ statement: (Database) throws -> T) throws -> T {
        try pool.unsafeRead(statement)
    }
}

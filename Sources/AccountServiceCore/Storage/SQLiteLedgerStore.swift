import Foundation
import GRDB

/// The ledger's state in SQLite. Every balance change is arithmetic in SQL inside a write transaction, and
/// SQLite has one writer at a time, so concurrent postings can never lose an update.
public struct SQLiteLedgerStore: LedgerStore {
    let pool: DatabasePool

    public init(pool: DatabasePool) {
        self.pool = pool
    }

    public func write<T: Sendable>(_ body: @escaping @Sendable (any LedgerWriter) throws -> T) async throws -> T {
        try await pool.write { db in try body(SQLiteLedgerWriter(db: db)) }
    }

    public func transaction(_ id: TransactionID) async throws -> Transaction? {
        try read { db in try SQLiteLedgerWriter.transaction(id, in: db) }
    }

    public func balance(of account: AccountID) async throws -> Int64? {
        try read { db in
            try Int64.fetchOne(
                db.cachedStatement(sql: "SELECT balance FROM accounts WHERE id = ?"),
                arguments: [account.uuid]
            )
        }
    }

    public func transactionVolume() async throws -> TransactionVolume {
        try read { db in
            // One statement, two index probes: max() reads the last entry of accounts_by_transaction_count,
            // and the accounts with that count are the contiguous run of entries that follows the probe.
            let rows = try Row.fetchAll(
                db.cachedStatement(sql: """
                    SELECT id, transaction_count FROM accounts
                    WHERE transaction_count = (SELECT max(transaction_count) FROM accounts)
                    ORDER BY id
                    """)
            )
            let maxVolume: Int64 = rows.first?["transaction_count"] ?? 0
            return TransactionVolume(maxVolume: maxVolume, accounts: rows.map { AccountID($0["id"]) })
        }
    }
}

extension SQLiteLedgerStore {
    /// Runs one read statement on the calling thread, on a reader connection of the pool.
    ///
    /// Every read of the ledger is a single SELECT, which SQLite already runs atomically on one snapshot, and
    /// it sees every commit that completed before it started, so the explicit read transaction of
    /// `DatabasePool.read` would only add two statements. Running it here rather than on the reader's dispatch
    /// queue saves two thread switches per request, which cost far more than the index lookup itself (profiled:
    /// SQLite was 3% of the samples of a GET /balance load, thread switching over a third). The pool holds more
    /// readers than there are threads to ask for one, so this never waits for a connection.
    fileprivate func read<T>(_ statement: (Database) throws -> T) throws -> T {
        try pool.unsafeRead(statement)
    }
}

/// The ledger's write primitives on an open write transaction.
struct SQLiteLedgerWriter: LedgerWriter {
    let db: Database

    static func transaction(_ id: TransactionID, in db: Database) throws -> Transaction? {
        try TransactionRecord.fetchOne(
            db.cachedStatement(sql: "SELECT id, account_id, amount FROM transactions WHERE id = ?"),
            arguments: [id.uuid]
        )?.transaction
    }

    func transaction(_ id: TransactionID) throws -> Transaction? {
        try Self.transaction(id, in: db)
    }

    func apply(_ amount: Int64, to account: AccountID) throws -> Bool {
        // The new balance is computed by SQLite. The update only happens when the current balance lies in the
        // range from which adding `amount` stays within 64 bits; the bounds are computed here without overflow
        // (Int64.max - amount for amount >= 0, Int64.min - amount for amount < 0).
        let lowest = amount < 0 ? Int64.min - amount : Int64.min
        let highest = amount >= 0 ? Int64.max - amount : Int64.max
        try db.cachedStatement(sql: """
            INSERT INTO accounts (id, balance, transaction_count) VALUES (?1, ?2, 1)
            ON CONFLICT (id) DO UPDATE
                SET balance = balance + excluded.balance, transaction_count = transaction_count + 1
                WHERE balance BETWEEN ?3 AND ?4
            """).execute(arguments: [account.uuid, amount, lowest, highest])
        return db.changesCount == 1
    }

    func record(_ transaction: Transaction) throws {
        try TransactionRecord(transaction).insert(db)
    }
}

import AccountLedger
import Foundation
import GRDB

/// The index tables of a SQLite ledger, in a database file of their own beside it: `<database>-index`.
///
/// SQLite has one writer per file. With the index tables in the ledger's file, every merge of waiting index
/// entries (``IndexBacklog``) paused the commits; in a file of their own they are written by a writer of their
/// own, beside the commits, on the other core. The file holds nothing that the ledger's `transactions` table
/// does not: it is rebuilt from it whenever it is missing, of another layout, built from another ledger (each
/// ledger, and each backup copy of one, has an id of its own), or ahead of the ledger (a ledger restored from an
/// older copy). Its connections attach the ledger's file as `ledger`, so that one statement can read both.
enum IndexFile {
    /// The layout of the file (`PRAGMA user_version`); a file of another layout is rebuilt, not migrated.
    static let layout = 3

    static func path(of database: String) -> String { database + "-index" }

    /// Opens the index file of the ledger `ledger` serves, rebuilt first if it does not hold the ledger's
    /// indexes. A file SQLite finds damaged or not a database at all is removed and built anew: it holds nothing
    /// that the ledger does not.
    /// - Throws: ``LedgerDatabase/OpenError`` when the file cannot be opened or built (a full disk, say).
    static func open(ledger: DatabasePool) throws -> DatabasePool {
        let path = path(of: ledger.path)
        do {
            do {
                return try openOrRebuild(ledger: ledger)
            } catch let error as DatabaseError where [.SQLITE_NOTADB, .SQLITE_CORRUPT].contains(error.resultCode) {
                for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
                return try openOrRebuild(ledger: ledger)
            }
        } catch let error as DatabaseError {
            throw LedgerDatabase.OpenError(path: path, error)
        }
    }

    private static func openOrRebuild(ledger: DatabasePool) throws -> DatabasePool {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.maximumReaderCount = ledger.configuration.maximumReaderCount
        configuration.prepareDatabase { db in
            try db.execute(sql: "ATTACH DATABASE ? AS ledger", arguments: [ledger.path])
        }
        LedgerDatabase.createPrivately(path(of: ledger.path))
        let indexes = try DatabasePool(path: path(of: ledger.path), configuration: configuration)
        try indexes.writeWithoutTransaction { db in
            // Its commits need not reach the disk one by one: whatever a power cut takes from this file, the
            // start reads back from the ledger's (IndexBacklog), whose commits do.
            try db.execute(sql: "PRAGMA main.synchronous = NORMAL")
            // Deferred, as every transaction of this file's writer: an immediate one would also take the ledger's
            // write lock, which is the ledger writer's.
            try db.inTransaction(.deferred) {
                if try !holdsIndexes(in: db) { try rebuild(in: db) }
                return .commit
            }
        }
        return indexes
    }

    /// Whether the index file attached as `indexes` holds the indexes of the ledger attached as `ledger`, at most
    /// as far as its last transaction.
    static func holdsIndexes(in db: Database, indexes: String = "main", ledger: String = "ledger") throws -> Bool {
        guard try Int.fetchOne(db, sql: "PRAGMA \(indexes).user_version") == layout else { return false }
        return try Bool.fetchOne(
            db,
            sql: """
                SELECT (SELECT ledger_id FROM \(indexes).indexed_ledger) = (SELECT id FROM \(ledger).ledger)
                    AND (SELECT max(merged_through) FROM \(indexes).index_progress)
                        <= (SELECT coalesce(max(sequence), 0) FROM \(ledger).transactions)
                """) ?? false
    }

    /// Fills the index tables from the ledger's transactions, in key order, with every slice complete.
    static func rebuild(in db: Database) throws {
        try db.execute(
            sql: """
                DROP TABLE IF EXISTS main.transaction_ids;
                DROP TABLE IF EXISTS main.transactions_by_account;
                DROP TABLE IF EXISTS main.index_progress;
                DROP TABLE IF EXISTS main.indexed_ledger;

                -- Serves idempotency and GET /transaction/{id}: the id's sequence, then the ledger's row.
                CREATE TABLE main.transaction_ids (
                    id BLOB NOT NULL PRIMARY KEY CHECK (length(id) = 16),
                    sequence INTEGER NOT NULL
                ) STRICT, WITHOUT ROWID;
                INSERT INTO main.transaction_ids (id, sequence)
                SELECT id, sequence FROM ledger.transactions ORDER BY id;

                -- Serves the statement and the balance at an instant: one account's entries in commit order
                -- (created_at never decreases along sequence, which breaks ties), whole, so a statement page is
                -- one range of it.
                CREATE TABLE main.transactions_by_account (
                    account_id BLOB NOT NULL,
                    created_at INTEGER NOT NULL,
                    sequence INTEGER NOT NULL,
                    id BLOB NOT NULL,
                    amount INTEGER NOT NULL,
                    balance_after INTEGER NOT NULL,
                    metadata TEXT,
                    kind INTEGER,
                    pending_id BLOB,
                    expires_at INTEGER,
                    PRIMARY KEY (account_id, created_at, sequence)
                ) STRICT, WITHOUT ROWID;
                INSERT INTO main.transactions_by_account (\(LedgerEntry.columns))
                SELECT \(LedgerEntry.columns) FROM ledger.transactions ORDER BY account_id, created_at, sequence;

                -- Per index and slice (IndexBacklog): the sequence up to which it holds every entry.
                CREATE TABLE main.index_progress (
                    name TEXT NOT NULL CHECK (name IN ('transaction_ids', 'transactions_by_account')),
                    slice INTEGER NOT NULL CHECK (slice BETWEEN 0 AND 15),
                    merged_through INTEGER NOT NULL,
                    PRIMARY KEY (name, slice)
                ) STRICT, WITHOUT ROWID;
                WITH RECURSIVE slices (slice) AS (SELECT 0 UNION ALL SELECT slice + 1 FROM slices WHERE slice < 15)
                INSERT INTO main.index_progress (name, slice, merged_through)
                SELECT name, slice, (SELECT coalesce(max(sequence), 0) FROM ledger.transactions)
                FROM (SELECT 'transaction_ids' AS name UNION ALL SELECT 'transactions_by_account'), slices;

                -- The ledger these are the indexes of.
                CREATE TABLE main.indexed_ledger (ledger_id BLOB NOT NULL) STRICT;
                INSERT INTO main.indexed_ledger (ledger_id) SELECT id FROM ledger.ledger;

                PRAGMA main.user_version = \(layout);
                """)
    }
}

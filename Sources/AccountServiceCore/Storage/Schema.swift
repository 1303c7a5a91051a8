import GRDB

/// The database schema, one named migration per step. A released migration is never edited: add a new one.
enum Schema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: accounts and transactions") { db in
            // Ids are 16-byte blobs (not 36-character text): less than half the size in the table and in every
            // index, and compared with memcmp. STRICT makes SQLite refuse a value of the wrong type instead of
            // storing it, so an integer overflow that SQLite would turn into a REAL can never be stored.
            // WITHOUT ROWID clusters each table on its id, so a lookup by id is one B-tree descent and the id is
            // stored once (a rowid table would need a second, unique index on the id).
            try db.execute(
                sql: """
                    CREATE TABLE accounts (
                        id BLOB NOT NULL PRIMARY KEY CHECK (length(id) = 16),
                        balance INTEGER NOT NULL,
                        transaction_count INTEGER NOT NULL CHECK (transaction_count > 0)
                    ) STRICT, WITHOUT ROWID;

                    -- Serves GET /max_transaction_volume: max() is the last entry of this index, and the accounts
                    -- that share it are one contiguous range of it, already in id order (the index holds the key).
                    CREATE INDEX accounts_by_transaction_count ON accounts (transaction_count);

                    CREATE TABLE transactions (
                        id BLOB NOT NULL PRIMARY KEY CHECK (length(id) = 16),
                        account_id BLOB NOT NULL REFERENCES accounts (id),
                        amount INTEGER NOT NULL
                    ) STRICT, WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v2: sequence, commit time and balance after every transaction") { db in
            // The table is rebuilt around its commit order: `sequence` is the rowid, so the change feed reads a
            // contiguous range of the table itself, and the new columns are NOT NULL from the start. The
            // Transaction-Id keeps its own unique index (idempotency, GET /transaction). A database written by v1
            // holds no order or time: its transactions get sequences in (account, id) order, all stamped with the
            // time of the migration, and each balance_after is the running sum of its account in that order, so
            // the last one equals the account's balance.
            let now = Timestamp.now().millisecondsSince1970
            try db.execute(
                sql: """
                    CREATE TABLE transactions_v2 (
                        sequence INTEGER PRIMARY KEY CHECK (sequence > 0),
                        id BLOB NOT NULL UNIQUE CHECK (length(id) = 16),
                        account_id BLOB NOT NULL REFERENCES accounts (id),
                        amount INTEGER NOT NULL,
                        created_at INTEGER NOT NULL,
                        balance_after INTEGER NOT NULL
                    ) STRICT;

                    INSERT INTO transactions_v2 (sequence, id, account_id, amount, created_at, balance_after)
                    SELECT row_number() OVER (ORDER BY account_id, id), id, account_id, amount, ?,
                           sum(amount) OVER (PARTITION BY account_id ORDER BY id ROWS UNBOUNDED PRECEDING)
                    FROM transactions;

                    DROP TABLE transactions;
                    ALTER TABLE transactions_v2 RENAME TO transactions;

                    -- Serves the statement and the balance at an instant: one account's entries in commit order
                    -- (created_at never decreases along sequence, which breaks ties). It covers a statement page,
                    -- whose rows are otherwise spread over the commit-ordered table.
                    CREATE INDEX transactions_by_account
                        ON transactions (account_id, created_at, sequence, id, amount, balance_after);
                    """, arguments: [now])
        }
        return migrator
    }
}

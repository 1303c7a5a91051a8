import AccountLedger
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
        migrator.registerMigration("v3: index tables filled in slices, apart from commits") { db in
            // A commit appends its transactions to the table and nothing else; their entries by id and by
            // account go into two tables of their own later, many at a time (see IndexBacklog; the figures are
            // in docs/decisions/0004-index-file.md). The table is rebuilt without its UNIQUE id index (the ledger's
            // rules keep ids unique; `check` verifies it) and the covering index becomes a table. Both index
            // tables are cut into 16 slices by a hex digit of their key; index_progress says up to which
            // sequence each slice holds every entry. Here every slice is complete.
            try db.execute(
                sql: """
                    CREATE TABLE transactions_v3 (
                        sequence INTEGER PRIMARY KEY CHECK (sequence > 0),
                        id BLOB NOT NULL CHECK (length(id) = 16),
                        account_id BLOB NOT NULL REFERENCES accounts (id),
                        amount INTEGER NOT NULL,
                        created_at INTEGER NOT NULL,
                        balance_after INTEGER NOT NULL
                    ) STRICT;
                    INSERT INTO transactions_v3 (sequence, id, account_id, amount, created_at, balance_after)
                    SELECT sequence, id, account_id, amount, created_at, balance_after FROM transactions
                    ORDER BY sequence;
                    DROP TABLE transactions;
                    ALTER TABLE transactions_v3 RENAME TO transactions;

                    -- Serves idempotency and GET /transaction/{id}: the id's sequence, then the table's row.
                    CREATE TABLE transaction_ids (
                        id BLOB NOT NULL PRIMARY KEY CHECK (length(id) = 16),
                        sequence INTEGER NOT NULL
                    ) STRICT, WITHOUT ROWID;
                    INSERT INTO transaction_ids (id, sequence) SELECT id, sequence FROM transactions ORDER BY id;

                    -- Serves the statement and the balance at an instant: one account's entries in commit order
                    -- (created_at never decreases along sequence, which breaks ties), whole, so a statement page
                    -- is one range of it.
                    CREATE TABLE transactions_by_account (
                        account_id BLOB NOT NULL,
                        created_at INTEGER NOT NULL,
                        sequence INTEGER NOT NULL,
                        id BLOB NOT NULL,
                        amount INTEGER NOT NULL,
                        balance_after INTEGER NOT NULL,
                        PRIMARY KEY (account_id, created_at, sequence)
                    ) STRICT, WITHOUT ROWID;
                    INSERT INTO transactions_by_account
                    SELECT account_id, created_at, sequence, id, amount, balance_after FROM transactions
                    ORDER BY account_id, created_at, sequence;

                    CREATE TABLE index_progress (
                        name TEXT NOT NULL CHECK (name IN ('transaction_ids', 'transactions_by_account')),
                        slice INTEGER NOT NULL CHECK (slice BETWEEN 0 AND 15),
                        merged_through INTEGER NOT NULL,
                        PRIMARY KEY (name, slice)
                    ) STRICT, WITHOUT ROWID;
                    WITH RECURSIVE slices (slice) AS (SELECT 0 UNION ALL SELECT slice + 1 FROM slices WHERE slice < 15)
                    INSERT INTO index_progress (name, slice, merged_through)
                    SELECT name, slice, (SELECT coalesce(max(sequence), 0) FROM transactions)
                    FROM (SELECT 'transaction_ids' AS name UNION ALL SELECT 'transactions_by_account'), slices;
                    """)
        }
        migrator.registerMigration("v4: index tables in a file of their own") { db in
            // The index tables move to `<database>-index` (IndexFile), written by a connection of their own, so
            // that merges run beside commits instead of between them: SQLite has one writer per file. They hold
            // nothing that the transactions do not, so they are dropped here and rebuilt there. `ledger` names
            // this database (a random id, new in each backup copy), so that an index file is used only with the
            // ledger it was built from.
            try db.execute(
                sql: """
                    DROP TABLE transaction_ids;
                    DROP TABLE transactions_by_account;
                    DROP TABLE index_progress;
                    CREATE TABLE ledger (id BLOB NOT NULL PRIMARY KEY CHECK (length(id) = 16)) STRICT, WITHOUT ROWID;
                    INSERT INTO ledger (id) VALUES (randomblob(16));
                    """)
        }
        migrator.registerMigration("v5: accounts with rules, metadata and pending sums") { db in
            // Accounts can now be opened before their first transaction (a count of 0), and carry their opening
            // time, the sums of their open holds (zero until holds exist), a currency, balance limits and metadata.
            // SQLite cannot change a CHECK in place, so the table is rebuilt; an existing account keeps its balance
            // and count, gets no currency, no limits, empty metadata, and the time of its first transaction as
            // its opening time. Columns that are usually absent come last and are NULL when absent (a NULL, like
            // a 0, costs one byte of the record's header and nothing else).
            let now = Timestamp.now().millisecondsSince1970
            try db.execute(
                sql: """
                    CREATE TABLE accounts_v5 (
                        id BLOB NOT NULL PRIMARY KEY CHECK (length(id) = 16),
                        balance INTEGER NOT NULL,
                        transaction_count INTEGER NOT NULL CHECK (transaction_count >= 0),
                        created_at INTEGER NOT NULL,
                        pending_debits INTEGER NOT NULL DEFAULT 0 CHECK (pending_debits <= 0),
                        pending_credits INTEGER NOT NULL DEFAULT 0 CHECK (pending_credits >= 0),
                        currency TEXT,
                        minimum_balance INTEGER,
                        maximum_balance INTEGER,
                        -- Metadata.canonicalJSON: the members sorted by key, NULL when there is none.
                        metadata TEXT,
                        CHECK (minimum_balance <= maximum_balance)
                    ) STRICT, WITHOUT ROWID;

                    INSERT INTO accounts_v5 (id, balance, transaction_count, created_at)
                    SELECT a.id, a.balance, a.transaction_count, coalesce(f.created_at, ?)
                    FROM accounts AS a
                    LEFT JOIN (SELECT account_id, min(created_at) AS created_at FROM transactions GROUP BY account_id)
                        AS f ON f.account_id = a.id
                    ORDER BY a.id;

                    DROP TABLE accounts;
                    ALTER TABLE accounts_v5 RENAME TO accounts;
                    CREATE INDEX accounts_by_transaction_count ON accounts (transaction_count);

                    -- Serves GET /accounts?metadata.KEY=VALUE: the accounts holding one member are one range of
                    -- this table, in id order (so a page is a range read, and the next page starts after its
                    -- last id). It holds a row per member of every account's metadata.
                    CREATE TABLE account_metadata (
                        key TEXT NOT NULL,
                        value TEXT NOT NULL,
                        account_id BLOB NOT NULL REFERENCES accounts (id),
                        PRIMARY KEY (key, value, account_id)
                    ) STRICT, WITHOUT ROWID;

                    -- Metadata.canonicalJSON of each transaction, NULL when it has none (one header byte).
                    ALTER TABLE transactions ADD COLUMN metadata TEXT;
                    """, arguments: [now])
        }
        migrator.registerMigration("v6: holds") { db in
            // A transaction's kind (NULL for an ordinary posting: most rows, so the column costs them one header
            // byte, as do the two others), the hold a post or void resolves, and a hold's expiry. Without CHECK
            // constraints: with them (kind 1-4, pending_id exactly on kinds 2-4, expires_at only on holds) every
            // insert ran SQLite's constraint program, and bulk postings went 15-20% slower (store-benchmark,
            // alternating runs: 38,000-46,000 against 46,000-56,000 postings/s); `check` verifies the same. A hold's
            // resolution is a row of hold_resolutions keyed by the hold: a second resolution of one hold is a
            // primary-key violation, whatever the rules decided. expiring_holds holds the open holds that have an
            // expiry, in expiry order, so the expiry's "which holds are due" is a range read at the start of it
            // (a resolution takes its hold out). Existing databases have no holds: nothing to fill.
            try db.execute(
                sql: """
                    ALTER TABLE transactions ADD COLUMN kind INTEGER;
                    ALTER TABLE transactions ADD COLUMN pending_id BLOB;
                    ALTER TABLE transactions ADD COLUMN expires_at INTEGER;

                    CREATE TABLE hold_resolutions (
                        hold_id BLOB NOT NULL PRIMARY KEY CHECK (length(hold_id) = 16),
                        sequence INTEGER NOT NULL
                    ) STRICT, WITHOUT ROWID;

                    CREATE TABLE expiring_holds (
                        expires_at INTEGER NOT NULL,
                        hold_id BLOB NOT NULL CHECK (length(hold_id) = 16),
                        PRIMARY KEY (expires_at, hold_id)
                    ) STRICT, WITHOUT ROWID;
                    """)
        }
        return migrator
    }
}

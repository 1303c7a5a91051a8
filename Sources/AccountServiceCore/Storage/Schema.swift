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
        return migrator
    }
}

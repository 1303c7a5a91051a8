import AccountLedger
import Logging
import PostgresNIO

/// The PostgreSQL schema, one numbered migration per step, applied on start. A released migration is never
/// edited: add a new one. Several instances may start at once: each applies what is missing inside one
/// transaction that first takes an advisory lock, so one migrates and the others then find nothing to do.
enum PostgresSchema {
    struct Migration {
        let version: Int
        let name: String
        /// One statement each (the extended query protocol runs one at a time).
        let statements: [String]
    }

    /// The key of the advisory lock that serializes migrations (any constant; this one spells "ledger" in ASCII).
    static let migrationLock: Int64 = 0x6C65_6467_6572

    static let migrations = [
        Migration(
            version: 1, name: "accounts, transactions and the ledger head",
            statements: [
                // uuid is 16 bytes, like the SQLite store's blobs. The sizes of bigint hold every balance, and
                // PostgreSQL refuses an overflow instead of wrapping; the ledger refuses one before it gets here.
                """
                CREATE TABLE accounts (
                    id uuid PRIMARY KEY,
                    balance bigint NOT NULL,
                    transaction_count bigint NOT NULL CHECK (transaction_count > 0)
                )
                """,
                // Serves GET /max_transaction_volume: the largest count is the last entry, and the accounts that
                // share it are one contiguous range in id order.
                "CREATE INDEX accounts_by_transaction_count ON accounts (transaction_count, id)",
                // `sequence` is the commit order (the primary key, so the change feed is a range of it); the
                // Transaction-Id is unique, which is what finally stops one id from being applied twice.
                """
                CREATE TABLE transactions (
                    sequence bigint PRIMARY KEY CHECK (sequence > 0),
                    id uuid NOT NULL UNIQUE,
                    account_id uuid NOT NULL REFERENCES accounts (id),
                    amount bigint NOT NULL,
                    created_at bigint NOT NULL,
                    balance_after bigint NOT NULL
                )
                """,
                // Serves the statement and the balance at an instant (created_at never decreases along sequence).
                "CREATE INDEX transactions_by_account ON transactions (account_id, created_at, sequence)",
                // The ledger head: one row, the last sequence and commit time. Every commit locks it first, so
                // commits from every instance are serialized in sequence order (the gap-safety rule).
                """
                CREATE TABLE ledger_head (
                    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
                    last_sequence bigint NOT NULL CHECK (last_sequence >= 0),
                    last_created_at bigint
                )
                """,
                "INSERT INTO ledger_head (last_sequence, last_created_at) VALUES (0, NULL)",
            ]),
        Migration(
            version: 2, name: "the commit checks the transactions' accounts itself",
            statements: [
                // The foreign key ran a trigger and a key-share lock per inserted transaction: about a fifth of
                // the time of a bulk commit. The commit's one write statement now checks, once, that every
                // transaction's account is one it inserts or updates (``PostgresLedgerStore/SQL/write``), and
                // `account-service check` reports any transaction whose account has no row.
                "ALTER TABLE transactions DROP CONSTRAINT transactions_account_id_fkey"
            ]),
        Migration(
            version: 3, name: "the busiest accounts in a table of their own",
            statements: [
                // Serves GET /max_transaction_volume: exactly the accounts with the largest transaction count,
                // kept by the commit's write statement (``PostgresLedgerStore/SQL/write``). The index on
                // accounts.transaction_count it replaces made every account update a new entry in two indexes
                // (no update could be HOT, as an indexed column changed), so the accounts table and its indexes
                // grew by a version per posting: bulk postings 45,000-56,000 -> 52,000-64,000 per second without
                // it (alternating runs on one server).
                """
                CREATE TABLE busiest_accounts (
                    transaction_count bigint NOT NULL CHECK (transaction_count > 0),
                    id uuid NOT NULL,
                    PRIMARY KEY (transaction_count, id)
                )
                """,
                """
                INSERT INTO busiest_accounts (transaction_count, id)
                SELECT transaction_count, id FROM accounts
                WHERE transaction_count = (SELECT max(transaction_count) FROM accounts)
                """,
                "DROP INDEX accounts_by_transaction_count",
            ]),
        Migration(
            version: 4, name: "accounts with rules, metadata and pending sums",
            statements: [
                // Accounts can now be opened before their first transaction (a count of 0). An existing account
                // keeps its balance and count, gets no currency, no limits, empty metadata, and the time of its
                // first transaction as its opening time; the pending sums of its open holds are zero until holds
                // exist. Columns added with a constant default (or none) do not rewrite the table; the opening
                // time is filled once, in one pass over the transactions.
                "ALTER TABLE accounts DROP CONSTRAINT accounts_transaction_count_check",
                "ALTER TABLE accounts ADD CONSTRAINT accounts_transaction_count_check CHECK (transaction_count >= 0)",
                """
                ALTER TABLE accounts
                    ADD COLUMN created_at bigint,
                    ADD COLUMN pending_debits bigint NOT NULL DEFAULT 0 CHECK (pending_debits <= 0),
                    ADD COLUMN pending_credits bigint NOT NULL DEFAULT 0 CHECK (pending_credits >= 0),
                    ADD COLUMN currency text,
                    ADD COLUMN minimum_balance bigint,
                    ADD COLUMN maximum_balance bigint,
                    ADD COLUMN metadata text,
                    ADD CONSTRAINT accounts_limits_check CHECK (minimum_balance <= maximum_balance)
                """,
                """
                UPDATE accounts AS a SET created_at = f.created_at
                FROM (SELECT account_id, min(created_at) AS created_at FROM transactions GROUP BY account_id) AS f
                WHERE f.account_id = a.id
                """,
                "UPDATE accounts SET created_at = (extract(epoch FROM now()) * 1000)::bigint WHERE created_at IS NULL",
                "ALTER TABLE accounts ALTER COLUMN created_at SET NOT NULL",
                // Serves GET /accounts?metadata.KEY=VALUE: the accounts holding one member are one range of its
                // key, in id order (a page is a range read). A row per member of every account's metadata.
                """
                CREATE TABLE account_metadata (
                    key text NOT NULL,
                    value text NOT NULL,
                    account_id uuid NOT NULL,
                    PRIMARY KEY (key, value, account_id)
                )
                """,
                "ALTER TABLE transactions ADD COLUMN metadata text",
                // How many account configurations have committed: a commit's optimistic write also requires it
                // unchanged since its snapshot, so that a limit changed in between sends it to the locked path.
                "ALTER TABLE ledger_head ADD COLUMN configured bigint NOT NULL DEFAULT 0",
            ]),
        Migration(
            version: 5, name: "holds",
            statements: [
                // A transaction's kind (NULL for an ordinary posting: most rows, which have a null bitmap already
                // for their metadata, so the three columns cost them nothing), the hold a post or void resolves,
                // and a hold's expiry. Existing databases have no holds: nothing to fill, nothing rewritten.
                """
                ALTER TABLE transactions
                    ADD COLUMN kind smallint CHECK (kind BETWEEN 1 AND 4),
                    ADD COLUMN pending_id uuid CHECK ((pending_id IS NOT NULL) = (kind IN (2, 3, 4))),
                    ADD COLUMN expires_at bigint CHECK (expires_at IS NULL OR kind = 1)
                """,
                // A hold's resolution is the one row that names it: a second post or void of a hold is a unique
                // violation, whatever the rules (and however many instances) decided. It also finds a hold's
                // resolution. Partial: ordinary postings are not in it.
                "CREATE UNIQUE INDEX transactions_resolving ON transactions (pending_id) WHERE pending_id IS NOT NULL",
                // The open holds that have an expiry, in expiry order: the expiry's "which holds are due" is a
                // range read at the start of the key. A hold enters with its commit and leaves with its resolution.
                """
                CREATE TABLE expiring_holds (
                    expires_at bigint NOT NULL,
                    hold_id uuid NOT NULL,
                    PRIMARY KEY (expires_at, hold_id)
                )
                """,
            ]),
    ]

    /// The database holds a schema newer than this binary knows: refusing is safer than guessing.
    struct NewerSchemaError: Error, CustomStringConvertible {
        let found: Int
        let known: Int
        var description: String {
            "the database's schema is version \(found), newer than this binary's \(known): run a newer account-service"
        }
    }

    /// Applies every migration the database lacks (up to `version`, for tests of a migration); returns the
    /// versions it applied.
    @discardableResult
    static func migrate(
        _ connection: PostgresConnection, upTo version: Int = .max, logger: Logger
    ) async throws
        -> [Int]
    {
        try await connection.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(migrationLock))", logger: logger)
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """, logger: logger)
            var applied: Set<Int> = []
            for try await version in try await connection.query(
                "SELECT version FROM schema_migrations", logger: logger
            ).decode(Int.self) {
                applied.insert(version)
            }
            let known = migrations.last?.version ?? 0
            if let newest = applied.max(), newest > known { throw NewerSchemaError(found: newest, known: known) }
            var done: [Int] = []
            for migration in migrations where !applied.contains(migration.version) && migration.version <= version {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))",
                    logger: logger)
                done.append(migration.version)
            }
            return done
        }
    }
}

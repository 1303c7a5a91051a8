import AccountLedger

extension SQLiteLedgerStore {
    /// The statements the store runs, each defined once; `StorageTests` checks the plans of the reads. Those
    /// that read an index table run on a connection of the index file, which attaches the ledger's.
    enum SQL {
        static let transactionByID = """
            SELECT \(LedgerEntry.columns) FROM transactions
            WHERE sequence = (SELECT sequence FROM transaction_ids WHERE id = ?)
            """
        static let balanceByID = "SELECT balance FROM accounts WHERE id = ?"
        /// What a commit's rules need of an account (``AccountState/init(stateRow:)``).
        static let accountState = """
            SELECT balance, transaction_count, pending_debits, pending_credits, currency, minimum_balance,
                maximum_balance
            FROM accounts WHERE id = ?
            """
        static let accountByID = "SELECT \(Account.columns()) FROM accounts WHERE id = ?"
        /// A page of accounts in id order after ?1 (an empty blob: from the first): a range of the table's key.
        static let accountsPage = """
            SELECT \(Account.columns()) FROM accounts WHERE id > ?1 ORDER BY id LIMIT ?2
            """
        /// A page of the accounts whose metadata holds the member (?1, ?2), after ?3: a range of
        /// account_metadata's key, then each account by its key (CROSS JOIN keeps that order of the loops).
        static let accountsWithMember = """
            SELECT \(Account.columns(of: "a")) FROM account_metadata AS m CROSS JOIN accounts AS a ON a.id = m.account_id
            WHERE m.key = ?1 AND m.value = ?2 AND m.account_id > ?3
            ORDER BY m.account_id LIMIT ?4
            """
        /// The last balance_after of the account at or before an instant, among the entries merged through ?3: one
        /// descent of transactions_by_account (entries beyond ?3 are the few merged after the backlog was read).
        static let balanceAtInstant = """
            SELECT balance_after FROM transactions_by_account WHERE account_id = ?1 AND created_at <= ?2
                AND sequence <= ?3
            ORDER BY created_at DESC, sequence DESC LIMIT 1
            """
        /// A statement page: the range of transactions_by_account below (created_at, sequence) = (the commit time
        /// of the first transaction at or after `before` ?2, `before`), read backwards. created_at never decreases
        /// along sequence, so this is "sequence < before". One statement: the bound is a scalar subquery (one
        /// descent of the table, evaluated once), so a page is one read transaction, not two.
        static let statementPage = """
            SELECT \(LedgerEntry.columns) FROM transactions_by_account
            WHERE account_id = ?1 AND created_at <= \(commitTimeFrom)
                AND (created_at < \(commitTimeFrom) OR sequence < ?2)
            ORDER BY created_at DESC, sequence DESC LIMIT ?3
            """
        /// The commit time of the first transaction at or after ?2, or the largest integer when there is none.
        private static let commitTimeFrom = """
            coalesce((SELECT created_at FROM transactions WHERE sequence >= ?2 ORDER BY sequence LIMIT 1),
                     9223372036854775807)
            """
        /// A feed page: a range of the table itself, which is ordered by sequence, up to the last published ?3.
        static let feedPage = """
            SELECT \(LedgerEntry.columns) FROM transactions WHERE sequence > ?1 AND sequence <= ?3
            ORDER BY sequence LIMIT ?2
            """
        static let lastTransaction = """
            SELECT sequence, created_at FROM transactions WHERE sequence = (SELECT max(sequence) FROM transactions)
            """
        /// One statement, two index probes: max() reads the last entry of accounts_by_transaction_count, and the
        /// accounts with that count are the contiguous run of entries that follows the probe, in id order. Accounts
        /// opened without a transaction (a count of 0) are never listed.
        static let maxTransactionVolume = """
            SELECT id, transaction_count FROM accounts
            WHERE transaction_count = (SELECT max(transaction_count) FROM accounts) AND transaction_count > 0
            ORDER BY id
            """
        /// The transactions an index slice may not hold yet, read once when the store opens.
        static let unmergedTransactions = """
            SELECT \(LedgerEntry.columns) FROM transactions WHERE sequence > ? ORDER BY sequence
            """
        static let indexProgress = "SELECT name, slice, merged_through FROM index_progress"
        static let insertAccount = """
            INSERT INTO accounts (id, balance, transaction_count, created_at, pending_debits, pending_credits)
            VALUES (?, ?, ?, ?, ?, ?)
            """
        static let insertConfiguredAccount = """
            INSERT INTO accounts (id, balance, transaction_count, created_at, currency, minimum_balance,
                maximum_balance, metadata)
            VALUES (?, 0, 0, ?, ?, ?, ?, ?)
            """
        static let updateSettings = """
            UPDATE accounts SET currency = ?2, minimum_balance = ?3, maximum_balance = ?4, metadata = ?5 WHERE id = ?1
            """
        static let insertMember = "INSERT INTO account_metadata (key, value, account_id) VALUES (?, ?, ?)"
        static let deleteMember = "DELETE FROM account_metadata WHERE key = ? AND value = ? AND account_id = ?"
        static let insertTransaction = """
            INSERT INTO transactions (\(LedgerEntry.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """
        /// The hold's resolution: its primary key refuses a second one.
        static let insertResolution = "INSERT INTO hold_resolutions (hold_id, sequence) VALUES (?, ?)"
        static let insertExpiringHold = "INSERT INTO expiring_holds (expires_at, hold_id) VALUES (?, ?)"
        static let deleteExpiringHold = "DELETE FROM expiring_holds WHERE expires_at = ? AND hold_id = ?"
        /// A hold's resolution: one probe of hold_resolutions, then the table's row.
        static let resolutionOfHold = """
            SELECT \(LedgerEntry.columns) FROM transactions
            WHERE sequence = (SELECT sequence FROM hold_resolutions WHERE hold_id = ?)
            """
        /// The open holds due at ?1, earliest first: the start of expiring_holds.
        static let expiredHolds = """
            SELECT hold_id FROM expiring_holds WHERE expires_at <= ?1 ORDER BY expires_at, hold_id LIMIT ?2
            """
        /// Applies only if the balance is still the one the rules decided on.
        static let updateAccount = """
            UPDATE accounts SET balance = ?2, transaction_count = transaction_count + ?3, pending_debits = ?5,
                pending_credits = ?6
            WHERE id = ?1 AND balance = ?4
            """
        static let insertTransactionID = "INSERT INTO transaction_ids (id, sequence) VALUES (?, ?)"
        static let insertAccountEntry = """
            INSERT INTO transactions_by_account (\(LedgerEntry.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """
        static let updateIndexProgress = "UPDATE index_progress SET merged_through = ?3 WHERE name = ?1 AND slice = ?2"

        /// Every statement that serves a GET, or that a commit reads with.
        static let reads = [
            transactionByID, balanceByID, accountState, accountByID, accountsPage, accountsWithMember,
            balanceAtInstant, statementPage, feedPage, lastTransaction, maxTransactionVolume, unmergedTransactions,
            resolutionOfHold, expiredHolds,
        ]
    }
}

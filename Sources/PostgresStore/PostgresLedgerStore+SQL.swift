import AccountLedger
import Foundation
import Logging
import PostgresNIO

extension PostgresLedgerStore {
    enum SQL {
        static let columns = """
            sequence, id, account_id, amount, created_at, balance_after, metadata, kind, pending_id, expires_at
            """
        static let accountColumns = accountColumns()
        /// The columns of an account row (``PostgresLedgerStore/account(_:)``), each prefixed with `table.` when given.
        static func accountColumns(of table: String? = nil) -> String {
            let prefix = table.map { $0 + "." } ?? ""
            return [
                "id", "balance", "transaction_count", "pending_debits", "pending_credits", "currency",
                "minimum_balance",
                "maximum_balance", "metadata", "created_at",
            ].map { prefix + $0 }.joined(separator: ", ")
        }
        static let lockHead = "SELECT last_sequence FROM ledger_head FOR UPDATE"
        /// What the rules need, in one statement so that it is one snapshot: the head (kind 0: last sequence,
        /// commit time, and how many configurations committed), the items' recorded transactions (kind 1: sequence,
        /// created_at, id, account, amount, balance_after, metadata, its kind, expiry and pending_id), the holds
        /// that resolutions name ($3; kind 3, as kind 1) and their resolutions (kind 4, as kind 1), and the accounts
        /// of the postings and of those holds (kind 2: balance, count, id, pending sums, currency, limits), each an
        /// `= ANY(array)` index probe. The holds are read once (`holds`, materialized) and their accounts taken from
        /// those rows, each account once: probing the transactions again for them was a quarter of the snapshot's
        /// time when hundreds of holds expire at once (docs/performance.md, "Holds").
        static let snapshot = """
            WITH holds AS MATERIALIZED (
                SELECT sequence, created_at, id, account_id, amount, balance_after, metadata, kind, expires_at,
                    pending_id
                FROM transactions WHERE id = ANY($3::uuid[]) AND kind = 1
            )
            SELECT 0, last_sequence, last_created_at, NULL::uuid, NULL::uuid, configured, NULL::int8, NULL::text,
                NULL::int8, NULL::int8, NULL::uuid
            FROM ledger_head
            UNION ALL
            SELECT 1, sequence, created_at, id, account_id, amount, balance_after, metadata, kind, expires_at, pending_id
            FROM transactions WHERE id = ANY($1::uuid[])
            UNION ALL
            SELECT 3, sequence, created_at, id, account_id, amount, balance_after, metadata, kind, expires_at, pending_id
            FROM holds
            UNION ALL
            SELECT 4, sequence, created_at, id, account_id, amount, balance_after, metadata, kind, expires_at, pending_id
            FROM transactions WHERE pending_id = ANY($3::uuid[])
            UNION ALL
            SELECT 2, balance, transaction_count, id, NULL, pending_debits, pending_credits, currency, minimum_balance,
                maximum_balance, NULL
            FROM accounts
            WHERE id = ANY($2::uuid[] || ARRAY(SELECT DISTINCT account_id FROM holds))
            """
        /// Every change of a commit in one statement, made on the condition that the head still holds the last
        /// sequence of the snapshot ($17) and the count of configurations it read ($19): the head's update is the condition, and every other change joins it,
        /// so when another commit moved the head nothing is written and no row is returned. Otherwise the head
        /// row stays locked until the commit is visible, so commits become visible in sequence order (the
        /// gap-safety rule of ``LedgerStore``). The sub-statements see one snapshot. It fails, dividing by zero
        /// (SQLSTATE 22012), so that nothing of it is written, if it updated fewer existing accounts than $16 (a
        /// balance changed under the commit), or if a transaction's account is neither inserted nor updated by it
        /// (the foreign key's guarantee, checked once per statement rather than by a trigger per row).
        ///
        /// It also keeps `busiest_accounts`, the accounts with the largest transaction count. Counts only grow, so
        /// when an account whose count the commit raises (holds and voids leave it) goes above the recorded largest, the recorded ones leave
        /// (`dethroned`) and the touched accounts at the new largest enter (`crowned`); when one only reaches it,
        /// it joins them. (A row's key holds its count, so an account that leaves and enters in one statement
        /// does not collide with itself; the sub-statements all see the table as it was before the statement.)
        static let write = """
            WITH head AS (
                UPDATE ledger_head SET last_sequence = $14, last_created_at = $15
                WHERE last_sequence = $17 AND configured = $19
                RETURNING 1
            ), new_accounts AS (
                INSERT INTO accounts (id, balance, transaction_count, pending_debits, pending_credits, created_at)
                SELECT u.*, $15 FROM unnest($1::uuid[], $2::int8[], $3::int8[], $20::int8[], $21::int8[]) AS u, head
                RETURNING id, transaction_count
            ), updated AS (
                UPDATE accounts AS a SET balance = u.balance, transaction_count = a.transaction_count + u.added,
                    pending_debits = u.debits, pending_credits = u.credits
                FROM unnest($4::uuid[], $5::int8[], $6::int8[], $7::int8[], $22::int8[], $23::int8[])
                    AS u (id, balance, added, previous, debits, credits), head
                WHERE a.id = u.id AND a.balance = u.previous
                RETURNING a.id, a.transaction_count, u.added
            ), touched AS (
                SELECT id, transaction_count FROM new_accounts WHERE transaction_count > 0
                UNION ALL SELECT id, transaction_count FROM updated WHERE added > 0
            ), top AS (
                SELECT max(transaction_count) AS count FROM touched
            ), dethroned AS (
                DELETE FROM busiest_accounts WHERE transaction_count < (SELECT count FROM top)
            ), crowned AS (
                INSERT INTO busiest_accounts (transaction_count, id)
                SELECT transaction_count, id FROM touched
                WHERE transaction_count = (SELECT count FROM top)
                    AND transaction_count >= (SELECT coalesce(max(transaction_count), 0) FROM busiest_accounts)
            ), inserted AS (
                INSERT INTO transactions (\(columns))
                SELECT u.s, u.i, u.a, u.m, u.c, u.b, nullif(u.meta, ''), nullif(u.kind, 0),
                    CASE WHEN u.kind IN (2, 3, 4) THEN u.pending END, nullif(u.expires, 0)
                FROM unnest(
                    $8::int8[], $9::uuid[], $10::uuid[], $11::int8[], $12::int8[], $13::int8[], $18::text[],
                    $24::int2[], $25::uuid[], $26::int8[]
                ) AS u (s, i, a, m, c, b, meta, kind, pending, expires), head
            ), expiring AS (
                INSERT INTO expiring_holds (expires_at, hold_id)
                SELECT u.expires, u.i FROM unnest($9::uuid[], $26::int8[]) AS u (i, expires), head
                WHERE u.expires <> 0
            ), resolved AS (
                DELETE FROM expiring_holds AS e USING unnest($27::int8[], $28::uuid[]) AS u (expires, hold), head
                WHERE e.expires_at = u.expires AND e.hold_id = u.hold
            )
            SELECT 1 / (
                (SELECT count(*) FROM updated) = $16
                AND NOT EXISTS (SELECT unnest($10::uuid[]) EXCEPT SELECT unnest($1::uuid[]) EXCEPT SELECT unnest($4::uuid[]))
            )::int, pg_notify('\(commitChannel)', $14::text) FROM head
            """
        static let transactionsByID = "SELECT \(columns) FROM transactions WHERE id = ANY($1::uuid[])"
        static let balancesByID = "SELECT id, balance FROM accounts WHERE id = ANY($1::uuid[])"
        static let accountsByID = "SELECT \(accountColumns) FROM accounts WHERE id = ANY($1::uuid[])"
        /// A page of accounts in id order from $1 on: a range of the primary key.
        static let accountsFrom = "SELECT \(accountColumns) FROM accounts WHERE id >= $1 ORDER BY id LIMIT $2"
        /// A page of the accounts whose metadata holds the member ($1, $2), from $3 on: a range of
        /// account_metadata's key, then each account by its key.
        static let accountsWithMemberFrom = """
            SELECT \(accountColumns(of: "a")) FROM account_metadata AS m JOIN accounts AS a ON a.id = m.account_id
            WHERE m.key = $1 AND m.value = $2 AND m.account_id >= $3
            ORDER BY m.account_id LIMIT $4
            """
        /// The configurations' accounts opened or their settings replaced, one row each, from arrays: a currency
        /// and metadata of '' are none, and a limit whose flag is false is none.
        static let upsertSettings = """
            INSERT INTO accounts (id, balance, transaction_count, created_at, currency, minimum_balance,
                maximum_balance, metadata)
            SELECT u.id, 0, 0, u.created_at, nullif(u.currency, ''),
                CASE WHEN u.has_minimum THEN u.minimum END, CASE WHEN u.has_maximum THEN u.maximum END,
                nullif(u.metadata, '')
            FROM unnest($1::uuid[], $2::int8[], $3::text[], $4::bool[], $5::int8[], $6::bool[], $7::int8[], $8::text[])
                AS u (id, created_at, currency, has_minimum, minimum, has_maximum, maximum, metadata)
            ON CONFLICT (id) DO UPDATE SET currency = excluded.currency, minimum_balance = excluded.minimum_balance,
                maximum_balance = excluded.maximum_balance, metadata = excluded.metadata
            """
        /// The members accounts no longer have leave account_metadata ($1–$3: account, key, value), and their new
        /// ones enter ($4–$6); the two sets share no row.
        static let replaceMembers = """
            WITH gone AS (
                DELETE FROM account_metadata AS m USING unnest($1::uuid[], $2::text[], $3::text[]) AS o (account_id, key, value)
                WHERE m.key = o.key AND m.value = o.value AND m.account_id = o.account_id
            )
            INSERT INTO account_metadata (key, value, account_id) SELECT n.key, n.value, n.account_id
            FROM unnest($4::uuid[], $5::text[], $6::text[]) AS n (account_id, key, value)
            """
        static let countConfiguration = "UPDATE ledger_head SET configured = configured + 1"
        /// A hold's resolution: the unique index's probe.
        static let resolutionOfHold = "SELECT \(columns) FROM transactions WHERE pending_id = $1"
        /// The open holds due at $1, earliest first: the start of expiring_holds' key.
        static let expiredHolds = """
            SELECT hold_id FROM expiring_holds WHERE expires_at <= $1 ORDER BY expires_at, hold_id LIMIT $2
            """
        static let balanceAtInstant = """
            SELECT balance_after FROM transactions WHERE account_id = $1 AND created_at <= $2
            ORDER BY created_at DESC, sequence DESC LIMIT 1
            """
        /// A statement page: transactions_by_account below (created_at, sequence) = (the commit time of the first
        /// transaction at or after `before`, `before`), read backwards; created_at never decreases along
        /// sequence, so this is "sequence < before". One statement, two index descents.
        static let statementPage = """
            SELECT \(columns) FROM transactions
            WHERE account_id = $1 AND (created_at, sequence) < (
                COALESCE((SELECT created_at FROM transactions WHERE sequence >= $2 ORDER BY sequence LIMIT 1),
                         9223372036854775807), $2)
            ORDER BY created_at DESC, sequence DESC LIMIT $3
            """
        static let feedPage = "SELECT \(columns) FROM transactions WHERE sequence > $1 ORDER BY sequence LIMIT $2"
        /// The busiest accounts: the table holds exactly them (``write`` keeps it), so this reads the answer and
        /// nothing else.
        static let maxTransactionVolume = """
            SELECT id, transaction_count FROM busiest_accounts ORDER BY transaction_count, id
            """
    }
}

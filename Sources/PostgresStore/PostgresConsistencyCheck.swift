import AccountLedger
import Foundation
import Logging
import PostgresNIO

extension ConsistencyCheck {
    /// Checks a PostgreSQL database as ``run(path:)`` checks an SQLite file, on one snapshot (a read-only
    /// repeatable-read transaction, so it can run while instances write), streaming the rows. There is no foreign
    /// key to check (the commit checks the accounts itself; a transaction whose account has no row is reported as
    /// a discrepancy); in its place the check verifies the ledger head: its last sequence is the largest
    /// recorded, and sequences run from 1 without a gap (what the change feed promises); and the busiest accounts
    /// recorded for max volume are exactly the accounts with the most transactions.
    public static func run(postgresURL url: String, logger: Logger = PostgresDatabase.quiet) async throws -> Report {
        // A pool would retry an unreachable or refusing server for a minute before saying why.
        try await PostgresDatabase.probe(url: url)
        return try await PostgresDatabase.withClient(url: url) { client in
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: logger)
                // It reads every row: scans are right here (the store's connections avoid them).
                try await connection.query("SET LOCAL enable_seqscan = on", logger: logger)
                var tally = Tally()
                var expected: Int64 = 1
                for try await row in try await connection.query(
                    PostgresQuery(
                        unsafeSQL: "SELECT \(PostgresLedgerStore.SQL.columns) FROM transactions ORDER BY sequence"),
                    logger: logger
                ) {
                    let entry = try PostgresLedgerStore.entry(row)
                    let sequence = entry.sequence
                    if sequence != expected, tally.report.integrityErrors.count < 100 {
                        tally.report.integrityErrors.append("sequence \(sequence) follows \(expected - 1): a gap")
                    }
                    expected = sequence + 1
                    tally.transaction(
                        sequence: sequence, id: entry.transaction.id.uuid, account: entry.transaction.accountID.uuid,
                        amount: entry.transaction.amount, createdAt: entry.createdAt.millisecondsSince1970,
                        balanceAfter: entry.balanceAfter, role: entry.transaction.role)
                }
                for try await (id, balance, count, pendingDebits, pendingCredits, metadata)
                    in try await connection.query(
                        "SELECT id, balance, transaction_count, pending_debits, pending_credits, metadata FROM accounts",
                        logger: logger
                    ).decode((UUID, Int64, Int64, Int64, Int64, String?).self)
                {
                    tally.account(
                        id, balance: balance, count: count, pendingDebits: pendingDebits,
                        pendingCredits: pendingCredits, metadata: metadata)
                }
                // account_metadata holds exactly a row per member of every account's metadata (read back by
                // PostgreSQL's own JSON reader).
                for try await differences in try await connection.query(
                    """
                    WITH members AS (
                        SELECT j.key, j.value, a.id AS account_id FROM accounts AS a, jsonb_each_text(a.metadata::jsonb) AS j
                        WHERE a.metadata IS NOT NULL
                    )
                    SELECT count(*) FROM (
                        (SELECT * FROM members EXCEPT SELECT key, value, account_id FROM account_metadata)
                        UNION ALL (SELECT key, value, account_id FROM account_metadata EXCEPT SELECT * FROM members)
                    ) AS difference
                    """, logger: logger
                ).decode(Int64.self) where differences > 0 {
                    tally.report.indexErrors.append(
                        "account_metadata differs from the accounts' metadata in \(differences) rows")
                }
                // busiest_accounts holds exactly the accounts with the largest count (what max volume answers).
                for try await differences in try await connection.query(
                    """
                    WITH busiest AS (
                        SELECT transaction_count, id FROM accounts
                        WHERE transaction_count = (SELECT max(transaction_count) FROM accounts)
                            AND transaction_count > 0
                    )
                    SELECT count(*) FROM (
                        (SELECT * FROM busiest EXCEPT SELECT * FROM busiest_accounts)
                        UNION ALL (SELECT * FROM busiest_accounts EXCEPT SELECT * FROM busiest)
                    ) AS difference
                    """, logger: logger
                ).decode(Int64.self) where differences > 0 {
                    tally.report.integrityErrors.append(
                        "busiest_accounts differs from the accounts with the most transactions in \(differences) rows")
                }
                // expiring_holds holds exactly the open holds that have an expiry (the unique index on pending_id
                // keeps each hold to one resolution).
                for try await differences in try await connection.query(
                    """
                    WITH open AS (
                        SELECT expires_at, id FROM transactions AS t WHERE kind = 1 AND expires_at IS NOT NULL
                            AND NOT EXISTS (SELECT 1 FROM transactions AS r WHERE r.pending_id = t.id)
                    )
                    SELECT count(*) FROM (
                        (SELECT * FROM open EXCEPT SELECT expires_at, hold_id FROM expiring_holds)
                        UNION ALL (SELECT expires_at, hold_id FROM expiring_holds EXCEPT SELECT * FROM open)
                    ) AS difference
                    """, logger: logger
                ).decode(Int64.self) where differences > 0 {
                    tally.report.indexErrors.append(
                        "expiring_holds differs from the open holds that expire in \(differences) rows")
                }
                for try await head in try await connection.query(
                    "SELECT last_sequence FROM ledger_head", logger: logger
                ).decode(Int64.self) where head != expected - 1 {
                    tally.report.integrityErrors.append(
                        "the ledger head's last sequence is \(head), the largest recorded \(expected - 1)")
                }
                return tally.finish()
            }
        }
    }
}

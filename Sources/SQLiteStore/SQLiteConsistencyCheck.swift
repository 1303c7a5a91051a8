import AccountLedger
import Foundation
import GRDB

extension ConsistencyCheck {
    public struct MissingDatabaseError: Error, CustomStringConvertible {
        let path: String
        public var description: String { "there is no database at \(path)" }
    }

    /// Checks the database at `path`, which must exist; nothing is written to it.
    public static func run(path: String) throws -> Report {
        guard FileManager.default.fileExists(atPath: path) else { throw MissingDatabaseError(path: path) }
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? queue.close() }
        let indexFile = IndexFile.path(of: path)
        if FileManager.default.fileExists(atPath: indexFile) {
            try queue.writeWithoutTransaction { db in
                try db.execute(sql: "ATTACH DATABASE ? AS indexes", arguments: [indexFile])
            }
        }
        return try queue.read { db in try run(in: db) }
    }

    /// Checks the ledger in `db`'s main schema, and its index file when attached as `indexes`.
    static func run(in db: Database) throws -> Report {
        var report = Report()
        // The index file first: its snapshot is then no newer than the ledger's, which a statement takes the
        // first time it reads the ledger, so every entry merged in it has its transaction in the ledger's.
        let indexed = try indexFileHoldsIndexes(in: db)
        report.integrityErrors = try String.fetchAll(db, sql: "PRAGMA integrity_check").filter { $0 != "ok" }
        report.integrityErrors += try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").map { row in
            "foreign key check: table \(row[0] as String) row \(row[1] as Int64? ?? -1) refers to a missing \(row[2] as String) row"
        }

        report.indexErrors = try indexErrors(in: db, indexed: indexed)

        var tally = Tally(report: report)
        let transactions = try db.makeStatement(
            sql: "SELECT \(LedgerEntry.columns) FROM transactions ORDER BY sequence")
        while try transactions.stepToRow(in: db) {
            let entry = LedgerEntry(row: transactions)
            tally.transaction(
                sequence: entry.sequence, id: entry.transaction.id.uuid, account: entry.transaction.accountID.uuid,
                amount: entry.transaction.amount, createdAt: entry.createdAt.millisecondsSince1970,
                balanceAfter: entry.balanceAfter, role: entry.transaction.role)
        }
        transactions.reset()
        tally.report.indexErrors += try holdErrors(in: db)
        let accounts = try Row.fetchCursor(
            db,
            sql: "SELECT id, balance, transaction_count, pending_debits, pending_credits, metadata FROM accounts")
        while let row = try accounts.next() {
            tally.account(
                row[0], balance: row[1], count: row[2], pendingDebits: row[3], pendingCredits: row[4],
                metadata: row[5])
        }
        // Every member of every account's metadata has its row in account_metadata, and no other row is there.
        // json_each is SQLite's own JSON reader: it also checks that what the store wrote is JSON.
        let members = """
            SELECT a.id, j.key, j.value FROM accounts AS a, json_each(a.metadata) AS j WHERE a.metadata IS NOT NULL
            """
        let (missing, extra) = try differences(
            in: db, expected: members, actual: "SELECT account_id, key, value FROM account_metadata")
        if missing > 0 { tally.report.indexErrors.append("account_metadata: \(missing) account members have no row") }
        if extra > 0 { tally.report.indexErrors.append("account_metadata: \(extra) rows match no account member") }
        return tally.finish()
    }

    /// hold_resolutions holds one row per post or void, naming it; expiring_holds holds exactly the open holds that
    /// have an expiry.
    static func holdErrors(in db: Database) throws -> [String] {
        let resolutions = "SELECT pending_id, sequence FROM transactions WHERE pending_id IS NOT NULL"
        let open = """
            SELECT expires_at, id FROM transactions AS t WHERE kind = 1 AND expires_at IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM hold_resolutions AS r WHERE r.hold_id = t.id)
            """
        var errors: [String] = []
        // What PostgreSQL's CHECK constraints say, and SQLite's table does not (docs/schema.md, "Holds").
        let malformed = try Int.fetchOne(
            db,
            sql: """
                SELECT count(*) FROM transactions
                WHERE NOT (coalesce(kind BETWEEN 1 AND 4, kind IS NULL)
                    AND (pending_id IS NOT NULL) = coalesce(kind IN (2, 3, 4), 0)
                    AND (pending_id IS NULL OR length(pending_id) = 16)
                    AND (expires_at IS NULL OR coalesce(kind = 1, 0)))
                """)!
        if malformed > 0 {
            errors.append("transactions: \(malformed) rows have a kind, pending_id or expires_at that do not agree")
        }
        for (table, columns, expected) in [
            ("hold_resolutions", "hold_id, sequence", resolutions), ("expiring_holds", "expires_at, hold_id", open),
        ] {
            let (missing, extra) = try differences(
                in: db, expected: expected, actual: "SELECT \(columns) FROM \(table)")
            if missing > 0 { errors.append("\(table): \(missing) rows are missing") }
            if extra > 0 { errors.append("\(table): \(extra) rows match nothing in transactions") }
        }
        return errors
    }

    /// How many rows of `expected` are missing from `actual`, and how many of `actual` are not in `expected` (two
    /// queries of the same columns).
    private static func differences(
        in db: Database, expected: String, actual: String
    ) throws -> (missing: Int, extra: Int) {
        (
            try Int.fetchOne(db, sql: "SELECT count(*) FROM (\(expected) EXCEPT \(actual))")!,
            try Int.fetchOne(db, sql: "SELECT count(*) FROM (\(actual) EXCEPT \(expected))")!
        )
    }

    /// Whether the index file is attached, and holds the indexes of this ledger (else the service rebuilds it when
    /// it starts: there is nothing to compare).
    private static func indexFileHoldsIndexes(in db: Database) throws -> Bool {
        guard try String.fetchAll(db, sql: "SELECT name FROM pragma_database_list").contains("indexes"),
            try Int.fetchOne(db, sql: "PRAGMA indexes.user_version") == IndexFile.layout
        else { return false }
        return try db.tableExists("ledger") && IndexFile.holdsIndexes(in: db, indexes: "indexes", ledger: "main")
    }

    /// Each index table's slice holds exactly the entries of the transactions up to its merged point (those
    /// beyond it wait in the service's memory), and no id is recorded twice.
    static func indexErrors(in db: Database, indexed: Bool) throws -> [String] {
        guard try db.tableExists("ledger") else {
            return ["the database's schema is older than this build's: start the service once to upgrade it"]
        }
        var errors = try Row.fetchAll(
            db, sql: "SELECT lower(hex(id)), count(*) FROM transactions GROUP BY id HAVING count(*) > 1 LIMIT 100"
        ).map { row in "transaction id \(row[0] as String) is recorded \(row[1] as Int64) times" }
        guard indexed else { return errors }
        // A slice is a hex digit of the key (IndexBacklog.slice(of:)): an id's first, an account's last.
        let indexes = [
            ("transaction_ids", "substr(hex(id), 1, 1)", "id, sequence"),
            (
                "transactions_by_account", "substr(hex(account_id), 32, 1)",
                LedgerEntry.columns
            ),
        ]
        for (table, digit, columns) in indexes {
            let expected = """
                SELECT \(columns) FROM main.transactions JOIN indexes.index_progress
                    ON name = '\(table)' AND slice = instr('0123456789ABCDEF', \(digit)) - 1
                WHERE sequence <= merged_through
                """
            let (missing, extra) = try differences(
                in: db, expected: expected, actual: "SELECT \(columns) FROM indexes.\(table)")
            if missing > 0 { errors.append("\(table): \(missing) merged transactions have no entry or another one") }
            if extra > 0 { errors.append("\(table): \(extra) entries match no merged transaction") }
        }
        return errors
    }
}

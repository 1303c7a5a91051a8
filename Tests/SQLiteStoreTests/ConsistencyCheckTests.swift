import Foundation
import GRDB
import TestSupport
import Testing

@testable import AccountLedger
@testable import PostgresStore
@testable import SQLiteStore

/// `account-service check`: it passes on what the service writes and names every account that disagrees.
@Suite(.timeLimit(.minutes(3))) struct ConsistencyCheckTests {
    let first = AccountID(UUID())
    let second = AccountID(UUID())

    /// Posts through the ledger's own rules, then lets `tamper` break the database behind its back.
    func checkAfterPosting(
        _ amounts: [(AccountID, Int64)], tamper: (@Sendable (Database) throws -> Void)? = nil
    ) async throws -> ConsistencyCheck.Report {
        try await withTemporaryDatabase { path in
            do {
                let pool = try LedgerDatabase.open(path: path)
                let postings = amounts.map { Transaction(id: TransactionID(UUID()), accountID: $0, amount: $1) }
                _ = try await Ledger.commit(postings.map { Batch([$0]) }, to: try SQLiteLedgerStore(pool: pool))
                if let tamper {
                    try await pool.writeWithoutTransaction { db in
                        try db.execute(sql: "PRAGMA foreign_keys = OFF")
                        try tamper(db)
                    }
                }
                try LedgerDatabase.close(pool)
            }
            return try ConsistencyCheck.run(path: path)
        }
    }

    @Test func whatTheLedgerWritesIsConsistent() async throws {
        let report = try await checkAfterPosting([(first, 5), (first, -7), (second, 0), (first, 2)])
        #expect(report.isConsistent)
        #expect(report.accounts == 2 && report.transactions == 4)
    }

    @Test func sumsThatOverflowOnTheWayAreStillExact() async throws {
        // Any order of summing that adds 1 before -1 would overflow 64 bits.
        let report = try await checkAfterPosting([
            (first, .max), (first, -1), (first, 1), (second, .min), (second, 1), (second, -1),
        ])
        #expect(report.isConsistent, "\(report.discrepancies)")
    }

    /// Pending sums that are not the open holds', a resolution the key table does not hold, and an open hold
    /// missing from the expiring holds are each named.
    @Test func holdsThatDisagreeAreNamed() async throws {
        let hold = Transaction(id: TransactionID(UUID()), accountID: first, amount: -7)
        let void = Resolution(id: TransactionID(UUID()), hold: hold.id, action: .void)
        let open = Transaction(id: TransactionID(UUID()), accountID: second, amount: 3)
        func check(_ tamper: (@Sendable (Database) throws -> Void)?) async throws -> ConsistencyCheck.Report {
            try await withTemporaryDatabase { path in
                do {
                    let pool = try LedgerDatabase.open(path: path)
                    let store = try SQLiteLedgerStore(pool: pool)
                    _ = try await Ledger.commit([Batch([hold, open], pending: true, timeout: 60)], to: store)
                    _ = try await Ledger.commit([Batch(items: [.resolution(void)])], to: store)
                    if let tamper { try await pool.writeWithoutTransaction { db in try tamper(db) } }
                    try LedgerDatabase.close(pool)
                }
                return try ConsistencyCheck.run(path: path)
            }
        }
        #expect(try await check(nil).isConsistent)
        let sums = try await check { [second] db in
            try db.execute(sql: "UPDATE accounts SET pending_credits = 4 WHERE id = ?", arguments: [second.uuid])
        }
        #expect(sums.accountErrors.count == 1 && sums.accountErrors[0].contains("open holds sum to 0 and 3"))
        let key = try await check { db in try db.execute(sql: "DELETE FROM hold_resolutions") }
        #expect(key.indexErrors.contains("hold_resolutions: 1 rows are missing"))
        let expiring = try await check { db in try db.execute(sql: "DELETE FROM expiring_holds") }
        #expect(expiring.indexErrors == ["expiring_holds: 1 rows are missing"])
        let twice = try await check { [first] db in
            try db.execute(
                sql: """
                    INSERT INTO transactions (sequence, id, account_id, amount, created_at, balance_after, kind, pending_id)
                    SELECT 99, randomblob(16), account_id, amount, created_at, balance_after, 3, pending_id
                    FROM transactions WHERE account_id = ? AND kind = 3
                    """, arguments: [first.uuid])
        }
        #expect(twice.historyErrors.contains { $0.contains("not an open hold") })
        let malformed = try await check { db in
            try db.execute(sql: "UPDATE transactions SET expires_at = 5 WHERE kind = 3")
        }
        #expect(malformed.indexErrors.contains { $0.contains("1 rows have a kind, pending_id or expires_at") })
    }

    @Test func aTamperedBalanceIsNamed() async throws {
        let report = try await checkAfterPosting([(first, 5), (second, 6)]) { [second] db in
            try db.execute(sql: "UPDATE accounts SET balance = balance + 1 WHERE id = ?", arguments: [second.uuid])
        }
        #expect(!report.isConsistent)
        #expect(
            report.discrepancies == [
                ConsistencyCheck.Discrepancy(
                    account: second, storedBalance: 7, storedCount: 1, transactionsSum: 6, transactionsCount: 1)
            ])
    }

    @Test func aWrongBalanceAfterIsNamed() async throws {
        let report = try await checkAfterPosting([(first, 5), (first, 6), (second, 1)]) { db in
            try db.execute(sql: "UPDATE transactions SET balance_after = 12 WHERE sequence = 2")
        }
        #expect(!report.isConsistent)
        #expect(report.discrepancies.isEmpty)
        #expect(report.historyErrors.count == 1)
        #expect(report.historyErrors.first?.contains("transaction 2 of account \(first)") == true)
    }

    @Test func aCommitTimeThatGoesBackIsNamed() async throws {
        let report = try await checkAfterPosting([(first, 5), (first, 6), (second, 1)]) { db in
            try db.execute(sql: "UPDATE transactions SET created_at = created_at - 1 WHERE sequence = 3")
        }
        #expect(!report.isConsistent)
        #expect(report.historyErrors.count == 1)
        #expect(report.historyErrors.first?.hasPrefix("transaction 3: created_at") == true)
    }

    @Test func aLostTransactionIsNamed() async throws {
        let report = try await checkAfterPosting([(first, 5), (first, 6)]) { [first] db in
            try db.execute(sql: "DELETE FROM transactions WHERE account_id = ? AND amount = 6", arguments: [first.uuid])
        }
        #expect(
            report.discrepancies == [
                ConsistencyCheck.Discrepancy(
                    account: first, storedBalance: 11, storedCount: 2, transactionsSum: 5, transactionsCount: 1)
            ])
    }

    @Test func transactionsWithoutTheirAccountAreNamed() async throws {
        let report = try await checkAfterPosting([(first, 5)]) { [first] db in
            try db.execute(sql: "DELETE FROM accounts WHERE id = ?", arguments: [first.uuid])
        }
        #expect(
            report.discrepancies == [
                ConsistencyCheck.Discrepancy(
                    account: first, storedBalance: nil, storedCount: nil, transactionsSum: 5, transactionsCount: 1)
            ])
        #expect(report.integrityErrors.contains { $0.hasPrefix("foreign key check") })
    }

    /// The metadata index (account_metadata) must hold exactly the accounts' members; pending sums must be those
    /// of the open holds (none yet: zero); metadata must be in the form the store writes.
    @Test(
        arguments: [
            ("DELETE FROM account_metadata WHERE account_id = ?1", "account_metadata: 1 account members have no row"),
            (
                "INSERT INTO account_metadata VALUES ('tier', 'gold', ?1)",
                "account_metadata: 1 rows match no account member"
            ),
            ("UPDATE accounts SET pending_debits = -3 WHERE id = ?1", "pending debits -3 and credits 0"),
            (#"UPDATE accounts SET metadata = '{"tier": "silver"}' WHERE id = ?1"#, "not in canonical form"),
        ])
    func accountSettingsThatDisagreeAreNamed(_ tamper: String, _ expected: String) async throws {
        try await withTemporaryDatabase { path in
            let account = first
            do {
                let pool = try LedgerDatabase.open(path: path)
                let store = try SQLiteLedgerStore(pool: pool)
                let settings = AccountSettings(metadata: try Metadata.validated([("tier", "silver")], field: "m").get())
                _ = try await Ledger.configure([(account, settings)], in: store)[0].get()
                _ = try await Ledger.commit(
                    [Batch([Transaction(id: TransactionID(UUID()), accountID: account, amount: 5)])], to: store)
                #expect(try ConsistencyCheck.run(path: path).isConsistent)
                try await pool.writeWithoutTransaction { db in
                    try db.execute(sql: tamper, arguments: [account.uuid])
                }
                try await store.close()
            }
            let report = try ConsistencyCheck.run(path: path)
            let errors = report.accountErrors + report.indexErrors
            #expect(errors.count == 1 && errors[0].contains(expected), "\(errors)")
        }
    }

    @Test func aMissingDatabaseIsAnErrorNotAnEmptyLedger() throws {
        #expect(throws: ConsistencyCheck.MissingDatabaseError.self) {
            try ConsistencyCheck.run(path: "/nonexistent/accounts.sqlite")
        }
    }
}

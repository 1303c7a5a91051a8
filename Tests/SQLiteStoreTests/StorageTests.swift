import Foundation
import GRDB
import TestSupport
import Testing

@testable import AccountHTTP
@testable import AccountLedger
@testable import PostgresStore
@testable import SQLiteStore

/// The schema and the connection settings that the service's promises rest on.
@Suite(.timeLimit(.minutes(3))) struct StorageTests {
    @Test(arguments: [(Durability.full, 2), (Durability.normal, 1)])
    func writerUsesWALAndTheRequestedSynchronousMode(_ durability: Durability, _ expected: Int) async throws {
        try await withTemporaryDatabase { path in
            let pool = try LedgerDatabase.open(path: path, durability: durability)
            let (synchronous, journalMode, foreignKeys) = try await pool.write { db in
                try (
                    Int.fetchOne(db, sql: "PRAGMA synchronous"), String.fetchOne(db, sql: "PRAGMA journal_mode"),
                    Bool.fetchOne(db, sql: "PRAGMA foreign_keys")
                )
            }
            #expect(synchronous == expected)
            #expect(journalMode == "wal")
            #expect(foreignKeys == true)
        }
    }

    @Test func reopeningAMigratedDatabaseKeepsItsData() async throws {
        try await withTemporaryDatabase { path in
            let account = AccountID(UUID())
            do {
                let store = try SQLiteLedgerStore(pool: try LedgerDatabase.open(path: path))
                _ = try await Ledger.commit(
                    [Batch([Transaction(id: TransactionID(UUID()), accountID: account, amount: 3)])], to: store)
                // Closed, not dropped: a store dropped at the end of the scope releases the file's lock only when
                // its last reference goes, which a loaded machine may delay past the reopening (seen once).
                try await store.close()
            }
            let store = try SQLiteLedgerStore(pool: try LedgerDatabase.open(path: path))
            #expect(try await store.balance(of: account) == 3)
        }
    }

    /// A database upgraded by a newer build (a migration this one does not know) is refused, not served.
    @Test func aDatabaseFromANewerBuildIsRefused() async throws {
        try await withTemporaryDatabase { path in
            let pool = try LedgerDatabase.open(path: path)
            try await pool.write { db in
                try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99: from a newer build')")
            }
            try pool.close()
            #expect {
                _ = try LedgerDatabase.open(path: path)
            } throws: { error in
                "\(error)".contains("upgraded by a newer build")
            }
        }
    }

    @Test func theSchemaRefusesWhatTheCodeMustNeverWrite() async throws {
        try await withTemporaryDatabase { path in
            let pool = try LedgerDatabase.open(path: path)
            let id = Data(repeating: 1, count: 16)
            try await pool.write { db in
                try db.execute(
                    sql:
                        "INSERT INTO accounts (id, balance, transaction_count, created_at) VALUES (?, 9223372036854775807, 1, 0)",
                    arguments: [id])
            }
            let insertAccount = "INSERT INTO accounts (id, balance, transaction_count, created_at)"
            let insertTransaction = """
                INSERT INTO transactions (sequence, id, account_id, amount, created_at, balance_after)
                VALUES (?, ?, ?, ?, 0, 5)
                """
            // Each row is refused for the reason it names (the extended result code says which constraint).
            let refused: [(String, StatementArguments, ResultCode)] = [
                // An overflowing sum becomes a REAL in SQLite; a STRICT INTEGER column refuses it.
                ("UPDATE accounts SET balance = balance + 1", [], .SQLITE_CONSTRAINT_DATATYPE),
                (
                    "\(insertAccount) VALUES (?, 1.5, 1, 0)", [Data(repeating: 2, count: 16)],
                    .SQLITE_CONSTRAINT_DATATYPE
                ),
                ("\(insertAccount) VALUES (?, 0, 1, 0)", ["a text id"], .SQLITE_CONSTRAINT_DATATYPE),
                ("\(insertAccount) VALUES (?, 0, 1, 0)", [Data(repeating: 3, count: 15)], .SQLITE_CONSTRAINT_CHECK),
                ("\(insertAccount) VALUES (?, 0, -1, 0)", [Data(repeating: 4, count: 16)], .SQLITE_CONSTRAINT_CHECK),
                (
                    "INSERT INTO accounts (id, balance, transaction_count, created_at, minimum_balance, maximum_balance) "
                        + "VALUES (?, 0, 0, 0, 10, 5)", [Data(repeating: 7, count: 16)], .SQLITE_CONSTRAINT_CHECK
                ),
                (
                    "INSERT INTO accounts (id, balance, transaction_count, created_at, pending_debits) "
                        + "VALUES (?, 0, 0, 0, 5)", [Data(repeating: 8, count: 16)], .SQLITE_CONSTRAINT_CHECK
                ),
                // A transaction of an account that has no row.
                (
                    insertTransaction, [1, Data(repeating: 5, count: 16), Data(repeating: 6, count: 16), 5],
                    .SQLITE_CONSTRAINT_FOREIGNKEY
                ),
                // STRICT coerces only what converts losslessly ('5' would become 5).
                (insertTransaction, [1, Data(repeating: 5, count: 16), id, "five"], .SQLITE_CONSTRAINT_DATATYPE),
                (insertTransaction, [0, Data(repeating: 5, count: 16), id, 5], .SQLITE_CONSTRAINT_CHECK),
            ]
            for (sql, arguments, code) in refused {
                let error = await #expect(throws: DatabaseError.self, "\(sql)") {
                    try await pool.write { db in try db.execute(sql: sql, arguments: arguments) }
                }
                #expect(error?.extendedResultCode == code, "\(sql): \(String(describing: error))")
            }
            // The same row, whole and valid, is accepted: the refusals above are for what they name.
            try await pool.write { db in
                try db.execute(sql: insertTransaction, arguments: [1, Data(repeating: 5, count: 16), id, 5])
            }
            let account = try await pool.read { db in
                try Row.fetchOne(
                    db, sql: "SELECT balance, transaction_count FROM accounts WHERE id = ?", arguments: [id])
            }
            #expect(account == ["balance": Int64.max, "transaction_count": 1])
        }
    }

    /// Every GET is answered by index lookups whose cost does not grow with the number of rows: no table
    /// scan and no temporary sort in the plan of any statement the store runs for a GET.
    @Test(arguments: SQLiteLedgerStore.SQL.reads)
    func readQueriesAreIndexLookups(_ sql: String) async throws {
        try await withTemporaryDatabase { path in
            // On the index file's connections, which attach the ledger's file: every statement resolves there.
            let store = try SQLiteLedgerStore(pool: LedgerDatabase.open(path: path))
            let plan = try await store.indexes.read { db in
                // Any value will do for the plan; numbered parameters (?4) count up to the largest.
                let numbered = sql.matches(of: /\?(\d+)/).compactMap { Int($0.1) }.max()
                let count = numbered ?? sql.filter { $0 == "?" }.count
                return try Row.fetchAll(
                    db, sql: "EXPLAIN QUERY PLAN \(sql)",
                    arguments: StatementArguments(Array(repeating: Data(count: 16), count: count))
                ).map { $0["detail"] as String }
            }
            #expect(!plan.isEmpty)
            for step in plan {
                #expect(step.hasPrefix("SEARCH") || step.hasPrefix("SCALAR SUBQUERY"), "\(plan)")
                #expect(!step.contains("TEMP B-TREE"), "\(plan)")
            }
        }
    }

    /// Configurations written together (PUTs that waited together), one account's among them twice: each account
    /// ends with its last settings, its members in the filter's table are exactly its last ones, and a refused
    /// one leaves the others.
    @Test(arguments: StoreKind.all) func configurationsWrittenTogetherEndWithEachAccountsLast(
        kind: StoreKind
    ) async throws {
        try await withTemporaryStore(kind) { location in
            try await withStore(at: location) { store in
                let (a, b, used) = (AccountID(UUID()), AccountID(UUID()), AccountID(UUID()))
                func settings(_ currency: String?, _ members: [(String, String)]) throws -> AccountSettings {
                    AccountSettings(
                        rules: AccountRules(currency: currency, minimumBalance: 0),
                        metadata: try Metadata.validated(members, field: "metadata").get())
                }
                _ = try await Ledger.commit(
                    [Batch([Transaction(id: TransactionID(UUID()), accountID: used, amount: 1)])], to: store)
                _ = try await Ledger.configure([(a, try settings(nil, [("tier", "gold"), ("n", "1")]))], in: store)
                let decisions = try await Ledger.configure(
                    [
                        (a, try settings("USD", [("tier", "silver"), ("n", "1")])),
                        (b, try settings(nil, [("tier", "gold")])),
                        (used, try settings("EUR", [])),
                        (a, try settings("USD", [("tier", "gold"), ("x", "2")])),
                    ], in: store)
                #expect(decisions.map { (try? $0.get()) != nil } == [true, true, false, true])
                let document = try #require(try await store.account(a))
                #expect(document.state.rules.currency == "USD")
                #expect(document.metadata == (try settings(nil, [("tier", "gold"), ("x", "2")])).metadata)
                let gold = try await store.accounts(
                    after: nil, limit: 10, filter: MetadataFilter(key: "tier", value: "gold"))
                #expect(Set(gold.map(\.id)) == [a, b])
                #expect(
                    try await store.accounts(after: nil, limit: 10, filter: MetadataFilter(key: "n", value: "1"))
                        .isEmpty)
                #expect(
                    try await store.accounts(after: nil, limit: 10, filter: MetadataFilter(key: "x", value: "2")).map(
                        \.id) == [a])
                #expect(try await store.account(used)?.state.rules.currency == nil)
            }
            let report = try await ConsistencyCheck.run(database: location)
            #expect(report.isConsistent, "\(report.accountErrors) \(report.indexErrors)")
        }
    }

    /// A commit whose snapshot no longer holds (a balance changed behind the rules' back) is refused whole.
    @Test(arguments: StoreKind.all) func aCommitOnAStaleBalanceWritesNothing(kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { location in
            try await withStore(at: location) { store in
                let account = AccountID(UUID())
                _ = try await Ledger.commit(
                    [Batch([Transaction(id: TransactionID(UUID()), accountID: account, amount: 5)])], to: store)
                let posting = Transaction(id: TransactionID(UUID()), accountID: account, amount: 1)
                await #expect {
                    _ = try await store.commit(CommitKeys([posting])) { snapshot in
                        var stale = snapshot
                        stale.accounts[account] = AccountState(balance: 4)
                        return Ledger.plan([Batch([posting])], on: stale, now: .now())
                    }
                } throws: { error in
                    error is SQLiteLedgerStore.ConcurrentModificationError
                        || error is PostgresLedgerStore.ConcurrentModificationError
                }
                #expect(try await store.balance(of: account) == 5)
                #expect(try await store.transaction(posting.id) == nil)
            }
        }
    }

    /// A hold is resolved once by the database as well as by the rules: a commit whose rules were told the hold is
    /// still open (a forged snapshot) fails whole on the store's key, and the first resolution stands alone.
    @Test(arguments: StoreKind.all) func aSecondResolutionOfAHoldIsRefusedByTheDatabase(kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { location in
            try await withStore(at: location) { store in
                let account = AccountID(UUID())
                let hold = Transaction(id: TransactionID(UUID()), accountID: account, amount: -5)
                _ = try await Ledger.commit([Batch([hold], pending: true, timeout: 3600)], to: store)
                _ = try await Ledger.commit(
                    [Batch(items: [.resolution(Resolution(id: TransactionID(UUID()), hold: hold.id, action: .void))])],
                    to: store)
                let second = Batch(items: [
                    .resolution(Resolution(id: TransactionID(UUID()), hold: hold.id, action: .post(amount: nil)))
                ])
                await #expect(throws: (any Error).self) {
                    _ = try await store.commit(CommitKeys([second])) { snapshot in
                        var forged = snapshot
                        forged.holds[hold.id] = Hold(entry: snapshot.holds[hold.id]!.entry, resolution: nil)
                        forged.accounts[account]?.pendingDebits = -5
                        return Ledger.plan([second], on: forged, now: .now())
                    }
                }
                #expect(try await store.balance(of: account) == 0)
                #expect(
                    try await store.resolution(of: hold.id)?.transaction.role == .void(hold: hold.id, expired: false))
                #expect(try await store.expiredHolds(at: Timestamp(millisecondsSince1970: .max), limit: 10).isEmpty)
            }
            let report = try await ConsistencyCheck.run(database: location)
            #expect(report.isConsistent, "\(report)")
        }
    }

    /// A database that version 4 wrote (accounts without settings; transactions without metadata) is migrated in
    /// place: every account keeps its balance and count, gets no currency, no limits, empty metadata and the time
    /// of its first transaction as its opening time; every transaction reads with empty metadata; the index file
    /// of the earlier layout is rebuilt; and the migrated ledger takes settings and metadata at once.
    @Test func aVersion4DatabaseGetsAccountsWithRules() async throws {
        try await withTemporaryDatabase { path in
            let (a, b) = (AccountID(UUID()), AccountID(UUID()))
            // (account, amount, created_at) in sequence order; balance_after is each account's running sum.
            let history: [(AccountID, Int64, Int64)] = [(a, 5, 1_000), (b, 9, 2_000), (a, -4, 2_000), (b, 1, 3_500)]
            let ids = history.map { _ in TransactionID(UUID()) }
            do {
                let queue = try DatabaseQueue(path: path)
                try Schema.migrator.migrate(queue, upTo: "v4: index tables in a file of their own")
                try await queue.write { db in
                    try db.execute(
                        sql: "INSERT INTO accounts VALUES (?, 1, 2), (?, 10, 2)", arguments: [a.uuid, b.uuid])
                    var sums: [AccountID: Int64] = [:]
                    for (sequence, (id, (account, amount, createdAt))) in zip(ids, history).enumerated() {
                        sums[account, default: 0] += amount
                        try db.execute(
                            sql: "INSERT INTO transactions VALUES (?, ?, ?, ?, ?, ?)",
                            arguments: [sequence + 1, id.uuid, account.uuid, amount, createdAt, sums[account]])
                    }
                }
                try queue.close()
            }
            let store = try SQLiteLedgerStore(pool: try LedgerDatabase.open(path: path))
            for (account, balance, openedAt) in [(a, Int64(1), Int64(1_000)), (b, Int64(10), Int64(2_000))] {
                let document = try #require(try await store.account(account))
                #expect(document.state == AccountState(balance: balance, transactionCount: 2))
                #expect(document.metadata == .empty)
                #expect(document.createdAt == Timestamp(millisecondsSince1970: openedAt))
            }
            for (id, (account, amount, _)) in zip(ids, history) {
                let entry = try #require(try await store.transaction(id))
                #expect(entry.transaction == Transaction(id: id, accountID: account, amount: amount))
            }
            #expect(try await store.statement(of: a, before: nil, limit: 10).map(\.balanceAfter) == [1, 5])
            #expect(try ConsistencyCheck.run(path: path).isConsistent)

            let settings = AccountSettings(
                rules: AccountRules(minimumBalance: 0),
                metadata: try Metadata.validated([("owner", "u-1")], field: "metadata").get())
            let configured = try await Ledger.configure([(a, settings)], in: store)[0].get()
            #expect(configured.outcome == .configured && configured.account.state.balance == 1)
            let metadata = try Metadata.validated([("order", "o-1")], field: "metadata").get()
            let plan = try await Ledger.commit(
                [Batch([Transaction(id: TransactionID(UUID()), accountID: a, amount: -2, metadata: metadata)])],
                to: store)
            #expect(plan.created.isEmpty)  // below the new minimum
            let accepted = try await Ledger.commit(
                [Batch([Transaction(id: TransactionID(UUID()), accountID: a, amount: -1, metadata: metadata)])],
                to: store)
            #expect(accepted.created.map(\.sequence) == [5])
            #expect(try await store.statement(of: a, before: nil, limit: 1).first?.transaction.metadata == metadata)
            #expect(
                try await store.accounts(after: nil, limit: 10, filter: MetadataFilter(key: "owner", value: "u-1")).map(
                    \.id) == [a])
            try await store.close()
            #expect(try ConsistencyCheck.run(path: path).isConsistent)
        }
    }

    /// A database that version 1 wrote (no order, time or balance_after) is migrated in place on start: every
    /// balance and transaction kept, each account's balance_after chain its running sum, ending at its balance.
    @Test func aVersion1DatabaseIsMigratedInPlace() async throws {
        try await withTemporaryDatabase { path in
            let (a, b) = (AccountID(UUID()), AccountID(UUID()))
            let history: [(AccountID, Int64)] = [(a, 5), (b, .max), (a, -4), (b, 0), (a, 1), (b, -7)]
            let ids = history.map { _ in TransactionID(UUID()) }
            do {
                let queue = try DatabaseQueue(path: path)
                try Schema.migrator.migrate(queue, upTo: "v1: accounts and transactions")
                try await queue.write { db in
                    try db.execute(
                        sql: "INSERT INTO accounts VALUES (?, 2, 3), (?, ?, 3)",
                        arguments: [a.uuid, b.uuid, Int64.max - 7])
                    for (id, (account, amount)) in zip(ids, history) {
                        try db.execute(
                            sql: "INSERT INTO transactions (id, account_id, amount) VALUES (?, ?, ?)",
                            arguments: [id.uuid, account.uuid, amount])
                    }
                }
                try queue.close()
            }
            let store = try SQLiteLedgerStore(pool: try LedgerDatabase.open(path: path))
            #expect(try await store.balance(of: a) == 2)
            #expect(try await store.balance(of: b) == .max - 7)
            for (id, (account, amount)) in zip(ids, history) {
                let entry = try #require(try await store.transaction(id))
                #expect(entry.transaction == Transaction(id: id, accountID: account, amount: amount))
            }
            for (account, balance) in [(a, Int64(2)), (b, Int64.max - 7)] {
                let entries = try await store.statement(of: account, before: nil, limit: 100)
                #expect(entries.count == 3)
                #expect(entries.first?.balanceAfter == balance)
                var sum: Int64 = 0
                for entry in entries.reversed() {
                    sum += entry.transaction.amount
                    #expect(entry.balanceAfter == sum)
                }
            }
            let feed = try await store.transactions(after: 0, limit: 100)
            #expect(feed.map(\.sequence) == Array(1...6))
            #expect(Set(feed.map(\.createdAt)).count == 1)
            #expect(try ConsistencyCheck.run(path: path).isConsistent)

            // New transactions follow the migrated ones.
            let plan = try await Ledger.commit(
                [Batch([Transaction(id: TransactionID(UUID()), accountID: a, amount: 1)])], to: store)
            #expect(plan.created.map(\.sequence) == [7])
            #expect(plan.created.map(\.balanceAfter) == [3])
        }
    }
}

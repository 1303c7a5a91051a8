import Foundation
import Logging
import PostgresNIO
import Synchronization
import TestSupport
import Testing

@testable import AccountLedger
@testable import PostgresStore
@testable import SQLiteStore

/// What is particular to the PostgreSQL store; everything the stores share runs on both in the other suites.
@Suite(.timeLimit(.minutes(3)), .enabled(if: StoreKind.all.contains(.postgres)))
struct PostgresStoreTests {
    typealias SQL = PostgresLedgerStore.SQL

    /// Every GET is answered by index lookups: on a filled and analyzed database, the plan of no statement the
    /// store runs for a GET scans a table (but busiest_accounts, which holds only the answer), and max volume
    /// answers the one busiest account.
    @Test func readQueriesAreIndexLookups() async throws {
        try await withTemporaryStore(.postgres) { url in
            try await withStore(at: url) { store in
                // Counts close together, as a real ledger's are (a million transactions over 10,000 accounts: about
                // 100 each), so the statistics say many accounts share any one count, and one account above them
                // all. Planned with those statistics, schema v2's `WHERE transaction_count = (max)` on accounts
                // scanned the table (measured: 1,000 requests/s at 1,000,000 transactions).
                let accounts = (0..<2_000).map { _ in AccountID(UUID()) }
                let postings = accounts.enumerated().flatMap { index, account in
                    (0..<(index == 0 ? 12 : 10 + index % 2)).map { _ in
                        Transaction(id: TransactionID(UUID()), accountID: account, amount: 1)
                    }
                }
                for start in stride(from: 0, to: postings.count, by: 1_000) {
                    _ = try await Ledger.commit(
                        [Batch(Array(postings[start..<min(start + 1_000, postings.count)]))], to: store)
                }
                // Holds that expire, most of them open: expiring_holds is read from its start.
                let holds = accounts.prefix(1_000).map { account in
                    Transaction(id: TransactionID(UUID()), accountID: account, amount: -1)
                }
                _ = try await Ledger.commit([Batch(holds, pending: true, timeout: 3600)], to: store)
                _ = try await Ledger.commit(
                    [
                        Batch(
                            items: holds.prefix(100).map {
                                .resolution(Resolution(id: TransactionID(UUID()), hold: $0.id, action: .void))
                            })
                    ], to: store)
                // Metadata on every account: a member most accounts share, and one a few hold.
                // (In one write, as configurations waiting together are: the plans are the point here.)
                let configurations = try accounts.enumerated().map { index, account in
                    let members = [("tier", index % 100 == 0 ? "gold" : "silver"), ("n", String(index))]
                    return (
                        account, AccountSettings(metadata: try Metadata.validated(members, field: "metadata").get())
                    )
                }
                for decision in try await Ledger.configure(configurations, in: store) { _ = try decision.get() }
                let client = try #require(store as? PostgresLedgerStore).client
                try await client.query("ANALYZE")
                let account = accounts[7].uuid
                let transaction = try #require(try await store.statement(of: accounts[7], before: nil, limit: 1).first)
                // Arguments as SQL literals: EXECUTE takes no parameters of its own.
                func ids(_ ids: UUID...) -> String { "ARRAY[\(ids.map { "'\($0)'" }.joined(separator: ","))]::uuid[]" }
                let statements: [(sql: String, arguments: [String])] = [
                    (SQL.transactionsByID, [ids(transaction.transaction.id.uuid, UUID())]),
                    (SQL.balancesByID, [ids(account, accounts[8].uuid)]),
                    (SQL.balanceAtInstant, ["'\(account)'", "\(transaction.createdAt.millisecondsSince1970)"]),
                    (SQL.statementPage, ["'\(account)'", "20000", "100"]),
                    (SQL.feedPage, ["20000", "1000"]),
                    (SQL.maxTransactionVolume, []),
                    (SQL.accountsByID, [ids(account, accounts[8].uuid)]),
                    (SQL.accountsFrom, ["'\(account)'", "100"]),
                    (SQL.accountsWithMemberFrom, ["'tier'", "'gold'", "'\(account)'", "100"]),
                    (SQL.accountsWithMemberFrom, ["'tier'", "'silver'", "'\(account)'", "100"]),
                    (SQL.resolutionOfHold, ["'\(transaction.transaction.id.uuid)'"]),
                    (SQL.expiredHolds, ["\(transaction.createdAt.millisecondsSince1970)", "4096"]),
                    // A commit's snapshot is index probes too (it is read while the commit holds the head).
                    (SQL.snapshot, [ids(transaction.transaction.id.uuid), ids(account), ids(UUID())]),
                ]
                for (sql, arguments) in statements {
                    let plan = try await Self.plan(of: sql, arguments: arguments, on: client)
                    #expect(!plan.isEmpty)
                    // busiest_accounts holds only the answer of max volume (and the dead versions autovacuum has
                    // yet to remove): reading it whole is the right plan. ledger_head is one row.
                    #expect(
                        !plan.contains {
                            $0.contains("Seq Scan") && !$0.contains("Seq Scan on busiest_accounts")
                                && !$0.contains("Seq Scan on ledger_head")
                        },
                        "\(sql)\n\(plan.joined(separator: "\n"))")
                    // Pages come in index order: a sort would read every matching row to return the first few.
                    // (busiest_accounts, again, holds only the answer.)
                    #expect(
                        sql == SQL.maxTransactionVolume || !plan.contains { $0.contains("Sort") },
                        "\(sql)\n\(plan.joined(separator: "\n"))")
                }
                #expect(
                    try await store.transactionVolume() == TransactionVolume(maxVolume: 12, accounts: [accounts[0]]))
            }
        }
    }

    /// The plan the store runs for `sql`: prepared on one of its connections, which keep one generic plan per
    /// statement (made at its first execution, whatever the tables held then), and explained with `arguments`
    /// (SQL literals: EXECUTE takes no parameters of its own).
    static func plan(of sql: String, arguments: [String], on client: PostgresClient) async throws -> [String] {
        let logger = Logger(label: "explain")
        return try await client.withConnection { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "PREPARE explained AS \(sql)"), logger: logger)
            let execute =
                "EXPLAIN EXECUTE explained" + (arguments.isEmpty ? "" : "(\(arguments.joined(separator: ", ")))")
            var plan: [String] = []
            for try await line in try await connection.query(PostgresQuery(unsafeSQL: execute), logger: logger)
                .decode(String.self)
            {
                plan.append(line)
            }
            try await connection.query("DEALLOCATE explained", logger: logger)
            return plan
        }
    }

    /// A connection plans each statement once, at its first execution, and keeps that plan while tables grow
    /// (until autovacuum next analyzes them): planned on a new, empty database, no statement of the store may scan
    /// a table that grows, or it goes on scanning it. (Planned so, the write's account update joined a scan of
    /// every account: on a fresh database, a third of PostgreSQL's time per transfer, docs/performance.md.)
    @Test func plansMadeOnAnEmptyDatabaseAreIndexLookups() async throws {
        try await withTemporaryStore(.postgres) { url in
            try await withStore(at: url) { store in
                let client = try #require(store as? PostgresLedgerStore).client
                let statements = [
                    SQL.snapshot, SQL.write, SQL.upsertSettings, SQL.replaceMembers, SQL.transactionsByID,
                    SQL.balancesByID, SQL.accountsByID, SQL.accountsFrom, SQL.accountsWithMemberFrom,
                    SQL.resolutionOfHold, SQL.expiredHolds, SQL.balanceAtInstant, SQL.statementPage, SQL.feedPage,
                ]
                for sql in statements {
                    // NULL for each parameter: a generic plan does not depend on them.
                    let parameters = try #require(
                        sql.matches(of: /\$([0-9]+)/).compactMap { Int($0.output.1) }.max())
                    let plan = try await Self.plan(
                        of: sql, arguments: Array(repeating: "NULL", count: parameters), on: client)
                    #expect(!plan.isEmpty)
                    // ledger_head is one row, and has no index to read it by.
                    #expect(
                        !plan.contains { $0.contains("Seq Scan") && !$0.contains("Seq Scan on ledger_head") },
                        "\(sql)\n\(plan.joined(separator: "\n"))")
                    // Nor compiled at each execution (JIT, half a second), which scans' penalty invites.
                    #expect(!plan.contains { $0.hasPrefix("JIT") }, "\(sql)\n\(plan.joined(separator: "\n"))")
                }
            }
        }
    }

    /// An account configured between a commit's snapshot and its write (by another instance, say) sends the
    /// commit to the locked path, where it is decided again on the new rules: a limit set before the commit's
    /// write applies to it. (The first decision waits, on its thread, until the configuration has committed: the
    /// commit runs on a queue of its own, so that the configuration has a thread to run on.)
    @Test func aConfigurationBetweenSnapshotAndWriteIsSeenByTheCommit() async throws {
        try await withTemporaryStore(.postgres) { url in
            try await withStore(at: url) { store in
                let account = AccountID(UUID())
                _ = try await Ledger.commit(
                    [Batch([Transaction(id: TransactionID(UUID()), accountID: account, amount: 5)])], to: store)
                let (snapshotTaken, taken) = AsyncStream.makeStream(of: Void.self)
                let configured = DispatchSemaphore(value: 0)
                let configuration = Task {
                    for await _ in snapshotTaken { break }
                    defer { configured.signal() }
                    _ = try await Ledger.configure(
                        [(account, AccountSettings(rules: AccountRules(minimumBalance: 0)))], in: store)[0].get()
                }
                let debit = Transaction(id: TransactionID(UUID()), accountID: account, amount: -6)
                let decisions = Mutex(0)
                let plan = try await Task(executorPreference: QueueTaskExecutor()) {
                    try await store.commit(CommitKeys([debit])) { snapshot in
                        if decisions.withLock({ count in
                            count += 1
                            return count == 1
                        }) {
                            #expect(snapshot.accounts[account]?.rules.minimumBalance == nil)
                            taken.yield()
                            configured.wait()
                        }
                        return Ledger.plan([Batch([debit])], on: snapshot, now: .now())
                    }
                }.value
                try await configuration.value
                #expect(decisions.withLock { $0 } == 2)
                #expect(plan.created.isEmpty)
                guard case .failure(.batchRefused(let refused)) = plan.outcomes.first else {
                    Issue.record("the debit was not refused: \(plan.outcomes)")
                    return
                }
                #expect(refused.map(\.reason) == [.insufficientFunds(debit, minimum: 0, resulting: -1)])
                #expect(try await store.balance(of: account) == 5)
            }
        }
    }

    /// A commit is tried without the head lock first, on the condition that the head has not moved since its
    /// snapshot. When it has (here the first snapshot is made to look older than the head, as when another
    /// instance commits in between), nothing of the first try is written, and the commit is decided again and
    /// made under the lock: once, with the sequence after the head's.
    @Test func aCommitWhoseHeadMovedIsMadeAgainUnderTheLock() async throws {
        try await withTemporaryStore(.postgres) { url in
            try await withStore(at: url) { store in
                let account = AccountID(UUID())
                let first = Transaction(id: TransactionID(UUID()), accountID: account, amount: 5)
                _ = try await Ledger.commit([Batch([first])], to: store)
                let posting = Transaction(id: TransactionID(UUID()), accountID: account, amount: 2)
                let decisions = Mutex(0)
                let plan = try await store.commit(CommitKeys([posting])) { snapshot in
                    var seen = snapshot
                    if decisions.withLock({ count in
                        count += 1
                        return count == 1
                    }) {
                        seen.lastSequence += 5
                    }
                    return Ledger.plan([Batch([posting])], on: seen, now: .now())
                }
                #expect(decisions.withLock { $0 } == 2)
                #expect(plan.created.map(\.sequence) == [2])
                #expect(try await store.transaction(posting.id)?.sequence == 2)
                #expect(try await store.balance(of: account) == 7)
                #expect(try await store.transactions(after: 0, limit: 10).map(\.sequence) == [1, 2])
            }
        }
    }

    /// Migration 3 fills busiest_accounts from the accounts of a database written by version 2.
    @Test func aVersion2DatabaseGetsItsBusiestAccounts() async throws {
        try await withTemporaryStore(.postgres) { url in
            let (a, b, c) = (UUID(), UUID(), UUID())
            try await PostgresDatabase.withClient(url: url) { client in
                try await client.withConnection { connection in
                    let logger = Logger(label: "migration")
                    #expect(try await PostgresSchema.migrate(connection, upTo: 2, logger: logger) == [1, 2])
                    try await connection.query(
                        "INSERT INTO accounts VALUES (\(a), 5, 3), (\(b), 1, 3), (\(c), 2, 1)", logger: logger)
                    #expect(try await PostgresSchema.migrate(connection, logger: logger) == [3, 4, 5])
                }
            }
            let busiest = [a, b].sorted { $0.uuidString < $1.uuidString }.map { AccountID($0) }
            try await withStore(at: url) { store in
                let volume = try await store.transactionVolume()
                #expect(volume == TransactionVolume(maxVolume: 3, accounts: busiest))
            }
        }
    }

    /// Migration 4 gives the accounts of a database written by version 3 their opening time (their first
    /// transaction's), no currency, no limits and empty metadata, keeping balances and counts; transactions read
    /// with empty metadata, and the migrated ledger takes settings at once.
    @Test func aVersion3DatabaseGetsAccountsWithRules() async throws {
        try await withTemporaryStore(.postgres) { url in
            let (a, b) = (UUID(), UUID())
            let (first, second, third) = (UUID(), UUID(), UUID())
            try await PostgresDatabase.withClient(url: url) { client in
                try await client.withConnection { connection in
                    let logger = Logger(label: "migration")
                    #expect(try await PostgresSchema.migrate(connection, upTo: 3, logger: logger) == [1, 2, 3])
                    try await connection.query(
                        "INSERT INTO accounts VALUES (\(a), 3, 2), (\(b), 7, 1)", logger: logger)
                    try await connection.query(
                        """
                        INSERT INTO transactions VALUES (1, \(first), \(a), 5, 1000, 5), (2, \(second), \(b), 7, 2000, 7),
                            (3, \(third), \(a), -2, 2500, 3)
                        """, logger: logger)
                    try await connection.query(
                        "UPDATE ledger_head SET last_sequence = 3, last_created_at = 2500", logger: logger)
                    try await connection.query(
                        "INSERT INTO busiest_accounts VALUES (2, \(a))", logger: logger)
                    #expect(try await PostgresSchema.migrate(connection, logger: logger) == [4, 5])
                }
            }
            try await withStore(at: url) { store in
                let document = try #require(try await store.account(AccountID(a)))
                #expect(document.state == AccountState(balance: 3, transactionCount: 2))
                #expect(document.metadata == .empty && document.createdAt == Timestamp(millisecondsSince1970: 1000))
                #expect(try await store.account(AccountID(b))?.createdAt == Timestamp(millisecondsSince1970: 2000))
                #expect(try await store.transaction(TransactionID(third))?.transaction.metadata == .empty)
                let configured = try await Ledger.configure(
                    [(AccountID(b), AccountSettings(rules: AccountRules(maximumBalance: 7)))], in: store)[0].get()
                #expect(configured.account.state.rules.maximumBalance == 7)
                let refused = try await Ledger.commit(
                    [Batch([Transaction(id: TransactionID(UUID()), accountID: AccountID(b), amount: 1)])], to: store)
                #expect(refused.created.isEmpty)
            }
            #expect(try await ConsistencyCheck.run(postgresURL: url).isConsistent)
        }
    }

    /// `account-service check` verifies that busiest_accounts (what max volume reads) holds exactly the accounts
    /// with the most transactions.
    @Test func checkNamesBusiestAccountsThatDisagreeWithTheCounts() async throws {
        try await withTemporaryStore(.postgres) { url in
            try await withStore(at: url) { store in
                let (busy, quiet) = (AccountID(UUID()), AccountID(UUID()))
                _ = try await Ledger.commit(
                    [
                        Batch(
                            [busy, busy, quiet].map { Transaction(id: TransactionID(UUID()), accountID: $0, amount: 1) }
                        )
                    ],
                    to: store)
            }
            #expect(try await ConsistencyCheck.run(postgresURL: url).isConsistent)
            try await PostgresDatabase.withClient(url: url) { client in
                try await client.query("UPDATE busiest_accounts SET transaction_count = 3")
            }
            let report = try await ConsistencyCheck.run(postgresURL: url)
            #expect(report.integrityErrors.contains { $0.contains("busiest_accounts") }, "\(report)")
        }
    }

    /// There is no foreign key (a trigger per row): the commit's write statement checks once that every
    /// transaction's account is one it inserts or updates. A plan that posts to an account it does not change
    /// writes nothing.
    @Test func aCommitWhoseTransactionWouldHaveNoAccountWritesNothing() async throws {
        try await withTemporaryStore(.postgres) { url in
            try await withStore(at: url) { store in
                let posting = Transaction(id: TransactionID(UUID()), accountID: AccountID(UUID()), amount: 3)
                await #expect(throws: PostgresLedgerStore.ConcurrentModificationError.self) {
                    _ = try await store.commit(CommitKeys([posting])) { snapshot in
                        var plan = Ledger.plan([Batch([posting])], on: snapshot, now: .now())
                        plan.accounts = []
                        return plan
                    }
                }
                let written = try await store.transactions(after: 0, limit: 10)
                #expect(written.isEmpty)
                #expect(try await store.balance(of: posting.accountID) == nil)
            }
        }
    }
}

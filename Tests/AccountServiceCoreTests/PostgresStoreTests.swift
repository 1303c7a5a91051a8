import Foundation
import PostgresNIO
import Synchronization
import Testing

@testable import AccountServiceCore

/// What is particular to the PostgreSQL store; everything the stores share runs on both in the other suites.
@Suite(.timeLimit(.minutes(2)), .enabled(if: StoreKind.all.contains(.postgres)))
struct PostgresStoreTests {
    typealias SQL = PostgresLedgerStore.SQL

    /// Every GET is answered by index lookups: on a filled and analyzed database, the plan of no statement the
    /// store runs for a GET scans a table.
    @Test func readQueriesAreIndexLookups() async throws {
        try await withTemporaryStore(.postgres) { url in
            try await withStore(at: url) { store in
                // Counts from 1 to 50, as a real ledger's differ (were they all equal, every account would be the
                // answer of max volume, and reading them all is the right plan).
                let accounts = (0..<2_000).map { _ in AccountID(UUID()) }
                let postings = accounts.enumerated().flatMap { index, account in
                    (0...(index % 50)).map { _ in Transaction(id: TransactionID(UUID()), accountID: account, amount: 1)
                    }
                }
                for start in stride(from: 0, to: postings.count, by: 1_000) {
                    _ = try await Ledger.commit(
                        [Batch(Array(postings[start..<min(start + 1_000, postings.count)]))], to: store)
                }
                let client = try #require(store as? PostgresLedgerStore).client
                try await client.query("ANALYZE")
                let account = accounts[7].uuid
                let transaction = try #require(try await store.statement(of: accounts[7], before: nil, limit: 1).first)
                let statements: [(String, PostgresBindings)] = [
                    (SQL.transactionsByID, PostgresLedgerStore.binds([transaction.transaction.id.uuid, UUID()])),
                    (SQL.balancesByID, PostgresLedgerStore.binds([account, accounts[8].uuid])),
                    (SQL.balanceAtInstant, Self.binds(account, transaction.createdAt.millisecondsSince1970)),
                    (SQL.statementPage, Self.binds(account, Int64(20_000), Int64(100))),
                    (SQL.feedPage, Self.binds(Int64(20_000), Int64(1_000))),
                    (SQL.maxTransactionVolume, PostgresBindings()),
                ]
                for (sql, binds) in statements {
                    var plan: [String] = []
                    for try await line in try await client.query(
                        PostgresQuery(unsafeSQL: "EXPLAIN " + sql, binds: binds)
                    )
                    .decode(String.self) {
                        plan.append(line)
                    }
                    #expect(!plan.isEmpty)
                    #expect(!plan.contains { $0.contains("Seq Scan") }, "\(sql)\n\(plan.joined(separator: "\n"))")
                }
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
                let plan = try await store.commit([posting]) { snapshot in
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

    /// There is no foreign key (a trigger per row): the commit's write statement checks once that every
    /// transaction's account is one it inserts or updates. A plan that posts to an account it does not change
    /// writes nothing.
    @Test func aCommitWhoseTransactionWouldHaveNoAccountWritesNothing() async throws {
        try await withTemporaryStore(.postgres) { url in
            try await withStore(at: url) { store in
                let posting = Transaction(id: TransactionID(UUID()), accountID: AccountID(UUID()), amount: 3)
                await #expect(throws: PostgresLedgerStore.ConcurrentModification.self) {
                    _ = try await store.commit([posting]) { snapshot in
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

    static func binds(_ id: UUID, _ numbers: Int64...) -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(id)
        for number in numbers { binds.append(number) }
        return binds
    }

    static func binds(_ first: Int64, _ second: Int64) -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(first)
        binds.append(second)
        return binds
    }
}

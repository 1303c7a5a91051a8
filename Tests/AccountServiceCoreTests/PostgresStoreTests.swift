import Foundation
import PostgresNIO
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
                    (SQL.transactionByID, Self.binds(transaction.transaction.id.uuid)),
                    (SQL.balanceByID, Self.binds(account)),
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

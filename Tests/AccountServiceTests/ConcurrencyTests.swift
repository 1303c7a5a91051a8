import Foundation
import HTTPTypes
import HummingbirdTesting
import TestSupport
import Testing

@testable import AccountLedger
@testable import PostgresStore
@testable import SQLiteStore

/// No update is lost and no transaction applied twice, however many requests arrive at once.
@Suite(.timeLimit(.minutes(3))) struct ConcurrencyTests {
    @Test(arguments: StoreKind.all) func concurrentPostsOnOneAccountSumExactly(store: StoreKind) async throws {
        try await withApp(.ahc(), store: store) { client async throws in
            let account = newID()
            let amounts: [Int64] = (1...400).map { $0 % 7 == 0 ? -Int64($0) : Int64($0) * 3 }
            let statuses = try await concurrently(amounts) { amount in
                try await client.postAmount(transactionID: newID(), accountID: account, amount: amount).status
            }
            #expect(statuses.count == amounts.count && statuses.allSatisfy { $0 == .ok })
            #expect(try await client.balance(account) == amounts.reduce(0, +))
            #expect(
                try await client.transactionVolume() == VolumeBody(maxVolume: Int64(amounts.count), accounts: [account])
            )
        }
    }

    @Test(arguments: StoreKind.all) func concurrentIdenticalPostsApplyOnce(store: StoreKind) async throws {
        try await withApp(.ahc(), store: store) { client async throws in
            let account = newID()
            let id = newID()
            let replays = try await concurrently(Array(0..<100)) { _ in
                let response = try await client.postAmount(transactionID: id, accountID: account, amount: 25)
                #expect(response.status == .ok)
                #expect(try response.decode(TransactionBody.self).amount == 25)
                return response.headers[HTTPField.Name("Idempotent-Replayed")!] == "true"
            }.filter { $0 }.count
            #expect(replays == 99)
            #expect(try await client.balance(account) == 25)
            #expect(try await client.transactionVolume().maxVolume == 1)
        }
    }

    @Test(arguments: StoreKind.all) func concurrentConflictingPostsApplyExactlyOne(store: StoreKind) async throws {
        try await withApp(.ahc(), store: store) { client async throws in
            let account = newID()
            let id = newID()
            let statuses = Dictionary(
                uniqueKeysWithValues: try await concurrently(Array(Int64(1)...50)) { amount in
                    (amount, try await client.postAmount(transactionID: id, accountID: account, amount: amount).status)
                })
            let accepted = statuses.filter { $0.value == .ok }
            #expect(accepted.count == 1)
            #expect(statuses.values.filter { $0 == .unprocessableContent }.count == 49)
            #expect(try await client.balance(account) == accepted.first?.key)
        }
    }

    /// The same at the ledger level, with far more writers than the HTTP client's connection pool allows.
    @Test(arguments: StoreKind.all) func manyConcurrentLedgerPostingsAcrossAccounts(store: StoreKind) async throws {
        try await withLedger(store) { ledger, _ async throws in
            let accounts = (0..<5).map { _ in AccountID(UUID()) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<2_000 {
                    group.addTask {
                        let transaction = Transaction(
                            id: TransactionID(UUID()), accountID: accounts[index % 5], amount: Int64(index))
                        _ = try await ledger.post(transaction)
                    }
                }
                try await group.waitForAll()
            }
            for (offset, account) in accounts.enumerated() {
                let expected = stride(from: offset, to: 2_000, by: 5).reduce(Int64(0)) { $0 + Int64($1) }
                #expect(try await ledger.balance(of: account) == expected)
            }
            let volume = try await ledger.transactionVolume()
            #expect(volume.maxVolume == 400)
            #expect(Set(volume.accounts) == Set(accounts))
        }
    }
}

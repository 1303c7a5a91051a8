import Foundation
import Hummingbird
import HummingbirdTesting
import Synchronization
import TestSupport
import Testing

@testable import AccountHTTP
@testable import AccountLedger
@testable import PostgresStore
@testable import SQLiteStore

/// maxVolume counts accepted transactions per account: zero amounts count, replays and refusals do not.
@Suite(.timeLimit(.minutes(3))) struct TransactionVolumeTests {
    @Test(arguments: StoreKind.all) func emptyDatabase(store: StoreKind) async throws {
        try await withApp(store: store) { client async throws in
            let volume = try await client.transactionVolume()
            #expect(volume == VolumeBody(maxVolume: 0, accounts: []))
        }
    }

    @Test(arguments: StoreKind.all) func zeroAmountsCountAndReplaysAndRefusalsDoNot(store: StoreKind) async throws {
        try await withApp(store: store) { client async throws in
            let zeros = newID()
            let busy = newID()
            for _ in 0..<3 { try await client.postAmount(transactionID: newID(), accountID: zeros, amount: 0) }
            #expect(try await client.transactionVolume() == VolumeBody(maxVolume: 3, accounts: [zeros]))

            // Two accepted transactions on `busy`, plus replays, a conflict, an overflow and a bad request.
            let id = newID()
            try await client.postAmount(transactionID: id, accountID: busy, amount: .max)
            try await client.postAmount(transactionID: newID(), accountID: busy, amount: -1)
            for _ in 0..<5 { try await client.postAmount(transactionID: id, accountID: busy, amount: .max) }
            try await client.postAmount(transactionID: id, accountID: busy, amount: 1).problem(.unprocessableContent)
            try await client.postAmount(transactionID: newID(), accountID: busy, amount: 2).problem(
                .unprocessableContent)
            try await client.postAmount(transactionID: newID(), body: #"{"account_id":"\#(busy)","amount":"1"}"#)
                .problem(.badRequest)
            #expect(try await client.transactionVolume() == VolumeBody(maxVolume: 3, accounts: [zeros]))

            try await client.postAmount(transactionID: newID(), accountID: busy, amount: 0)
            let tied = try await client.transactionVolume()
            #expect(tied.maxVolume == 3)
            #expect(tied.accounts == [busy, zeros].sorted())

            try await client.postAmount(transactionID: newID(), accountID: busy, amount: 0)
            #expect(try await client.transactionVolume() == VolumeBody(maxVolume: 4, accounts: [busy]))
        }
    }

    /// Commits of random postings over a few accounts, some several to one account, some tying or passing the
    /// busiest within one commit: after each, max volume is what counting every accepted transaction says.
    @Test(arguments: StoreKind.all) func maxVolumeFollowsEveryCommit(store: StoreKind) async throws {
        try await withTemporaryStore(store) { location in
            try await withStore(at: location) { store in
                let accounts = (0..<12).map { _ in AccountID(UUID()) }
                var generator = SystemRandomNumberGenerator()
                var counts: [AccountID: Int64] = [:]
                for _ in 0..<60 {
                    let postings = (0..<Int.random(in: 1...6, using: &generator)).map { _ in
                        Transaction(
                            id: TransactionID(UUID()), accountID: accounts.randomElement(using: &generator)!, amount: 1)
                    }
                    _ = try await Ledger.commit([Batch(postings)], to: store)
                    for posting in postings { counts[posting.accountID, default: 0] += 1 }
                    let most = counts.values.max() ?? 0
                    let expected = TransactionVolume(
                        maxVolume: most,
                        accounts: counts.filter { $0.value == most }.keys.sorted {
                            $0.uuid.uuidString < $1.uuid.uuidString
                        })
                    #expect(try await store.transactionVolume() == expected)
                }
            }
        }
    }

    @Test(arguments: StoreKind.all) func balanceOfZeroIsStillAnAccount(store: StoreKind) async throws {
        try await withApp(store: store) { client async throws in
            let account = newID()
            try await client.postAmount(transactionID: newID(), accountID: account, amount: 5)
            try await client.postAmount(transactionID: newID(), accountID: account, amount: -5)
            #expect(try await client.balance(account) == 0)
            let zero = newID()
            try await client.postAmount(transactionID: newID(), accountID: zero, amount: 0)
            #expect(try await client.balance(zero) == 0)
        }
    }
}

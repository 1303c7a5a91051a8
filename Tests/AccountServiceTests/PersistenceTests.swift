import Foundation
import HTTPTypes
import HummingbirdTesting
import TestSupport
import Testing

/// Everything accepted is still there, and still idempotent, after the service is stopped and started again.
@Suite(.timeLimit(.minutes(3))) struct PersistenceTests {
    @Test(arguments: StoreKind.all) func dataAndIdempotencySurviveARestart(store: StoreKind) async throws {
        try await withTemporaryStore(store) { path in
            let account = newID()
            let id = newID()
            try await withApp(database: path) { client async throws in
                try await client.postAmount(transactionID: id, accountID: account, amount: 40)
                try await client.postAmount(transactionID: newID(), accountID: account, amount: 2)
                #expect(try await client.balance(account) == 42)  // opens a reader connection too
            }
            if store == .sqlite {
                // A clean shutdown leaves everything in the database file itself: the write-ahead log is empty.
                let log = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
                #expect(log == 0)
            }
            try await withApp(database: path) { client async throws in
                #expect(try await client.balance(account) == 42)
                let recorded = try await client.get("/transaction/\(id)").decode(TransactionBody.self)
                #expect(recorded == TransactionBody(transaction_id: id, account_id: account, amount: 40))
                let replay = try await client.postAmount(transactionID: id, accountID: account, amount: 40)
                #expect(replay.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
                try await client.postAmount(transactionID: id, accountID: account, amount: 41).problem(
                    .unprocessableContent)
                #expect(try await client.balance(account) == 42)
                #expect(try await client.transactionVolume() == VolumeBody(maxVolume: 2, accounts: [account]))
            }
        }
    }
}

import HTTPTypes
import HummingbirdTesting
import TestSupport
import Testing

/// The challenge's six public scenarios (API.md), run in order against one fresh database of each store over real
/// HTTP.
@Suite(.timeLimit(.minutes(3))) struct PublicScenarioTests {
    @Test(arguments: StoreKind.all) func theSixScenariosInOrder(store: StoreKind) async throws {
        try await withApp(.ahc(), store: store) { client async throws in
            // 1. Create, read, balance.
            let account1 = "a40bcc03-6f39-418c-ad0b-97e14f522ec1"
            let transaction1 = "7943f961-a733-43cf-ba3d-905a5856f6da"
            #expect(
                try await client.postAmount(transactionID: transaction1, accountID: account1, amount: 7).status == .ok)
            let read = try await client.get("/transaction/\(transaction1)")
            #expect(read.status == .ok)
            let transaction = try read.decode(TransactionBody.self)
            #expect(transaction.account_id == account1)
            #expect(transaction.amount == 7)
            #expect(try await client.balance(account1) == 7)

            // 2. Negative and zero amounts.
            let account2 = "0b230303-0156-45a9-b996-16574b6be525"
            for (amount, balance) in [(4, 4), (-3, 1), (0, 1)] as [(Int64, Int64)] {
                #expect(
                    try await client.postAmount(transactionID: newID(), accountID: account2, amount: amount).status
                        == .ok)
                #expect(try await client.balance(account2) == balance)
            }

            // 3. Idempotency.
            let account3 = "ddb28326-25b5-431d-92bd-7a1b4372a10f"
            for _ in 0..<2 {
                let response = try await client.postAmount(
                    transactionID: "98438cc1-83f4-441a-a002-88838c259f83", accountID: account3, amount: 9)
                #expect(response.status == .ok)
            }
            #expect(try await client.balance(account3) == 9)

            // 4. Not found.
            #expect(try await client.get("/balance/\(newID())").status == .notFound)
            #expect(try await client.get("/transaction/\(newID())").status == .notFound)

            // 5. Invalid requests.
            let put = try await client.executeRequest(uri: "/amount", method: .put, headers: [:], body: nil)
            #expect(put.status == .methodNotAllowed)
            let xml = try await client.postAmount(
                transactionID: newID(), contentType: "application/xml",
                body: #"<transaction><account_id>\#(account1)</account_id><amount>7</amount></transaction>"#)
            #expect(xml.status == .unsupportedMediaType)
            #expect(try await client.postAmount(transactionID: newID(), body: #"{"amount":7}"#).status == .badRequest)
            #expect(
                try await client.postAmount(transactionID: newID(), body: #"{"account_id":"\#(account1)"}"#).status
                    == .badRequest)
            #expect(
                try await client.postAmount(transactionID: newID(), body: #"{"account_id":10,"amount":7}"#).status
                    == .badRequest)

            // 6. Max transaction volume.
            let postings: [(account: String, count: Int)] = [
                ("134aa5a1-7c1e-4a43-9a5b-1c2d3e4f5a6b", 2),
                ("7c9be9e8-a6df-4f43-9a44-38c10ad0de4a", 4),
                ("75108c41-2f0b-4f8e-8a3c-0d1e2f3a4b5c", 1),
                ("44a92331-a533-4dd3-82e3-3ff75219e33b", 4),
            ]
            for (account, count) in postings {
                for _ in 0..<count {
                    #expect(
                        try await client.postAmount(transactionID: newID(), accountID: account, amount: 1).status == .ok
                    )
                }
            }
            let volume = try await client.transactionVolume()
            #expect(volume.maxVolume == 4)
            #expect(
                Set(volume.accounts) == [
                    "7c9be9e8-a6df-4f43-9a44-38c10ad0de4a", "44a92331-a533-4dd3-82e3-3ff75219e33b",
                ])
            #expect(volume.accounts.count == 2)
        }
    }
}

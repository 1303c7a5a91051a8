import HummingbirdTesting
import Testing

/// maxVolume counts accepted transactions per account: zero amounts count, replays and refusals do not.
@Suite(.timeLimit(.minutes(1))) struct TransactionVolumeTests {
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

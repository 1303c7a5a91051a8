import HTTPTypes
import HummingbirdTesting
import TestSupport
import Testing

/// The Transaction-Id names the transaction: a repeat replays it, a different use of it is refused.
@Suite(.timeLimit(.minutes(3))) struct IdempotencyTests {
    let account = newID()

    @Test func replayReturnsTheOriginalAndChangesNothing() async throws {
        try await withApp { [account] client async throws in
            let id = newID()
            let first = try await client.postAmount(transactionID: id, accountID: account, amount: 9)
            let second = try await client.postAmount(transactionID: id, accountID: account, amount: 9)
            #expect(first.status == .ok && second.status == .ok)
            #expect(
                try first.decode(TransactionBody.self)
                    == TransactionBody(transaction_id: id, account_id: account, amount: 9))
            #expect(try second.decode(TransactionBody.self) == first.decode(TransactionBody.self))
            #expect(first.headers[HTTPField.Name("Idempotent-Replayed")!] == nil)
            #expect(second.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            #expect(try await client.balance(account) == 9)
            #expect(try await client.transactionVolume().maxVolume == 1)
        }
    }

    @Test func sameIDWithAnotherAmountIsRefusedWith422() async throws {
        try await withApp { [account] client async throws in
            let id = newID()
            try await client.postAmount(transactionID: id, accountID: account, amount: 9)
            let problem = try await client.postAmount(transactionID: id, accountID: account, amount: 10).problem(
                .unprocessableContent)
            #expect(problem.type == "tag:account-service,2026:idempotency-conflict")
            #expect(try await client.balance(account) == 9)
            #expect(try await client.transactionVolume().maxVolume == 1)
        }
    }

    @Test func sameIDWithAnotherAccountIsRefusedWith422() async throws {
        try await withApp { [account] client async throws in
            let id = newID()
            let other = newID()
            try await client.postAmount(transactionID: id, accountID: account, amount: 9)
            try await client.postAmount(transactionID: id, accountID: other, amount: 9).problem(.unprocessableContent)
            #expect(try await client.balance(account) == 9)
            try await client.expectNoAccount(other)
            let recorded = try await client.get("/transaction/\(id)").decode(TransactionBody.self)
            #expect(recorded.account_id == account)
        }
    }

    @Test func idsAreCaseInsensitiveAndAnsweredInLowerCase() async throws {
        try await withApp { client async throws in
            let id = "7943F961-A733-43CF-BA3D-905A5856F6DA"
            let account = "A40BCC03-6F39-418C-AD0B-97E14F522EC1"
            let created = try await client.postAmount(transactionID: id, accountID: account, amount: 3)
            #expect(
                try created.decode(TransactionBody.self)
                    == TransactionBody(
                        transaction_id: id.lowercased(), account_id: account.lowercased(), amount: 3))
            // The same transaction, named in lower case, replays; in mixed case with another amount, conflicts.
            let replay = try await client.postAmount(
                transactionID: id.lowercased(), accountID: account.lowercased(), amount: 3)
            #expect(replay.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            try await client.postAmount(
                transactionID: "7943f961-A733-43cf-BA3D-905a5856f6da", accountID: account, amount: 4
            )
            .problem(.unprocessableContent)
            #expect(try await client.balance(account.lowercased()) == 3)
            #expect(try await client.balance("a40bcc03-6F39-418c-ad0b-97E14F522EC1") == 3)
            let read = try await client.get("/transaction/\(id)").decode(TransactionBody.self)
            #expect(read.transaction_id == id.lowercased() && read.account_id == account.lowercased())
            #expect(try await client.transactionVolume().accounts == [account.lowercased()])
        }
    }
}

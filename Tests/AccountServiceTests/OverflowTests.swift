import HTTPTypes
import HummingbirdTesting
import TestSupport
import Testing

/// Balances are exact signed 64-bit integers; a transaction that would leave that range is refused.
@Suite(.timeLimit(.minutes(3))) struct OverflowTests {
    let account = newID()

    @Test func balanceCanReachBothEndsExactly() async throws {
        try await withApp { [account] client async throws in
            try await client.postAmount(transactionID: newID(), accountID: account, amount: .max)
            #expect(try await client.balance(account) == .max)
            try await client.postAmount(transactionID: newID(), accountID: account, amount: .min)
            #expect(try await client.balance(account) == -1)
            try await client.postAmount(transactionID: newID(), accountID: account, amount: .min + 1)
            #expect(try await client.balance(account) == .min)
        }
    }

    static let edges: [(start: Int64, amount: Int64)] = [
        (.max, 1), (.max - 5, 6), (.max, .max), (.min, -1), (.min + 5, -6), (.min, .min),
    ]

    @Test(arguments: edges)
    func overflowIsRefusedWith422AndChangesNothing(_ start: Int64, _ amount: Int64) async throws {
        try await withApp { [account] client async throws in
            // Reach `start` in two steps when one amount cannot hold it.
            try await client.postAmount(transactionID: newID(), accountID: account, amount: start)
            let id = newID()
            let problem = try await client.postAmount(transactionID: id, accountID: account, amount: amount).problem(
                .unprocessableContent)
            #expect(problem.type == "tag:account-service,2026:balance-out-of-range")
            #expect(try await client.balance(account) == start)
            #expect(try await client.get("/transaction/\(id)").status == .notFound)
            #expect(try await client.transactionVolume().maxVolume == 1)
            // The refused id is not consumed: it can be used for an amount that fits.
            let fits: Int64 = amount > 0 ? -1 : 1
            #expect(try await client.postAmount(transactionID: id, accountID: account, amount: fits).status == .ok)
        }
    }
}

import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Synchronization
import TestSupport
import Testing

@testable import AccountHTTP
@testable import AccountLedger
@testable import PostgresStore
@testable import SQLiteStore

/// Every transaction record, the statement and the balance at an instant.
/// (Two minutes: its PostgreSQL cases run hundreds of concurrent commits and full reads in a debug build, beside the
/// rest of the suite on two cores; alone they take 10 to 25 s.)
@Suite(.timeLimit(.minutes(3))) struct StatementTests {
    @Test(arguments: StoreKind.withReplica) func recordsCarrySequenceTimeAndBalanceAfterAndReplaysReturnTheOriginal(
        store: StoreKind
    ) async throws {
        try await withApp(store: store) { client async throws in
            let account = newID()
            let id = newID()
            let first = try await client.postAmount(transactionID: id, accountID: account, amount: 7)
                .decode(RecordBody.self)
            #expect(first.sequence == 1 && first.balance_after == 7 && first.amount == 7)
            #expect(Timestamp(rfc3339: first.created_at) != nil)
            let second = try await client.postAmount(transactionID: newID(), accountID: account, amount: -10)
                .decode(RecordBody.self)
            #expect(second.sequence == 2 && second.balance_after == -3)
            #expect(second.created_at >= first.created_at)
            let replay = try await client.postAmount(transactionID: id, accountID: account, amount: 7)
            #expect(try replay.decode(RecordBody.self) == first)
            #expect(try await client.get("/transaction/\(id)").decode(RecordBody.self) == first)
        }
    }

    @Test(arguments: StoreKind.withReplica) func commitTimeNeverDecreasesWhenTheClockStepsBack(
        store: StoreKind
    ) async throws {
        let clock = TestClock()
        try await withLedger(store, clock: clock.now) { ledger, path async throws in
            let account = AccountID(UUID())
            var times: [Int64] = []
            for milliseconds in [5_000, 9_000, 3_000, 9_000, 12_000] as [Int64] {
                clock.set(milliseconds)
                let posted = try await ledger.post(
                    Transaction(id: TransactionID(UUID()), accountID: account, amount: 1))
                times.append(posted.entry.createdAt.millisecondsSince1970)
            }
            #expect(times == [5_000, 9_000, 9_000, 9_000, 12_000])
            #expect(try await ConsistencyCheck.run(database: path).isConsistent)
        }
    }

    /// Walks 2,500 transactions in pages of 100 while others arrive: every one exactly once, newest first.
    @Test(arguments: StoreKind.withReplica) func pagesWalkTheWholeHistoryOnceWhileNewTransactionsArrive(
        store: StoreKind
    ) async throws {
        try await withLedger(store) { ledger, path async throws in
            let account = AccountID(UUID())
            try await withThrowingTaskGroup(of: Void.self) { group in
                for amount in 1...2_500 {
                    group.addTask {
                        _ = try await ledger.post(
                            Transaction(id: TransactionID(UUID()), accountID: account, amount: Int64(amount)))
                    }
                }
                try await group.waitForAll()
            }
            try await Application(router: buildRouter(ledger: ledger)).test(.router) { client in
                let writer = Task {
                    for _ in 0..<200 {
                        _ = try await ledger.post(Transaction(id: TransactionID(UUID()), accountID: account, amount: 1))
                    }
                }
                var seen: [Int64] = []
                var next: String? = "/accounts/\(account)/transactions?limit=100"
                while let page = next {
                    let response = try await client.get(page)
                    #expect(response.status == .ok)
                    let body = try response.decode(StatementBody.self)
                    seen += body.transactions.map(\.sequence)
                    #expect(response.headers[.link] == body.next.map { "<\($0)>; rel=\"next\"" })
                    #expect(body.transactions.count == 100 || body.next == nil)
                    next = body.next
                }
                try await writer.value
                #expect(seen == seen.sorted(by: >), "newest first, no repeats")
                // Exactly the account's transactions up to the newest the first page showed.
                let all = try await ledger.statement(of: account, before: nil, limit: 10_000).map(\.sequence)
                #expect(seen == all.filter { $0 <= seen[0] })
                #expect(seen.count >= 2_500)
                // The balance_after chain is the running sum, oldest first.
                let entries = try await ledger.statement(of: account, before: nil, limit: 10_000).reversed()
                var sum: Int64 = 0
                for entry in entries {
                    sum += entry.transaction.amount
                    #expect(entry.balanceAfter == sum)
                }
            }
        }
    }

    @Test(arguments: StoreKind.withReplica) func pageEdges(store: StoreKind) async throws {
        try await withApp(store: store) { client async throws in
            let account = newID()
            var sequences: [Int64] = []
            for amount in 1...3 {
                sequences.append(
                    try await client.postAmount(transactionID: newID(), accountID: account, amount: Int64(amount))
                        .decode(RecordBody.self).sequence)
            }
            try await client.postAmount(transactionID: newID(), accountID: newID(), amount: 1)  // another account
            func page(_ query: String) async throws -> StatementBody {
                let response = try await client.get("/accounts/\(account)/transactions\(query)")
                try #require(response.status == .ok, "\(String(buffer: response.body))")
                return try response.decode(StatementBody.self)
            }
            #expect(try await page("").transactions.map(\.sequence) == sequences.reversed())
            #expect(try await page("").next == nil)
            let first = try await page("?limit=1")
            #expect(first.transactions.map(\.sequence) == [sequences[2]])
            #expect(first.next == "/accounts/\(account)/transactions?limit=1&before=\(sequences[2])")
            #expect(try await page("?before=\(sequences[0])").transactions.isEmpty)
            #expect(try await page("?before=1").next == nil)
            #expect(try await page("?before=\(sequences[0] + 1)").transactions.map(\.sequence) == [sequences[0]])
            #expect(try await page("?before=\(Int64.max)&limit=1000").transactions.count == 3)
            // An id in any case names the same account.
            #expect(
                try await client.get("/accounts/\(account.uppercased())/transactions").decode(StatementBody.self)
                    .transactions.count == 3)
            try await client.get("/accounts/\(newID())/transactions").problem(.notFound)
            for bad in [
                "?limit=0", "?limit=1001", "?limit=-1", "?limit=1.5", "?limit=", "?limit=abc", "?before=0",
                "?before=-5", "?before=x", "?before=99999999999999999999", "?limit=1&limit=2",
            ] {
                let problem = try await client.get("/accounts/\(account)/transactions\(bad)").problem(.badRequest)
                #expect(problem.type == "tag:account-service,2026:invalid-request", "\(bad)")
            }
            try await client.get("/accounts/not-a-uuid/transactions").problem(.badRequest)
        }
    }

    @Test(arguments: StoreKind.withReplica) func balanceAtAnInstant(store: StoreKind) async throws {
        let clock = TestClock()
        try await withLedger(store, clock: clock.now) { ledger, path async throws in
            let account = AccountID(UUID())
            for (milliseconds, amount) in [(1_000, 5), (2_000, 7), (2_000, -2), (4_000, 100)] as [(Int64, Int64)] {
                clock.set(1_767_225_600_000 + milliseconds)  // 2026-01-01T00:00:01Z and on
                _ = try await ledger.post(
                    Transaction(id: TransactionID(UUID()), accountID: account, amount: amount))
            }
            try await Application(router: buildRouter(ledger: ledger)).test(.router) { client in
                func balance(at: String) async throws -> TestResponse {
                    try await client.get("/balance/\(account)?at=\(at)")
                }
                try await balance(at: "2026-01-01T00:00:00.999Z").problem(.notFound)
                #expect(try await balance(at: "2026-01-01T00:00:01Z").decode(BalanceBody.self).balance == 5)
                #expect(try await balance(at: "2026-01-01T00:00:01.999Z").decode(BalanceBody.self).balance == 5)
                #expect(try await balance(at: "2026-01-01T00:00:02.000Z").decode(BalanceBody.self).balance == 10)
                #expect(try await balance(at: "2026-01-01T01:00:03%2B01:00").decode(BalanceBody.self).balance == 10)
                #expect(try await balance(at: "2025-12-31T19:00:03-05:00").decode(BalanceBody.self).balance == 10)
                #expect(
                    try await balance(at: "2026-01-01t00:00:02.0000001z").decode(BalanceBody.self).balance == 10)
                #expect(try await balance(at: "2999-01-01T00:00:00Z").decode(BalanceBody.self).balance == 110)
                #expect(try await client.get("/balance/\(account)").decode(BalanceBody.self).balance == 110)
                try await client.get("/balance/\(UUID().uuidString)?at=2999-01-01T00:00:00Z").problem(.notFound)
                for bad in [
                    "", "yesterday", "2026-01-01", "2026-01-01T00:00:00", "2026-01-01 00:00:00Z",
                    "2026-13-01T00:00:00Z",
                    "2026-02-30T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:00:00.Z",
                    "2026-01-01T00:00:00+0100",
                    "2026-01-01T00:00:00Zjunk", "1767225600000",
                ] {
                    try await balance(at: bad).problem(.badRequest)
                }
            }
        }
    }

    @Test func timestampsRoundTripThroughRFC3339() {
        for milliseconds: Int64 in [
            0, 1, 999, 1_767_225_600_123, -1, -86_400_001, 253_402_300_799_999, 951_782_400_000,
        ] {
            let timestamp = Timestamp(millisecondsSince1970: milliseconds)
            #expect(Timestamp(rfc3339: timestamp.rfc3339) == timestamp, "\(timestamp.rfc3339)")
        }
        #expect(Timestamp(millisecondsSince1970: 1_767_225_600_123).rfc3339 == "2026-01-01T00:00:00.123Z")
        #expect(Timestamp(rfc3339: "2000-02-29T00:00:00Z") == Timestamp(millisecondsSince1970: 951_782_400_000))
        #expect(Timestamp(rfc3339: "2001-02-29T00:00:00Z") == nil)
    }
}

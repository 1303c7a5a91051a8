import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing

@testable import AccountHTTP
@testable import AccountLedger
@testable import PostgresStore
@testable import SQLiteStore

/// POST /transactions: items applied in order, all or nothing, in one commit, each idempotent by its own id.
/// (Two minutes: its PostgreSQL cases run hundreds of concurrent commits and full reads in a debug build, beside the
/// rest of the suite on two cores; alone they take 10 to 25 s.)
@Suite(.timeLimit(.minutes(3))) struct BatchTests {
    let a = newID()
    let b = newID()

    @Test(arguments: StoreKind.all) func aTransferMovesMoneyAtomicallyWithConsecutiveSequencesAndOneTime(
        store: StoreKind
    ) async throws {
        try await withApp(store: store) { [a, b] client async throws in
            try await client.postAmount(transactionID: newID(), accountID: a, amount: 10)
            let records = try await client.acceptedBatch([BatchItem(a, -5), BatchItem(b, 5)], balanced: true)
            #expect(records.map(\.sequence) == [2, 3])
            #expect(records.map(\.balance_after) == [5, 5])
            #expect(records.map(\.replayed) == [false, false])
            #expect(records[0].created_at == records[1].created_at)
            #expect(records.map(\.account_id) == [a, b])
            #expect(try await client.balance(a) == 5)
            #expect(try await client.balance(b) == 5)
            let stored = try await client.get("/transaction/\(records[1].transaction_id)").decode(RecordBody.self)
            #expect(stored.sequence == 3 && stored.balance_after == 5)
        }
    }

    /// Within a batch, each item sees the ones before it: balances run on, and a repeated id is a replay.
    @Test(arguments: StoreKind.all) func itemsApplyInOrderAndAnIDRepeatedWithTheSamePayloadAppliesOnce(
        store: StoreKind
    ) async throws {
        try await withApp(store: store) { [a] client async throws in
            let repeated = BatchItem(a, 7)
            let records = try await client.acceptedBatch([repeated, BatchItem(a, 3), repeated])
            #expect(records.map(\.balance_after) == [7, 10, 7])
            #expect(records.map(\.replayed) == [false, false, true])
            #expect(records[2].sequence == records[0].sequence)
            #expect(try await client.balance(a) == 10)
            #expect(try await client.transactionVolume().maxVolume == 2)
        }
    }

    @Test(arguments: StoreKind.all) func aResentBatchReplaysWholeAndAMixedOneCreatesOnlyTheNewItems(
        store: StoreKind
    ) async throws {
        try await withApp(store: store) { [a, b] client async throws in
            let items = [BatchItem(a, -3), BatchItem(b, 3)]
            let first = try await client.acceptedBatch(items, balanced: true)
            let again = try await client.acceptedBatch(items, balanced: true)
            #expect(again.map(\.replayed) == [true, true])
            #expect(
                again.map { [$0.sequence, $0.balance_after] } == first.map { [$0.sequence, $0.balance_after] })
            #expect(again.map(\.created_at) == first.map(\.created_at))

            let mixed = try await client.acceptedBatch([items[1], BatchItem(b, 4), items[0]])
            #expect(mixed.map(\.replayed) == [true, false, true])
            #expect(mixed[1].sequence == 3 && mixed[1].balance_after == 7)
            #expect(try await client.balance(a) == -3)
            #expect(try await client.balance(b) == 7)
        }
    }

    /// Every kind of refusal refuses the batch whole, lists every refused item, and writes nothing.
    @Test(arguments: StoreKind.all) func aRefusedBatchWritesNothingAndListsEveryRefusedItem(
        store: StoreKind
    ) async throws {
        try await withApp(store: store) { [a, b] client async throws in
            let recorded = BatchItem(a, 1)
            try await client.acceptedBatch([recorded])
            let fresh = newID()
            let conflicts = [
                BatchItem(b, 5),
                BatchItem(a, 2, id: recorded.transaction_id),  // recorded with another amount
                BatchItem(fresh, 1, id: recorded.transaction_id),  // recorded with another account
                BatchItem(b, .max - 5),  // b would reach .max: fine on its own...
                BatchItem(b, 1),  // ...but not with this one after it
            ]
            let problem = try await client.refusedBatch(conflicts)
            #expect(problem.type == "tag:account-service,2026:batch-refused")
            #expect(problem.errors?.map(\.index) == [1, 2, 4])
            #expect(
                problem.errors?.map(\.transaction_id)
                    == [conflicts[1], conflicts[2], conflicts[4]].map(\.transaction_id))
            #expect(
                problem.errors?.map(\.type) == [
                    "tag:account-service,2026:idempotency-conflict", "tag:account-service,2026:idempotency-conflict",
                    "tag:account-service,2026:balance-out-of-range",
                ])

            // An id that appears earlier in the batch with another amount.
            let twice = newID()
            let within = try await client.refusedBatch([BatchItem(b, 1, id: twice), BatchItem(b, 2, id: twice)])
            #expect(within.errors?.map(\.index) == [1])

            // Overflow midway, caused by the items before it.
            let midway = try await client.refusedBatch([BatchItem(b, .max), BatchItem(b, -1), BatchItem(b, 2)])
            #expect(midway.errors?.map(\.index) == [2])

            let unbalanced = try await client.refusedBatch([BatchItem(a, -5), BatchItem(b, 4)], balanced: true)
            #expect(unbalanced.type == "tag:account-service,2026:unbalanced")
            #expect(unbalanced.detail.contains("sum to -1"))
            // Amounts whose sum leaves 64 bits are summed exactly, not wrapped into zero.
            let wrapping = try await client.refusedBatch(
                [BatchItem(a, .max), BatchItem(b, .max), BatchItem(a, 2)], balanced: true)
            #expect(wrapping.type == "tag:account-service,2026:unbalanced")

            #expect(try await client.balance(a) == 1)
            try await client.expectNoAccount(b)
            try await client.expectNoAccount(fresh)
            #expect(try await client.transactionVolume() == VolumeBody(maxVolume: 1, accounts: [a]))
            for item in conflicts + [BatchItem(b, 1, id: twice)] where item.transaction_id != recorded.transaction_id {
                try await client.get("/transaction/\(item.transaction_id)").problem(.notFound)
            }
            let feed = try await client.get("/transactions").decode(FeedBody.self)
            #expect(feed.transactions.map(\.transaction_id) == [recorded.transaction_id])
        }
    }

    @Test(arguments: StoreKind.all) func aBatchOfTenThousandCommitsWhole(store: StoreKind) async throws {
        try await withApp(store: store) { [a, b] client async throws in
            let items = (0..<Batch.maximumCount).map { BatchItem($0.isMultiple(of: 2) ? a : b, Int64($0)) }
            let records = try await client.acceptedBatch(items)
            #expect(records.count == Batch.maximumCount)
            #expect(records.map(\.sequence) == Array(1...Int64(Batch.maximumCount)))
            #expect(Set(records.map(\.created_at)).count == 1)
            #expect(records.map(\.transaction_id) == items.map(\.transaction_id))
            let evens = stride(from: 0, to: Int64(Batch.maximumCount), by: 2).reduce(0, +)
            let odds = stride(from: 1, to: Int64(Batch.maximumCount), by: 2).reduce(0, +)
            #expect(try await client.balance(a) == evens)
            #expect(try await client.balance(b) == odds)
            #expect(try await client.transactionVolume().maxVolume == Int64(Batch.maximumCount / 2))

            let tooMany = (0...Batch.maximumCount).map { _ in BatchItem(a, 1) }
            let problem = try await client.postBatch(tooMany).problem(.badRequest)
            #expect(problem.detail.contains("more than \(Batch.maximumCount)"))
            #expect(try await client.balance(a) == evens)
        }
    }

    /// The body limit fits 10,000 items of the longest spelling: every character of the names and ids escaped.
    @Test func theLongestSpellingOfTenThousandItemsFitsTheBodyLimit() async throws {
        try await withApp { [a] client async throws in
            func escaped(_ text: String) -> String {
                text.unicodeScalars.map { String(format: "\\u%04X", $0.value) }.joined()
            }
            // The longest amounts, alternating in sign so that the balance stays in range.
            let item = { (index: Int, id: String) in
                #"{"\#(escaped("transaction_id"))":"\#(escaped(id.uppercased()))","\#(escaped("account_id"))":"#
                    + #""\#(escaped(a.uppercased()))","\#(escaped("amount"))":\#(index.isMultiple(of: 2) ? "-" : "")9223372036854775807}"#
            }
            let ids = (0..<Batch.maximumCount).map { _ in newID() }
            let body = #"{"transactions":["# + ids.enumerated().map(item).joined(separator: ",") + "]}"
            #expect(body.utf8.count <= BatchRequest.maximumBodySize)
            let response = try await client.postBatch(body: body)
            try #require(response.status == .ok, "\(String(buffer: response.body))")
            let records = try response.decode(BatchResultBody.self).transactions
            #expect(records.map(\.transaction_id) == ids)
            #expect(records.allSatisfy { $0.account_id == a })
            #expect(try await client.balance(a) == 0)
            #expect(records.last?.balance_after == 0 && records.first?.balance_after == -.max)
        }
    }

    @Test(arguments: [
        (
            #"{"transactions":[{"transaction_id":"x","account_id":"8f6a3a5e-5c1b-4a8e-9d3e-1f2a3b4c5d6e","amount":1}]}"#,
            "transactions[0]: transaction_id"
        ),
        (
            #"{"transactions":[ITEM,{"account_id":"8f6a3a5e-5c1b-4a8e-9d3e-1f2a3b4c5d6e","amount":1}]}"#,
            "transactions[1] has no transaction_id"
        ),
        (#"{"transactions":[ITEM,ITEM,{"transaction_id":"ID","amount":1}]}"#, "transactions[2] has no account_id"),
        (
            #"{"transactions":[ITEM,{"transaction_id":"ID","account_id":"8f6a3a5e-5c1b-4a8e-9d3e-1f2a3b4c5d6e","amount":1.5}]}"#,
            "transactions[1]: amount"
        ),
        (
            #"{"transactions":[ITEM,{"transaction_id":"ID","account_id":"8f6a3a5e-5c1b-4a8e-9d3e-1f2a3b4c5d6e","amount":1,"amount":2}]}"#,
            "transactions[1] has amount twice"
        ),
        (#"{"transactions":[ITEM,7]}"#, "transactions[1] must be an object"),
        (#"{"transactions":[]}"#, "empty"),
        (#"{"transactions":{}}"#, "must be an array"),
        (#"{"transactions":[ITEM],"balanced":"yes"}"#, "balanced must be true or false"),
        (#"{"transactions":[ITEM],"transactions":[ITEM]}"#, "transactions twice"),
        (#"{"balanced":true}"#, "no transactions"),
        (#"[ITEM]"#, "JSON object"),
        (#"{"transactions":[ITEM,{"transaction_id":"ID","account_id":"x","amount":1}]"#, "not valid JSON"),
        (#"{"transactions":[ITEM,{"transaction_id":"ID","account_id":"x","amount":1}]} x"#, "not valid JSON"),
    ])
    func malformedBodiesAreRefusedWith400NamingTheItem(body: String, detail: String) async throws {
        try await withApp { client async throws in
            let item = #"{"transaction_id":"\#(newID())","account_id":"\#(newID())","amount":1}"#
            let text = body.replacingOccurrences(of: "ITEM", with: item).replacingOccurrences(of: "ID", with: newID())
            let problem = try await client.postBatch(body: text).problem(.badRequest)
            #expect(problem.detail.contains(detail), "\(problem.detail)")
            #expect(try await client.get("/transactions").decode(FeedBody.self).transactions.isEmpty)
        }
    }

    @Test func mediaTypeAndSizeAreCheckedAsForPostAmount() async throws {
        try await withApp { [a] client async throws in
            let body = #"{"transactions":[{"transaction_id":"\#(newID())","account_id":"\#(a)","amount":1}]}"#
            try await client.postBatch(body: body, contentType: "text/plain").problem(.unsupportedMediaType)
            try await client.postBatch(body: body, contentType: nil).problem(.unsupportedMediaType)
            let huge = String(repeating: " ", count: BatchRequest.maximumBodySize) + body
            try await client.postBatch(body: huge).problem(.contentTooLarge)
            try await client.expectNoAccount(a)
            // A Transaction-Id header is not needed, and ignored.
            let response = try await client.executeRequest(
                uri: "/transactions", method: .post,
                headers: [.contentType: "application/json", HTTPField.Name("Transaction-Id")!: "nonsense"],
                body: ByteBuffer(string: body))
            #expect(response.status == .ok)
            #expect(try await client.balance(a) == 1)
        }
    }

    /// Identical batches sent at once apply once: one creates every item, the others replay them.
    @Test(arguments: StoreKind.all) func concurrentIdenticalBatchesApplyOnce(store: StoreKind) async throws {
        try await withLedger(store) { ledger, _ async throws in
            let accounts = (0..<4).map { _ in AccountID(UUID()) }
            let batch = Batch(
                (0..<40).map { Transaction(id: TransactionID(UUID()), accountID: accounts[$0 % 4], amount: Int64($0)) })
            let results = try await withThrowingTaskGroup(of: [PostingOutcome].self) { group in
                for _ in 0..<16 { group.addTask { try await ledger.post(batch) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.filter { $0.allSatisfy { $0.created != nil } }.count == 1)
            #expect(results.filter { $0.allSatisfy { $0.replayed != nil } }.count == 15)
            #expect(Set(results.map { $0.map(\.entry) }).count == 1)
            for (index, account) in accounts.enumerated() {
                let sum = stride(from: index, to: 40, by: 4).reduce(0) { $0 + Int64($1) }
                #expect(try await ledger.balance(of: account) == sum)
            }
        }
    }

    /// Transfers racing single postings on the same accounts: the sums are exact, and no reader of the feed
    /// ever sees part of a batch.
    @Test(arguments: StoreKind.all) func batchesRacingSinglePostingsEndInExactSumsAndAreNeverPartlyVisible(
        store: StoreKind
    ) async throws {
        try await withLedger(store) { ledger, _ async throws in
            let accounts = (0..<3).map { _ in AccountID(UUID()) }
            let batchSize = 6
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<8 {
                    group.addTask {
                        for round in 0..<25 {
                            // A balanced batch: +k and -k (k > 1) on every account, in a writer-dependent order.
                            let items = (0..<batchSize).map { item in
                                Transaction(
                                    id: TransactionID(UUID()), accountID: accounts[(item + writer) % 3],
                                    amount: item.isMultiple(of: 2) ? Int64(round + 2) : -Int64(round + 2))
                            }
                            _ = try await ledger.post(Batch(items, balanced: true))
                        }
                    }
                    group.addTask {
                        for _ in 0..<50 {
                            _ = try await ledger.post(
                                Transaction(id: TransactionID(UUID()), accountID: accounts[writer % 3], amount: 1))
                        }
                    }
                }
                group.addTask {
                    // Reads everything visible, again and again: a batch is there whole or not at all, with
                    // consecutive sequences and one commit time.
                    for _ in 0..<100 {
                        let visible = try await ledger.transactions(after: 0, limit: 10_000)
                        let transfers = visible.filter { $0.transaction.amount != 1 }
                        #expect(transfers.count.isMultiple(of: batchSize))
                        for start in stride(from: 0, to: transfers.count - batchSize + 1, by: batchSize) {
                            let batch = transfers[start..<start + batchSize]
                            #expect(batch.last!.sequence - batch.first!.sequence == Int64(batchSize - 1))
                            #expect(Set(batch.map(\.createdAt)).count == 1)
                        }
                        try await Task.sleep(for: .milliseconds(2))
                    }
                }
                try await group.waitForAll()
            }
            for (index, account) in accounts.enumerated() {
                let singles = Int64((0..<8).filter { $0 % 3 == index }.count * 50)
                #expect(try await ledger.balance(of: account) == singles)
            }
            #expect(try await ledger.transactionVolume().maxVolume > 0)
        }
    }
}

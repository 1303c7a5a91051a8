import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import TestSupport
import Testing

@testable import AccountHTTP
@testable import AccountLedger
@testable import PostgresStore
@testable import SQLiteStore

/// The change feed: every accepted transaction exactly once, in commit order, with a long poll woken by commits.
/// (Two minutes: its PostgreSQL cases run hundreds of concurrent commits and full reads in a debug build, beside the
/// rest of the suite on two cores; alone they take 10 to 25 s.)
@Suite(.timeLimit(.minutes(3))) struct FeedTests {
    @Test(arguments: StoreKind.withReplica) func pagesInSequenceOrderAndParameters(store: StoreKind) async throws {
        try await withApp(store: store) { client async throws in
            var posted: [RecordBody] = []
            for amount in 1...5 {
                posted.append(
                    try await client.postAmount(transactionID: newID(), accountID: newID(), amount: Int64(amount))
                        .decode(RecordBody.self))
            }
            let all = try await client.get("/transactions").decode(FeedBody.self)
            #expect(all.transactions == posted)
            #expect(all.next_after == posted.last!.sequence)
            let page = try await client.get("/transactions?after=\(posted[1].sequence)&limit=2").decode(FeedBody.self)
            #expect(page.transactions == Array(posted[2...3]))
            #expect(page.next_after == posted[3].sequence)
            let end = try await client.get("/transactions?after=\(posted[4].sequence)").decode(FeedBody.self)
            #expect(end.transactions.isEmpty && end.next_after == posted[4].sequence)
            for bad in [
                "?after=-1", "?after=x", "?limit=0", "?limit=1001", "?wait=31", "?wait=-1", "?wait=1.5",
                "?after=1&after=2",
            ] {
                try await client.get("/transactions\(bad)").problem(.badRequest)
            }
        }
    }

    @Test(arguments: StoreKind.withReplica) func aWaitingRequestIsAnsweredWhenACommitLands(
        store: StoreKind
    ) async throws {
        try await withLedger(store) { ledger, _ async throws in
            let account = AccountID(UUID())
            let posting = Transaction(id: TransactionID(UUID()), accountID: account, amount: 3)
            // Proven by the answer, not by a clock that parallel suites on two busy cores can push past any bound
            // (11 s once against a 10 s bound): a wait that ends at its deadline answers empty without reading
            // again, so the posting comes back only if its commit woke the reader.
            async let waited = ledger.transactions(after: 0, limit: 10, wait: Ledger.maximumWait)
            try await Task.sleep(for: .milliseconds(200))
            _ = try await ledger.post(posting)
            let entries = try await waited
            #expect(entries.map(\.transaction) == [posting], "woken by the commit, not by the end of the wait")
        }
    }

    @Test(arguments: StoreKind.withReplica) func aWaitWithNothingNewEndsEmptyAfterTheWait(store: StoreKind) async throws
    {
        try await withApp(store: store) { client async throws in
            let clock = ContinuousClock()
            let started = clock.now
            let body = try await client.get("/transactions?after=0&wait=1").decode(FeedBody.self)
            #expect(body.transactions.isEmpty && body.next_after == 0)
            #expect(clock.now - started >= .milliseconds(900))
        }
    }

    /// Gap-safe visibility: a reader following the feed with `wait` while 16 writers post sees every acknowledged
    /// transaction exactly once, in sequence order.
    @Test(arguments: StoreKind.withReplica) func aFollowerSeesEveryAcknowledgedTransactionOnceInOrder(
        store: StoreKind
    ) async throws {
        try await withApp(.ahc(), store: store) { client async throws in
            let writers = 16
            let perWriter = 60
            let (written, followed) = try await withThrowingTaskGroup(of: (follower: Bool, ids: [String]).self) {
                group in
                for _ in 0..<writers {
                    group.addTask {
                        var ids: [String] = []
                        for _ in 0..<perWriter {
                            let id = newID()
                            let response = try await client.postAmount(transactionID: id, accountID: newID(), amount: 1)
                            #expect(response.status == .ok)
                            ids.append(id)
                        }
                        return (false, ids)
                    }
                }
                group.addTask {
                    // The follower: runs until it has seen every posting, or the test's time limit.
                    var seen: [String] = []
                    var after: Int64 = 0
                    var sequences: [Int64] = []
                    while seen.count < writers * perWriter {
                        let body = try await client.get("/transactions?after=\(after)&limit=37&wait=5")
                            .decode(FeedBody.self)
                        seen += body.transactions.map(\.transaction_id)
                        sequences += body.transactions.map(\.sequence)
                        after = body.next_after
                    }
                    #expect(sequences == sequences.sorted() && Set(sequences).count == sequences.count)
                    return (true, seen)
                }
                var written: [String] = []
                var followed: [String] = []
                for try await result in group {
                    if result.follower { followed = result.ids } else { written += result.ids }
                }
                return (written, followed)
            }
            #expect(written.count == writers * perWriter)
            #expect(followed.count == written.count, "each exactly once")
            #expect(Set(followed) == Set(written))
        }
    }
}

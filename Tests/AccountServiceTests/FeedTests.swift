import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import TestSupport
import Testing

@testable import AccountHTTP
@testable import AccountLedger
@testable import AccountServiceApp
@testable import PostgresStore
@testable import SQLiteStore

/// The change feed: every accepted transaction exactly once, in commit order, with a long poll woken by commits.
@Suite(.timeLimit(.minutes(1))) struct FeedTests {
    @Test(arguments: StoreKind.all) func pagesInSequenceOrderAndParameters(store: StoreKind) async throws {
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

    @Test(arguments: StoreKind.all) func aWaitingRequestIsAnsweredWhenACommitLands(store: StoreKind) async throws {
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

    @Test(arguments: StoreKind.all) func aWaitWithNothingNewEndsEmptyAfterTheWait(store: StoreKind) async throws {
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
    @Test(arguments: StoreKind.all) func aFollowerSeesEveryAcknowledgedTransactionOnceInOrder(
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

/// Held feed requests cannot take the service down: a commit wakes only the readers it can answer, a reader
/// whose client went away stops waiting, and at most `maximumWaitingReads` wait at once.
@Suite(.timeLimit(.minutes(1))) struct HeldFeedRequestTests {
    /// Registers a waiter at `after` on `notifier` in a task; returns the task (its value: whether it was woken).
    func waiter(_ notifier: CommitNotifier, after: Int64) -> Task<Bool, Never> {
        let mark = notifier.mark
        return Task { await notifier.wait(after: after, since: mark, until: .now + .seconds(30)) }
    }

    func waitUntil(_ notifier: CommitNotifier, holds count: Int) async throws {
        for _ in 0..<500 where notifier.waiting != count { try await Task.sleep(for: .milliseconds(10)) }
        #expect(notifier.waiting == count)
    }

    @Test func aCommitWakesOnlyTheReadersItCanAnswer() async throws {
        let notifier = CommitNotifier()
        let behind = waiter(notifier, after: 10)
        let pastTheHead = waiter(notifier, after: .max - 1)
        try await waitUntil(notifier, holds: 2)
        notifier.committed(through: 10)  // nothing above 10 yet: no one is woken
        try await Task.sleep(for: .milliseconds(50))
        #expect(notifier.waiting == 2)
        notifier.committed(through: 11)
        #expect(await behind.value)
        try await waitUntil(notifier, holds: 1)
        // Another instance's commit, of unknown sequence, wakes everyone.
        notifier.committed(through: nil)
        #expect(await pastTheHead.value)
        #expect(notifier.waiting == 0)
    }

    @Test func beyondTheCapAReaderIsAnsweredAtOnce() async throws {
        let notifier = CommitNotifier(maximumWaiters: 2)
        let first = waiter(notifier, after: 0)
        let second = waiter(notifier, after: 0)
        try await waitUntil(notifier, holds: 2)
        #expect(await waiter(notifier, after: 0).value == false, "answered at once, not held")
        notifier.committed(through: 1)
        #expect(await first.value)
        #expect(await second.value)
    }

    /// Over the wire, with two held requests allowed: two clients park a wait far past the head and go away;
    /// a third client's wait is then held (not answered at once for lack of room) and woken by a commit.
    @Test func aClientThatGoesAwayLeavesNoWaiterBehind() async throws {
        try await withTemporaryDatabase { path in
            let arguments = TestArguments(database: path, maximumWaitingReads: 2)
            try await buildApplication(arguments).test(.live) { client in
                let port = try #require(client.port)
                for _ in 0..<2 {
                    let parked = try RawConnection(port: port)
                    parked.send("GET /transactions?after=9223372036854775806&wait=30 HTTP/1.1\r\nHost: a\r\n\r\n")
                    _ = await parked.read(for: .milliseconds(100))
                }  // each connection closes as it leaves scope
                try await Task.sleep(for: .milliseconds(300))
                let follower = try RawConnection(port: port)
                follower.send("GET /transactions?after=0&wait=30 HTTP/1.1\r\nHost: a\r\n\r\n")
                #expect(await follower.read(for: .milliseconds(500)).text.isEmpty, "held, not answered at once")
                let id = newID()
                #expect(try await client.postAmount(transactionID: id, accountID: newID(), amount: 1).status == .ok)
                #expect(await follower.read(for: .seconds(2)).text.contains(id))
            }
        }
    }
}

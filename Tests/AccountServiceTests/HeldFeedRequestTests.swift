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

/// Held feed requests cannot take the service down: a commit wakes only the readers it can answer, a reader
/// whose client went away stops waiting, and at most `maximumWaitingReads` wait at once.
@Suite(.timeLimit(.minutes(3))) struct HeldFeedRequestTests {
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

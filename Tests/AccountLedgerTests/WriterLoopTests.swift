import Foundation
import GRDB
import Logging
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing

@testable import AccountLedger
@testable import PostgresStore
@testable import SQLiteStore

/// The ledger's writer loop: concurrent postings share commits, without changing what any one of them does.
/// Each test is bounded in time, since a regression could leave a wait spinning.
@Suite(.timeLimit(.minutes(3))) struct WriterLoopTests {
    /// A store whose first write waits at a gate until the test opens it, and which counts its writes.
    final class GatedStore: ForwardingStore {
        let inner: SQLiteLedgerStore
        let writes = Atomic(0)
        let (gate, opener) = AsyncStream<Void>.makeStream()
        let failNextCommit = Mutex(false)

        init(path: String) throws { inner = try SQLiteLedgerStore(pool: try LedgerDatabase.open(path: path)) }

        func commit(
            _ keys: CommitKeys, decide: @escaping @Sendable (LedgerSnapshot) -> CommitPlan
        ) async throws -> CommitPlan {
            let fail = failNextCommit.withLock { fail in
                defer { fail = false }
                return fail
            }
            if writes.add(1, ordering: .sequentiallyConsistent).newValue == 1 {
                for await _ in gate {}
            }
            guard fail else { return try await inner.commit(keys, decide: decide) }
            // Everything the commit wrote is rolled back when the write transaction throws.
            return try await inner.pool.write { db -> CommitPlan in
                try db.execute(
                    sql: "INSERT INTO accounts (id, balance, transaction_count, created_at) VALUES (?, 1, 1, 0)",
                    arguments: [Data(count: 16)])
                throw InjectedCommitError()
            }
        }
    }

    struct InjectedCommitError: Error {}

    /// A gated store that also notes how many commits had been written when configurations were.
    final class ConfigurationCountingStore: ForwardingStore {
        let inner: GatedStore
        let commitsBeforeConfiguring = Mutex<[Int]>([])

        init(path: String) throws { inner = try GatedStore(path: path) }

        func configure(
            _ accounts: [AccountID],
            decide: @escaping @Sendable ([AccountID: Account]) -> [Result<ConfigurationPlan, LedgerError>]
        ) async throws -> [Result<ConfigurationPlan, LedgerError>] {
            let written = inner.writes.load(ordering: .sequentiallyConsistent)
            commitsBeforeConfiguring.withLock { $0.append(written) }
            return try await inner.configure(accounts, decide: decide)
        }
    }

    /// Configurations and postings take turns: a PUT queued behind a stream of large commits is written after
    /// the commit under way, not after all of them.
    @Test func aConfigurationDoesNotWaitForEveryQueuedCommit() async throws {
        try await withTemporaryDatabase { path in
            let store = try ConfigurationCountingStore(path: path)
            try await withLedger(store: store) { ledger, _ async throws in
                let first = Task {
                    try await ledger.post(
                        Transaction(id: TransactionID(UUID()), accountID: AccountID(UUID()), amount: 1))
                }
                try await waitUntil { store.inner.writes.load(ordering: .sequentiallyConsistent) > 0 }
                // Five batches too large to share a commit, queued behind the held one, then a configuration.
                var batches: [Task<[PostingOutcome], any Error>] = []
                for queued in 0..<5 {
                    let batch = Batch(
                        (0..<3_000).map { _ in
                            Transaction(id: TransactionID(UUID()), accountID: AccountID(UUID()), amount: 1)
                        })
                    batches.append(Task { try await ledger.post(batch) })
                    try await waitUntil { ledger.queue.count > queued }
                }
                let account = AccountID(UUID())
                let configured = Task { try await ledger.configure(account, as: AccountSettings()) }
                try await Task.sleep(for: .milliseconds(20))  // queued: nothing takes it while the gate is shut
                store.inner.opener.finish()
                _ = try await first.value
                #expect(try await configured.value.outcome == .opened)
                for batch in batches { #expect(try await batch.value.count == 3_000) }
                // Written after the held commit, before the five large ones.
                #expect(store.commitsBeforeConfiguring.withLock { $0 } == [1])
            }
        }
    }

    /// Runs `body` with a ledger on a fresh database behind a gated store, its group commit running.
    func withGatedLedger(_ body: @escaping @Sendable (GatedStore, Ledger) async throws -> Void) async throws {
        try await withTemporaryDatabase { path in
            let store = try GatedStore(path: path)
            try await withLedger(store: store) { ledger, _ async throws in try await body(store, ledger) }
        }
    }

    /// Holds the first commit open, queues `postings` behind it, runs `beforeRelease`, then lets everything commit.
    func postBehindAHeldCommit(
        _ postings: [Transaction], store: GatedStore, ledger: Ledger, beforeRelease: () -> Void = {}
    ) async throws -> [Result<PostingOutcome, any Error>] {
        let first = Task {
            try await ledger.post(Transaction(id: TransactionID(UUID()), accountID: AccountID(UUID()), amount: 1))
        }
        try await waitUntil { store.writes.load(ordering: .sequentiallyConsistent) > 0 }
        // Queued one at a time, so that they are queued (and so decided) in the order given: tasks started at
        // once reach the queue in any order.
        var tasks: [Task<PostingOutcome, any Error>] = []
        for (queued, posting) in postings.enumerated() {
            tasks.append(Task { try await ledger.post(posting) })
            try await waitUntil { ledger.queue.count > queued }
        }
        beforeRelease()
        store.opener.finish()
        _ = try await first.value
        var results: [Result<PostingOutcome, any Error>] = []
        for task in tasks { results.append(await task.result) }
        return results
    }

    @Test func postingsThatArriveDuringACommitShareTheNextOne() async throws {
        try await withGatedLedger { store, ledger async throws in
            let account = AccountID(UUID())
            let postings = (1...300).map {
                Transaction(id: TransactionID(UUID()), accountID: account, amount: Int64($0))
            }
            let results = try await postBehindAHeldCommit(postings, store: store, ledger: ledger)
            #expect(results.allSatisfy { (try? $0.get()) != nil })
            #expect(store.writes.load(ordering: .sequentiallyConsistent) == 2)
            #expect(try await ledger.balance(of: account) == (1...300).reduce(0, +))
        }
    }

    @Test func refusalsInABatchLeaveTheirBatchMatesAlone() async throws {
        try await withGatedLedger { store, ledger async throws in
            let account = AccountID(UUID())
            let shared = TransactionID(UUID())
            let postings = [
                Transaction(id: TransactionID(UUID()), accountID: account, amount: .max - 10),
                Transaction(id: TransactionID(UUID()), accountID: account, amount: 11),  // overflow: refused
                Transaction(id: shared, accountID: account, amount: 5),
                Transaction(id: shared, accountID: account, amount: 5),  // same id in the same batch: a replay
                Transaction(id: shared, accountID: account, amount: 6),  // same id, another amount: refused
                Transaction(id: TransactionID(UUID()), accountID: account, amount: -20),
            ]
            let results = try await postBehindAHeldCommit(postings, store: store, ledger: ledger)
            #expect(store.writes.load(ordering: .sequentiallyConsistent) == 2)
            #expect(try results[0].get().created == postings[0])
            #expect(throws: LedgerError.balanceOutOfRange(postings[1])) { try results[1].get() }
            #expect(try results[2].get().created == postings[2])
            #expect(try results[3].get().replayed == postings[2])
            #expect(throws: LedgerError.idempotencyConflict(requested: postings[4], recorded: postings[2])) {
                try results[4].get()
            }
            #expect(try results[5].get().created == postings[5])
            #expect(try await ledger.balance(of: account) == .max - 10 + 5 - 20)
            #expect(try await ledger.transactionVolume().maxVolume == 3)
        }
    }

    /// Batches and single postings share a commit; a refused batch changes nothing and disturbs none of them,
    /// and a refused single posting does not disturb a batch.
    @Test func aRefusedBatchLeavesTheBatchesAndPostingsThatShareItsCommitAlone() async throws {
        try await withGatedLedger { store, ledger async throws in
            let (x, y) = (AccountID(UUID()), AccountID(UUID()))
            func posting(_ account: AccountID, _ amount: Int64) -> Transaction {
                Transaction(id: TransactionID(UUID()), accountID: account, amount: amount)
            }
            let single = posting(x, 10)
            let refused = Batch([posting(y, 7), posting(x, .max)])  // x would leave 64 bits after `single`
            let accepted = Batch([posting(x, -3), posting(y, 3)], balanced: true)
            let overflowing = posting(y, .max)  // y holds 3 by then

            let first = Task { try await ledger.post(posting(AccountID(UUID()), 1)) }
            try await waitUntil { store.writes.load(ordering: .sequentiallyConsistent) > 0 }
            // Queued one at a time, so that they commit in this order.
            let singleTask = Task { try await ledger.post(single) }
            try await waitUntil { ledger.queue.count == 1 }
            let refusedTask = Task { try await ledger.post(refused) }
            try await waitUntil { ledger.queue.count == 2 }
            let acceptedTask = Task { try await ledger.post(accepted) }
            try await waitUntil { ledger.queue.count == 3 }
            let overflowingTask = Task { try await ledger.post(overflowing) }
            try await waitUntil { ledger.queue.count == 4 }
            store.opener.finish()
            _ = try await first.value

            #expect(try await singleTask.value.entry.balanceAfter == 10)
            await #expect(
                throws: LedgerError.batchRefused([
                    RefusedPosting(
                        index: 1, id: refused.postings[1].id, reason: .balanceOutOfRange(refused.postings[1]))
                ])
            ) { try await refusedTask.value }
            let transfer = try await acceptedTask.value
            #expect(transfer.map(\.entry.balanceAfter) == [7, 3])
            // The refused batch's sequences were not used: the transfer's follow the single posting's.
            #expect(transfer.map(\.entry.sequence) == [3, 4])
            await #expect(throws: LedgerError.balanceOutOfRange(overflowing)) { try await overflowingTask.value }
            #expect(store.writes.load(ordering: .sequentiallyConsistent) == 2)
            #expect(try await ledger.balance(of: x) == 7)
            #expect(try await ledger.balance(of: y) == 3)
            #expect(try await ledger.store.transaction(refused.postings[0].id) == nil)
        }
    }

    /// Single postings queued behind a bulk load's large batch commit before it, right after the large commit
    /// under way; the large batch still commits next.
    @Test func smallBatchesDoNotWaitBehindLargeOnes() async throws {
        try await withGatedLedger { store, ledger async throws in
            func batch(_ count: Int) -> Batch {
                Batch(
                    (0..<count).map { _ in
                        Transaction(id: TransactionID(UUID()), accountID: AccountID(UUID()), amount: 1)
                    })
            }
            let first = Task { try await ledger.post(batch(100)) }
            try await waitUntil { store.writes.load(ordering: .sequentiallyConsistent) > 0 }
            let large = Task { try await ledger.post(batch(500)) }
            try await waitUntil { ledger.queue.count == 1 }
            let singles = (0..<3).map { _ in Task { try await ledger.post(batch(1)) } }
            try await waitUntil { ledger.queue.count == 4 }
            store.opener.finish()
            _ = try await first.value
            let largeSequences = try await large.value.map(\.entry.sequence)
            for single in singles {
                let sequence = try await single.value[0].entry.sequence
                #expect((101...103).contains(sequence))
            }
            #expect(largeSequences == Array(104...603))
            #expect(store.writes.load(ordering: .sequentiallyConsistent) == 3)
        }
    }

    @Test func aFailedCommitFailsItsWholeBatchAndWritesNothing() async throws {
        try await withGatedLedger { store, ledger async throws in
            store.failNextCommit.withLock { $0 = true }  // the held first commit fails
            let account = AccountID(UUID())
            let first = Task {
                try await ledger.post(Transaction(id: TransactionID(UUID()), accountID: account, amount: 1))
            }
            try await waitUntil { store.writes.load(ordering: .sequentiallyConsistent) > 0 }
            store.opener.finish()
            await #expect(throws: InjectedCommitError.self) { try await first.value }
            #expect(try await ledger.store.balance(of: account) == nil)

            // The next batch commits normally.
            let posting = Transaction(id: TransactionID(UUID()), accountID: account, amount: 2)
            #expect(try await ledger.post(posting).created == posting)
            #expect(try await ledger.balance(of: account) == 2)
        }
    }

    @Test func aBatchOfFailedCommitFailsEveryPosting() async throws {
        try await withGatedLedger { store, ledger async throws in
            let account = AccountID(UUID())
            let postings = (1...20).map {
                Transaction(id: TransactionID(UUID()), accountID: account, amount: Int64($0))
            }
            // The held first commit succeeds; the batch behind it fails as a whole.
            let results = try await postBehindAHeldCommit(postings, store: store, ledger: ledger) {
                store.failNextCommit.withLock { $0 = true }
            }
            for result in results {
                #expect(throws: InjectedCommitError.self) { try result.get() }
            }
            #expect(try await ledger.store.balance(of: account) == nil)
            for posting in postings {
                #expect(try await ledger.store.transaction(posting.id) == nil)
            }
        }
    }

    /// Graceful shutdown while postings wait behind a commit: every one of them is committed, and a posting
    /// that arrives after the loop has stopped is refused as unavailable.
    @Test func gracefulShutdownCommitsWhatIsQueuedThenRefuses() async throws {
        try await withTemporaryDatabase { path in
            let store = try GatedStore(path: path)
            let ledger = Ledger(store: store)
            let group = ServiceGroup(services: [ledger], logger: Logger(label: "test"))
            let running = Task { try await group.run() }
            let account = AccountID(UUID())
            let first = Task {
                try await ledger.post(Transaction(id: TransactionID(UUID()), accountID: account, amount: 1))
            }
            try await waitUntil { store.writes.load(ordering: .sequentiallyConsistent) > 0 }
            let queued = (1...50).map { Transaction(id: TransactionID(UUID()), accountID: account, amount: Int64($0)) }
            let tasks = queued.map { posting in Task { try await ledger.post(posting) } }
            try await waitUntil { ledger.queue.count >= queued.count }

            await group.triggerGracefulShutdown()
            store.opener.finish()
            try await running.value
            _ = try await first.value
            for (task, posting) in zip(tasks, queued) {
                #expect(try await task.value.created == posting)
            }
            #expect(try await ledger.balance(of: account) == 1 + (1...50).reduce(0, +))
            await #expect(throws: LedgerError.unavailable) {
                try await ledger.post(Transaction(id: TransactionID(UUID()), accountID: account, amount: 1))
            }
        }
    }
}

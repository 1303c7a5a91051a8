import Foundation
import GRDB
import Synchronization
import Testing

@testable import AccountServiceCore

/// Concurrent postings share commits, without changing what any one of them does.
@Suite struct GroupCommitTests {
    /// A store whose first write waits at a gate until the test opens it, and which counts its writes.
    final class GatedStore: LedgerStore {
        let inner: SQLiteLedgerStore
        let writes = Atomic(0)
        let (gate, opener) = AsyncStream<Void>.makeStream()
        let failNextCommit = Mutex(false)

        init(path: String) throws { inner = SQLiteLedgerStore(pool: try LedgerDatabase.open(path: path)) }

        func write<T: Sendable>(_ body: @escaping @Sendable (any LedgerWriter) throws -> T) async throws -> T {
            let fail = failNextCommit.withLock { fail in defer { fail = false }; return fail }
            if writes.add(1, ordering: .sequentiallyConsistent).newValue == 1 {
                for await _ in gate {}
            }
            return try await inner.write { writer in
                let result = try body(writer)
                if fail { throw InjectedCommitFailure() }  // everything the batch wrote is rolled back
                return result
            }
        }

        func transaction(_ id: TransactionID) async throws -> Transaction? { try await inner.transaction(id) }
        func balance(of account: AccountID) async throws -> Int64? { try await inner.balance(of: account) }
        func transactionVolume() async throws -> TransactionVolume { try await inner.transactionVolume() }
    }

    struct InjectedCommitFailure: Error {}

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
        let first = Task { try await ledger.post(Transaction(id: TransactionID(UUID()), accountID: AccountID(UUID()), amount: 1)) }
        while store.writes.load(ordering: .sequentiallyConsistent) == 0 { await Task.yield() }
        let tasks = postings.map { posting in Task { try await ledger.post(posting) } }
        while ledger.groupCommit.pendingCount < postings.count { await Task.yield() }
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
            let postings = (1...300).map { Transaction(id: TransactionID(UUID()), accountID: account, amount: Int64($0)) }
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
            #expect(try results[0].get() == .created(postings[0]))
            #expect(throws: LedgerError.balanceOutOfRange(postings[1])) { try results[1].get() }
            #expect(try results[2].get() == .created(postings[2]))
            #expect(try results[3].get() == .replayed(postings[2]))
            #expect(throws: LedgerError.idempotencyConflict(requested: postings[4], recorded: postings[2])) { try results[4].get() }
            #expect(try results[5].get() == .created(postings[5]))
            #expect(try await ledger.balance(of: account) == .max - 10 + 5 - 20)
            #expect(try await ledger.transactionVolume().maxVolume == 3)
        }
    }

    @Test func aFailedCommitFailsItsWholeBatchAndWritesNothing() async throws {
        try await withGatedLedger { store, ledger async throws in
            store.failNextCommit.withLock { $0 = true }  // the held first commit fails
            let account = AccountID(UUID())
            let first = Task { try await ledger.post(Transaction(id: TransactionID(UUID()), accountID: account, amount: 1)) }
            while store.writes.load(ordering: .sequentiallyConsistent) == 0 { await Task.yield() }
            store.opener.finish()
            await #expect(throws: InjectedCommitFailure.self) { try await first.value }
            #expect(try await ledger.store.balance(of: account) == nil)

            // The next batch commits normally.
            let posting = Transaction(id: TransactionID(UUID()), accountID: account, amount: 2)
            #expect(try await ledger.post(posting) == .created(posting))
            #expect(try await ledger.balance(of: account) == 2)
        }
    }

    @Test func aBatchOfFailedCommitFailsEveryPosting() async throws {
        try await withGatedLedger { store, ledger async throws in
            let account = AccountID(UUID())
            let postings = (1...20).map { Transaction(id: TransactionID(UUID()), accountID: account, amount: Int64($0)) }
            // The held first commit succeeds; the batch behind it fails as a whole.
            let results = try await postBehindAHeldCommit(postings, store: store, ledger: ledger) {
                store.failNextCommit.withLock { $0 = true }
            }
            for result in results {
                #expect(throws: InjectedCommitFailure.self) { try result.get() }
            }
            #expect(try await ledger.store.balance(of: account) == nil)
            for posting in postings {
                #expect(try await ledger.store.transaction(posting.id) == nil)
            }
        }
    }

    @Test func aStoppedLedgerRefusesNewPostings() async throws {
        try await withTemporaryDatabase { path in
            let ledger = Ledger(store: SQLiteLedgerStore(pool: try LedgerDatabase.open(path: path)))
            let loop = Task { await ledger.groupCommit.run() }
            let posting = Transaction(id: TransactionID(UUID()), accountID: AccountID(UUID()), amount: 1)
            #expect(try await ledger.post(posting) == .created(posting))
            loop.cancel()
            await loop.value
            await #expect(throws: LedgerUnavailable.self) {
                try await ledger.post(Transaction(id: TransactionID(UUID()), accountID: AccountID(UUID()), amount: 1))
            }
        }
    }
}

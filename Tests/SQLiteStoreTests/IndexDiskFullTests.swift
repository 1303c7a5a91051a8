import Foundation
import GRDB
import Synchronization
import TestSupport
import Testing

@testable import AccountLedger
@testable import PostgresStore
@testable import SQLiteStore

/// A full disk under the index file (stood in for by `max_page_count`, which makes SQLite answer SQLITE_FULL as a
/// full file system does): merges fail and are retried, commits go on until the backlog reaches its bound and
/// are then refused as unavailable with the disk named, the store says it is unavailable meanwhile, and once
/// space returns the merges catch up and commits succeed again, with no restart.
@Suite(.timeLimit(.minutes(3))) struct IndexDiskFullTests {
    /// With the store's service running, its merges retry by themselves; without it (a tool, a test), the commits
    /// that find the backlog at its bound try the merges again themselves.
    @Test(arguments: [true, false])
    func mergesThatFindTheDiskFullAreRetriedAndTheStoreRecoversByItself(serviceRuns: Bool) async throws {
        try await withTemporaryDatabase { path in
            let store = try SQLiteLedgerStore(pool: LedgerDatabase.open(path: path), backlogLimit: 4, mergeLimit: 4)
            let ledger = Ledger(store: store)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await ledger.run() }
                if serviceRuns { group.addTask { try await store.run() } }  // the merges, retried while they fail
                defer { group.cancelAll() }
                let pages = try await store.indexes.write { db in
                    try Int.fetchOne(db, sql: "PRAGMA main.page_count")!
                }
                try await store.indexes.writeWithoutTransaction { db in
                    try db.execute(sql: "PRAGMA main.max_page_count = \(pages)")
                }
                var accepted: [Transaction] = []
                var refusal: (any Error)?
                for _ in 0..<400 where refusal == nil {
                    let posting = Transaction(id: TransactionID(UUID()), accountID: AccountID(UUID()), amount: 1)
                    do {
                        _ = try await ledger.post(posting)
                        accepted.append(posting)
                    } catch {
                        refusal = error
                    }
                }
                let unavailable = try #require(refusal as? StoreUnavailableError, "\(String(describing: refusal))")
                #expect(unavailable.isDiskFull, "\(unavailable)")
                #expect(store.unavailability?.isDiskFull == true)
                #expect(await ledger.unreadiness() == "the database's disk is full")
                // The backlog stopped at its bound: the commits before the refusal are all readable.
                #expect(accepted.count >= 4 + 8 * 4)
                for posting in accepted { #expect(try await ledger.transaction(posting.id).transaction == posting) }

                try await store.indexes.writeWithoutTransaction { db in
                    try db.execute(sql: "PRAGMA main.max_page_count = 1073741823")
                }
                let after = Transaction(id: TransactionID(UUID()), accountID: AccountID(UUID()), amount: 5)
                if serviceRuns {
                    // The retries (every 5 s at most) catch up by themselves; a commit then succeeds.
                    while store.unavailability != nil { try await Task.sleep(for: .milliseconds(20)) }
                    #expect(await ledger.unreadiness() == nil)
                    #expect(try await ledger.post(after).entry.transaction == after)
                } else {
                    // Nothing retries until a commit does: it merges, and succeeds.
                    #expect(store.unavailability?.isDiskFull == true)
                    #expect(try await ledger.post(after).entry.transaction == after)
                    #expect(store.unavailability == nil)
                }
                await store.mergesFinished()
                #expect(store.waitingIndexEntries <= 4)
                try await store.close()
                #expect(try ConsistencyCheck.run(path: path).isConsistent)
            }
        }
    }
}

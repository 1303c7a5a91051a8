import Foundation
import GRDB
import TestSupport
import Testing

@testable import AccountLedger
@testable import PostgresStore
@testable import SQLiteStore

/// SQLite's index tables live in `<database>-index`, derived from the ledger's transactions: the store must use
/// that file only when it holds this ledger's indexes, and rebuild it otherwise, so that every read and every
/// replay still finds every transaction.
@Suite(.timeLimit(.minutes(3))) struct IndexFileTests {
    let accounts = (0..<4).map { _ in AccountID(UUID()) }

    /// Commits `count` postings, merges every entry into the index file, and closes the store.
    func fill(_ path: String, count: Int) async throws -> [LedgerEntry] {
        let store = try SQLiteLedgerStore(pool: LedgerDatabase.open(path: path), backlogLimit: 0)
        let postings = (0..<count).map { index in
            Transaction(id: TransactionID(UUID()), accountID: accounts[index % accounts.count], amount: 3)
        }
        let created = try await Ledger.commit([Batch(postings)], to: store).created
        await store.mergesFinished()
        #expect(store.waitingIndexEntries == 0)
        try await store.close()
        return created
    }

    /// Every recorded transaction is found by id and in its account's statement, and posting it again is a replay.
    func expectFound(
        _ recorded: [LedgerEntry], at path: String, sourceLocation: SourceLocation = #_sourceLocation
    )
        async throws
    {
        let store = try SQLiteLedgerStore(pool: LedgerDatabase.open(path: path))
        for entry in recorded {
            #expect(try await store.transaction(entry.transaction.id) == entry, sourceLocation: sourceLocation)
        }
        for account in accounts {
            #expect(
                try await store.statement(of: account, before: nil, limit: 1000)
                    == recorded.filter { $0.transaction.accountID == account }.reversed(),
                sourceLocation: sourceLocation)
        }
        let replay = try await Ledger.commit([Batch(recorded.map(\.transaction))], to: store)
        #expect(replay.created.isEmpty, sourceLocation: sourceLocation)
        try await store.close()
        #expect(try ConsistencyCheck.run(path: path).isConsistent, sourceLocation: sourceLocation)
    }

    /// Every transaction of the ledger at `path`, in sequence order.
    func entries(of path: String) async throws -> [LedgerEntry] {
        let store = try SQLiteLedgerStore(pool: LedgerDatabase.open(path: path))
        let entries = try await store.transactions(after: 0, limit: 100_000)
        try await store.close()
        return entries
    }

    func removeIndexFile(of path: String) {
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: IndexFile.path(of: path) + suffix)
        }
    }

    @Test func aMissingIndexFileIsRebuilt() async throws {
        try await withTemporaryDatabase { path in
            let recorded = try await fill(path, count: 40)
            removeIndexFile(of: path)
            try await expectFound(recorded, at: path)
        }
    }

    /// An index file that is not a database at all (here: overwritten) is replaced by one built anew.
    @Test func aDamagedIndexFileIsRebuilt() async throws {
        try await withTemporaryDatabase { path in
            let recorded = try await fill(path, count: 30)
            removeIndexFile(of: path)
            try Data(repeating: 0x5A, count: 64 * 1024).write(to: URL(fileURLWithPath: IndexFile.path(of: path)))
            try await expectFound(recorded, at: path)
        }
    }

    /// A backup copy is a ledger of its own: beside it, the original's index file (here, of a ledger that went
    /// on with other transactions, fewer than the copy's) is not used.
    @Test func anotherLedgersIndexFileIsRebuilt() async throws {
        try await withTemporaryDatabase { path in
            _ = try await fill(path, count: 10)
            let copy = path + ".copy"
            try Backup.run(path: path, to: copy)
            _ = try await fill(path, count: 5)
            let recorded = try await entries(of: copy) + fill(copy, count: 20)
            removeIndexFile(of: copy)
            try FileManager.default.copyItem(atPath: IndexFile.path(of: path), toPath: IndexFile.path(of: copy))
            try await expectFound(recorded, at: copy)
        }
    }

    /// An index file that says it holds entries beyond the ledger's last transaction (a ledger restored from an
    /// older copy beside it) is rebuilt: else the transactions committed from there on would never be merged.
    @Test func anIndexFileAheadOfItsLedgerIsRebuilt() async throws {
        try await withTemporaryDatabase { path in
            var recorded = try await fill(path, count: 10)
            let queue = try DatabaseQueue(path: IndexFile.path(of: path))
            try await queue.write { db in try db.execute(sql: "UPDATE index_progress SET merged_through = 1000") }
            try queue.close()
            recorded += try await fill(path, count: 10)
            try await expectFound(recorded, at: path)
        }
    }
}

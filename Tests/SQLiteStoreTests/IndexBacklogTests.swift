import Foundation
import GRDB
import Synchronization
import TestSupport
import Testing

@testable import AccountLedger
@testable import PostgresStore
@testable import SQLiteStore

/// SQLite's index tables are filled apart from commits, a slice at a time, from entries waiting in memory: every
/// read must answer as if they were filled with each commit, whatever waits, after any merge and after the
/// store is opened again; `check` must catch index tables that disagree with the transactions.
@Suite(.timeLimit(.minutes(3))) struct IndexBacklogTests {
    let accounts = (0..<12).map { _ in AccountID(UUID()) }

    /// Commits random postings over a few accounts while the store's service merges, woken by the commits (limit 0:
    /// a merge after every commit; 40: now and then; the default: never here), at most 5 entries a merge (so slices are merged in
    /// part too), and compares every read with the commits' own records after each; then opens the store again,
    /// merges everything, and compares again.
    @Test(arguments: [0, 40, 1 << 17]) func readsAgreeWithTheCommitsWhateverWaits(backlogLimit: Int) async throws {
        try await withTemporaryDatabase { path in
            var recorded: [LedgerEntry] = []
            do {
                let store = try SQLiteLedgerStore(
                    pool: LedgerDatabase.open(path: path), backlogLimit: backlogLimit, mergeLimit: 5)
                let merges = Task { try await store.run() }
                for round in 0..<24 {
                    let postings = (0..<Int.random(in: 1...30)).map { _ in
                        Transaction(
                            id: TransactionID(UUID()), accountID: accounts.randomElement()!,
                            amount: .random(in: -50...50))
                    }
                    recorded += try await Ledger.commit([Batch(postings)], to: store).created
                    // Merges run beside the reads that follow.
                    if round % 4 == 3 { try await expectReads(of: store, agreeWith: recorded) }
                }
                try await expectReads(of: store, agreeWith: recorded)
                // Slices merged in part: check must place every key in the slice the store does.
                #expect(try ConsistencyCheck.run(path: path).isConsistent)
                // Every id again, waiting or merged: each is a replay.
                let replay = try await Ledger.commit([Batch(recorded.map(\.transaction))], to: store)
                #expect(replay.created.isEmpty)
                merges.cancel()  // the service stops, and closes the store
                try await merges.value
            }
            let store = try SQLiteLedgerStore(pool: LedgerDatabase.open(path: path), backlogLimit: 0)
            try await expectReads(of: store, agreeWith: recorded)
            await store.mergesFinished()
            #expect(store.waitingIndexEntries == 0)
            try await expectReads(of: store, agreeWith: recorded)
            let replay = try await Ledger.commit([Batch(recorded.map(\.transaction))], to: store)
            #expect(replay.created.isEmpty)
            #expect(try ConsistencyCheck.run(path: path).isConsistent)
        }
    }

    /// Each read, against what the commits recorded.
    func expectReads(
        of store: SQLiteLedgerStore, agreeWith recorded: [LedgerEntry],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        for entry in recorded {
            #expect(try await store.transaction(entry.transaction.id) == entry, sourceLocation: sourceLocation)
        }
        #expect(try await store.transactions(after: 0, limit: 10_000) == recorded, sourceLocation: sourceLocation)
        let instants = Set(recorded.map(\.createdAt.millisecondsSince1970)).flatMap { [$0 - 1, $0] }
        for account in accounts {
            let history = recorded.filter { $0.transaction.accountID == account }
            #expect(try await store.balance(of: account) == history.last?.balanceAfter, sourceLocation: sourceLocation)
            // Page by page, 7 at a time, from the newest.
            var pages: [LedgerEntry] = []
            var before: Int64? = nil
            while case let page = try await store.statement(of: account, before: before, limit: 7), !page.isEmpty {
                pages += page
                before = page.last!.sequence
            }
            #expect(pages == history.reversed(), sourceLocation: sourceLocation)
            let bound = recorded.randomElement()?.sequence ?? 1
            #expect(
                try await store.statement(of: account, before: bound, limit: 5)
                    == Array(history.reversed().filter { $0.sequence < bound }.prefix(5)),
                sourceLocation: sourceLocation)
            for instant in instants {
                let expected = history.last { $0.createdAt.millisecondsSince1970 <= instant }?.balanceAfter
                #expect(
                    try await store.balance(of: account, at: Timestamp(millisecondsSince1970: instant)) == expected,
                    sourceLocation: sourceLocation)
            }
        }
    }

    /// Readers racing merges: a merge commits its slice to the table before it empties the slice in memory, so
    /// a reader that took the waiting entries just before may find some of them in the table as well, and must
    /// read the table only up to the point it took with them. Every statement read while commits and merges go
    /// on must be whole: each entry's balance_after minus its amount is the next older entry's balance_after
    /// (none repeated, none missing), down to the first; and no read may show fewer entries than one before it.
    @Test func statementsReadWhileSlicesMergeAreWhole() async throws {
        try await withTemporaryDatabase { path in
            let store = try SQLiteLedgerStore(pool: LedgerDatabase.open(path: path), backlogLimit: 0, mergeLimit: 3)
            let merges = Task { try await store.run() }
            let account = accounts[0]
            let writing = Flag()
            let writer = Task {
                defer { writing.lower() }
                for _ in 0..<200 {
                    let postings = (0..<8).map { index in
                        Transaction(
                            id: TransactionID(UUID()), accountID: index < 2 ? account : accounts.randomElement()!,
                            amount: .random(in: 1...9))
                    }
                    _ = try await Ledger.commit([Batch(postings)], to: store)
                }
            }
            let readers = (0..<2).map { _ in
                Task {
                    var reads = 0
                    var seen = 0
                    while writing.isRaised {
                        let entries = try await store.statement(of: account, before: nil, limit: 10_000)
                        // What a read saw stays visible.
                        try #require(entries.count >= seen)
                        seen = entries.count
                        for (newer, older) in zip(entries, entries.dropFirst()) {
                            try #require(newer.balanceAfter - newer.transaction.amount == older.balanceAfter)
                        }
                        if let first = entries.last { try #require(first.balanceAfter == first.transaction.amount) }
                        reads += 1
                        // Readers must not hold the cooperative threads (one per core) from the writer.
                        await Task.yield()
                    }
                    return reads
                }
            }
            try await writer.value
            for reader in readers { #expect(try await reader.value > 0) }
            merges.cancel()
            try await merges.value
        }
    }

    /// Replays racing merges: each commit resends postings of earlier commits (their entries waiting, being
    /// merged or merged) with new ones. A merged entry must leave the backlog only where no commit's snapshot
    /// can miss it in both places, so every resent posting is a replay, never created again.
    @Test func replaysRacingMergesAreReplays() async throws {
        try await withTemporaryDatabase { path in
            let store = try SQLiteLedgerStore(pool: LedgerDatabase.open(path: path), backlogLimit: 0, mergeLimit: 3)
            let merges = Task { try await store.run() }
            var sent: [Transaction] = []
            for _ in 0..<300 {
                let new = (0..<4).map { _ in
                    Transaction(id: TransactionID(UUID()), accountID: accounts.randomElement()!, amount: 1)
                }
                let resent = (0..<4).compactMap { _ in sent.suffix(40).randomElement() }
                let created = try await Ledger.commit([Batch(new + resent)], to: store).created
                try #require(created.map(\.transaction) == new)
                sent += new
            }
            merges.cancel()
            try await merges.value
            #expect(try ConsistencyCheck.run(path: path).isConsistent)
        }
    }

    final class Flag: Sendable {
        private let raised = Mutex(true)
        var isRaised: Bool { raised.withLock { $0 } }
        func lower() { raised.withLock { $0 = false } }
    }

    /// The backlog is one process's: a second store on the same file would decide on a ledger it cannot see.
    @Test func oneStoreAtATimeServesADatabase() async throws {
        try await withTemporaryDatabase { path in
            let first = try SQLiteLedgerStore(pool: LedgerDatabase.open(path: path))
            #expect(throws: SQLiteLedgerStore.DatabaseInUseError.self) {
                _ = try SQLiteLedgerStore(pool: LedgerDatabase.open(path: path))
            }
            _ = try await Ledger.commit(
                [Batch([Transaction(id: TransactionID(UUID()), accountID: accounts[0], amount: 1)])], to: first)
            // Closed as the service closes it (not merely dropped: a merge still running holds the store until
            // it ends, and with it the lock).
            try await first.close()
            let second = try SQLiteLedgerStore(pool: LedgerDatabase.open(path: path))
            #expect(try await second.balance(of: accounts[0]) == 1)
        }
    }

    /// A merge that fails (here: an id already in `transaction_ids`, which only a bug or a hand could put
    /// there) stops the store's commits: index tables that cannot catch up must not go on falling behind.
    @Test func aFailedMergeStopsCommits() async throws {
        try await withTemporaryDatabase { path in
            let store = try SQLiteLedgerStore(pool: LedgerDatabase.open(path: path), backlogLimit: 0)
            let posting = Transaction(id: TransactionID(UUID()), accountID: accounts[0], amount: 1)
            _ = try await Ledger.commit([Batch([posting])], to: store)
            try await store.indexes.writeWithoutTransaction { db in
                try db.execute(
                    sql: "INSERT INTO transaction_ids (id, sequence) VALUES (?, 99)", arguments: [posting.id.uuid])
            }
            await store.mergesFinished()
            await #expect(throws: SQLiteLedgerStore.IndexMergeError.self) {
                _ = try await Ledger.commit(
                    [Batch([Transaction(id: TransactionID(UUID()), accountID: accounts[1], amount: 1)])], to: store)
            }
            #expect(try await store.balance(of: accounts[1]) == nil)
        }
    }

    /// `check` compares each merged slice of the index tables with the transactions, and finds ids recorded twice.
    @Test func checkFindsIndexTablesThatDisagree() async throws {
        let tampering: [(String, String)] = [
            ("DELETE FROM transaction_ids WHERE id = (SELECT id FROM transaction_ids LIMIT 1)", "no entry"),
            ("UPDATE transactions_by_account SET amount = amount + 1 WHERE sequence = 3", "no entry"),
            ("INSERT INTO transaction_ids VALUES (zeroblob(16), 3)", "match no merged transaction"),
            (
                "INSERT INTO transactions SELECT 100, id, account_id, 0, created_at, balance_after, NULL, NULL, NULL, NULL FROM transactions "
                    + "WHERE sequence = 2", "recorded 2 times"
            ),
        ]
        for (sql, expected) in tampering {
            try await withTemporaryDatabase { path in
                let pool = try LedgerDatabase.open(path: path)
                let store = try SQLiteLedgerStore(pool: pool, backlogLimit: 0)
                let postings = (0..<20).map {
                    Transaction(id: TransactionID(UUID()), accountID: accounts[$0 % 3], amount: 1)
                }
                _ = try await Ledger.commit([Batch(postings)], to: store)
                await store.mergesFinished()
                #expect(store.waitingIndexEntries == 0)
                #expect(try ConsistencyCheck.run(path: path).isConsistent)
                // On the index file's writer, which attaches the ledger's file: both can be tampered with.
                try await store.indexes.writeWithoutTransaction { db in try db.execute(sql: sql) }
                let errors = try ConsistencyCheck.run(path: path).indexErrors
                #expect(errors.contains { $0.contains(expected) }, "\(sql): \(errors)")
            }
        }
    }

    /// A version-2 database (a UNIQUE id index and a covering index on the table) gets its index file built, with
    /// every slice marked merged.
    @Test func aVersion2DatabaseGetsItsIndexTables() async throws {
        try await withTemporaryDatabase { path in
            let ids = (0..<3).map { _ in TransactionID(UUID()) }
            do {
                let queue = try DatabaseQueue(path: path)
                try Schema.migrator.migrate(
                    queue, upTo: "v2: sequence, commit time and balance after every transaction")
                try await queue.write { db in
                    try db.execute(sql: "INSERT INTO accounts VALUES (?, 6, 3)", arguments: [accounts[0].uuid])
                    for (index, id) in ids.enumerated() {
                        try db.execute(
                            sql: "INSERT INTO transactions VALUES (?, ?, ?, ?, 1000, ?)",
                            arguments: [index + 1, id.uuid, accounts[0].uuid, index + 1, (index + 1) * (index + 2) / 2])
                    }
                }
                try queue.close()
            }
            let store = try SQLiteLedgerStore(pool: LedgerDatabase.open(path: path))
            #expect(store.waitingIndexEntries == 0)
            #expect(try await store.transaction(ids[1])?.transaction.amount == 2)
            #expect(
                try await store.statement(of: accounts[0], before: nil, limit: 10).map(\.balanceAfter) == [6, 3, 1])
            #expect(try await store.balance(of: accounts[0], at: Timestamp(millisecondsSince1970: 1000)) == 6)
            #expect(try ConsistencyCheck.run(path: path).isConsistent)
            let replay = try await Ledger.commit(
                [Batch([Transaction(id: ids[0], accountID: accounts[0], amount: 1)])], to: store)
            #expect(replay.created.isEmpty)
        }
    }
}

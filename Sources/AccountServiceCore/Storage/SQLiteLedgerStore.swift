import Foundation
import GRDB
import Logging
import Synchronization

/// The ledger's state in SQLite. A commit is one write transaction, and SQLite has one writer at a time, so
/// the snapshot the rules decide on cannot change before the commit's changes are written: no update is lost.
///
/// A commit appends its transactions to `transactions` and updates their accounts; the entries of the two index
/// tables wait in memory (``IndexBacklog``) and go in by slices, written beside the commits into a file of their
/// own (``IndexFile``) by a writer of their own (``maintain()``). Every read of an index takes the waiting
/// entries and the index table together. The backlog is this process's, so one process at a time serves a
/// database file: the store holds an exclusive lock beside it (``DatabaseInUse``).
public final class SQLiteLedgerStore: LedgerStore {
    /// The statements the store runs, each defined once; `StorageTests` checks the plans of the reads. Those
    /// that read an index table run on a connection of the index file, which attaches the ledger's.
    enum SQL {
        static let transactionByID = """
            SELECT \(LedgerEntry.columns) FROM transactions
            WHERE sequence = (SELECT sequence FROM transaction_ids WHERE id = ?)
            """
        static let balanceByID = "SELECT balance FROM accounts WHERE id = ?"
        /// The last balance_after of the account at or before an instant, among the entries merged through ?3: one
        /// descent of transactions_by_account (entries beyond ?3 are the few merged after the backlog was read).
        static let balanceAtInstant = """
            SELECT balance_after FROM transactions_by_account WHERE account_id = ?1 AND created_at <= ?2
                AND sequence <= ?3
            ORDER BY created_at DESC, sequence DESC LIMIT 1
            """
        /// A statement page: the range of transactions_by_account below (created_at, sequence) = (the commit time
        /// of the first transaction at or after `before` ?2, `before`), read backwards. created_at never decreases
        /// along sequence, so this is "sequence < before". One statement: the bound is a scalar subquery (one
        /// descent of the table, evaluated once), so a page is one read transaction, not two.
        static let statementPage = """
            SELECT \(LedgerEntry.columns) FROM transactions_by_account
            WHERE account_id = ?1 AND created_at <= \(commitTimeFrom)
                AND (created_at < \(commitTimeFrom) OR sequence < ?2)
            ORDER BY created_at DESC, sequence DESC LIMIT ?3
            """
        /// The commit time of the first transaction at or after ?2, or the largest integer when there is none.
        private static let commitTimeFrom = """
            coalesce((SELECT created_at FROM transactions WHERE sequence >= ?2 ORDER BY sequence LIMIT 1),
                     9223372036854775807)
            """
        /// A feed page: a range of the table itself, which is ordered by sequence, up to the last published ?3.
        static let feedPage = """
            SELECT \(LedgerEntry.columns) FROM transactions WHERE sequence > ?1 AND sequence <= ?3
            ORDER BY sequence LIMIT ?2
            """
        static let lastTransaction = """
            SELECT sequence, created_at FROM transactions WHERE sequence = (SELECT max(sequence) FROM transactions)
            """
        /// One statement, two index probes: max() reads the last entry of accounts_by_transaction_count, and the
        /// accounts with that count are the contiguous run of entries that follows the probe, in id order.
        static let maxTransactionVolume = """
            SELECT id, transaction_count FROM accounts
            WHERE transaction_count = (SELECT max(transaction_count) FROM accounts)
            ORDER BY id
            """
        /// The transactions an index slice may not hold yet, read once when the store opens.
        static let unmergedTransactions = """
            SELECT \(LedgerEntry.columns) FROM transactions WHERE sequence > ? ORDER BY sequence
            """
        static let indexProgress = "SELECT name, slice, merged_through FROM index_progress"
        static let insertAccount = "INSERT INTO accounts (id, balance, transaction_count) VALUES (?, ?, ?)"
        static let insertTransaction = """
            INSERT INTO transactions (\(LedgerEntry.columns)) VALUES (?, ?, ?, ?, ?, ?)
            """
        /// Applies only if the balance is still the one the rules decided on.
        static let updateAccount = """
            UPDATE accounts SET balance = ?2, transaction_count = transaction_count + ?3
            WHERE id = ?1 AND balance = ?4
            """
        static let insertTransactionID = "INSERT INTO transaction_ids (id, sequence) VALUES (?, ?)"
        static let insertAccountEntry = """
            INSERT INTO transactions_by_account (account_id, created_at, sequence, id, amount, balance_after)
            VALUES (?, ?, ?, ?, ?, ?)
            """
        static let updateIndexProgress = "UPDATE index_progress SET merged_through = ?3 WHERE name = ?1 AND slice = ?2"

        /// Every statement that serves a GET, or that a commit reads with.
        static let reads = [
            transactionByID, balanceByID, balanceAtInstant, statementPage, feedPage, lastTransaction,
            maxTransactionVolume, unmergedTransactions,
        ]
    }

    /// The database changed under a commit: a balance was not the one its snapshot held. Never expected; the
    /// commit is rolled back.
    struct ConcurrentModification: Error, CustomStringConvertible {
        let account: AccountID
        var description: String { "the balance of account \(account) changed during a commit" }
    }

    /// Another process serves the database file.
    public struct DatabaseInUse: Error, CustomStringConvertible {
        public let path: String
        public var description: String {
            "the database \(path) is in use by another account-service process (one process serves a database file)"
        }
    }

    /// Moving an index slice into its table failed: the store refuses commits from then on, with this error, as
    /// its index tables can no longer be trusted to catch up.
    struct IndexMergeFailed: Error, CustomStringConvertible {
        let cause: any Error
        var description: String { "moving index entries into their tables failed: \(cause)" }
    }

    /// 131,072 entries: about 13 MB of memory.
    public static let defaultBacklogLimit = 1 << 17

    let pool: DatabasePool
    /// The index file's connections (``IndexFile``): its writer merges, its readers read the index tables.
    let indexes: DatabasePool
    /// Waiting index entries past this many start merges, the fullest slice first, until they are no longer so.
    let backlogLimit: Int
    /// The most entries one merge takes.
    let mergeLimit: Int
    private let backlog: Mutex<IndexBacklog>
    /// A merge found a duplicate (the index tables cannot be trusted to catch up): every commit is refused.
    private let mergeFailure = Mutex<IndexMergeFailed?>(nil)
    private let merges = Mutex(Merges())
    /// The last commit's failure when the disk refused it (full, or failing), and when; cleared by a commit.
    private let commitTrouble = Mutex<(error: StoreUnavailable, at: ContinuousClock.Instant)?>(nil)
    let logger: Logger

    private struct Merges {
        /// The merges running, if any.
        var running: Task<Void, Never>?
        /// Set once ``close()`` has begun, so that no merge starts.
        var closing = false
        /// While merges fail for a reason that may pass (a full disk, say) and are retried: the last failure.
        var failing: StoreUnavailable?
        /// Commits waiting for the merges to catch up, resumed after each merge (``maintain()``).
        var waiters: [CheckedContinuation<Bool, Never>] = []
    }
    /// The exclusive lock on `<database>-lock`, held while the store lives.
    private let lock: FileLock

    /// Opens the store on `pool`: locks the database file, opens its index file (rebuilt if it does not hold the
    /// ledger's indexes), and reads the transactions the index tables do not hold yet.
    /// - Parameters:
    ///   - backlogLimit: how many index entries may wait before merges start; a larger backlog makes larger
    ///     merges, which share more pages (see the README).
    ///   - mergeLimit: the most entries one merge takes: a larger merge writes each page of its slice once for
    ///     more entries, and holds more memory until it commits.
    /// - Throws: ``DatabaseInUse`` when another process serves the file.
    ///   - logger: where failing merges are reported.
    public init(
        pool: DatabasePool, backlogLimit: Int = defaultBacklogLimit, mergeLimit: Int = 16384,
        logger: Logger = Logger(label: "account-service")
    ) throws {
        precondition(mergeLimit > 0)
        self.pool = pool
        self.logger = logger
        self.backlogLimit = backlogLimit
        self.mergeLimit = mergeLimit
        guard let lock = try FileLock(exclusive: pool.path + "-lock") else { throw DatabaseInUse(path: pool.path) }
        self.lock = lock
        indexes = try IndexFile.open(ledger: pool)
        backlog = Mutex(try indexes.read(Self.loadBacklog))
    }

    /// Lets the merge running finish, starts no other, and closes the index file and then the ledger's, each
    /// with its log copied into it (``LedgerDatabase/close(_:)``).
    public func close() async throws {
        let running = merges.withLock { merges -> Task<Void, Never>? in
            merges.closing = true
            // A merge waiting to be retried stops waiting (one running goes on to its end).
            if merges.failing != nil { merges.running?.cancel() }
            return merges.running
        }
        await running?.value
        try LedgerDatabase.close(indexes)
        try LedgerDatabase.close(pool)
    }

    private static func loadBacklog(_ db: Database) throws -> IndexBacklog {
        var ids = Array(repeating: Int64(0), count: IndexBacklog.sliceCount)
        var accounts = ids
        for row in try Row.fetchAll(db, sql: SQL.indexProgress) {
            if row["name"] == IndexBacklog.Merge.Index.ids.rawValue {
                ids[row["slice"]] = row["merged_through"]
            } else {
                accounts[row["slice"]] = row["merged_through"]
            }
        }
        let lastTransaction = try db.cachedStatement(sql: SQL.lastTransaction)
        lastTransaction.bind()
        let last = try lastTransaction.firstRow(in: db) { $0.integer(at: 0) } ?? 0
        var backlog = IndexBacklog(idsMergedThrough: ids, accountsMergedThrough: accounts, published: last)
        let unmerged = try db.cachedStatement(sql: SQL.unmergedTransactions)
        unmerged.bind(.integer(min(ids.min()!, accounts.min()!)))
        backlog.append(try unmerged.rows(in: db, LedgerEntry.init(row:)))
        return backlog
    }

    public func commit(
        _ postings: [Transaction], decide: @escaping @Sendable (LedgerSnapshot) -> CommitPlan
    ) async throws -> CommitPlan {
        if let failure = mergeFailure.withLock({ $0 }) { throw failure }
        // Merges that fail (a full disk) stop commits only once the backlog reaches its bound.
        if waitingIndexEntries > backlogBound, let failing = merges.withLock({ $0.failing }) { throw failing }
        do {
            let plan = try await pool.writeWithoutTransaction { db in
                var plan: CommitPlan?
                try db.inTransaction(.immediate) {
                    plan = decide(try self.snapshot(for: postings, in: db))
                    try Self.write(plan!, in: db)
                    return .commit
                }
                // Committed: published (the writer is still held, so no other commit comes between).
                self.backlog.withLock { $0.append(plan!.created) }
                return plan!
            }
            commitTrouble.withLock { $0 = nil }
            return plan
        } catch let error as DatabaseError {
            guard let unavailable = LedgerDatabase.unavailable(error, path: pool.path) else { throw error }
            commitTrouble.withLock { $0 = (unavailable, .now) }
            throw unavailable
        }
    }

    /// Why writes fail now, if they do: merges that fail and are being retried, or a commit that the disk refused
    /// in the last ``troubleMemory`` (a commit that succeeds clears it sooner).
    public var unavailability: StoreUnavailable? {
        if let failing = merges.withLock({ $0.failing }) { return failing }
        return commitTrouble.withLock { trouble in
            guard let trouble, ContinuousClock.now - trouble.at < Self.troubleMemory else { return nil }
            return trouble.error
        }
    }

    /// One process serves a database file (its lock file says so), and commits only through this store.
    public var isSoleWriter: Bool { true }

    /// How long a commit refused by the disk keeps the store unready when no commit comes to clear it.
    static let troubleMemory = Duration.seconds(10)

    /// The most index entries that may wait: past it a commit waits for the merges, or is refused while they fail.
    private var backlogBound: Int { backlogLimit + 8 * mergeLimit }

    /// Looks up each posting's id and account once (a commit of a thousand postings runs two thousand
    /// lookups, hence ``Statement/bind(_:)`` rather than `StatementArguments`).
    private func snapshot(for postings: [Transaction], in db: Database) throws -> LedgerSnapshot {
        var snapshot = LedgerSnapshot()
        let last = try db.cachedStatement(sql: SQL.lastTransaction)
        last.bind()
        if let (sequence, createdAt) = try last.firstRow(in: db, { ($0.integer(at: 0), $0.integer(at: 1)) }) {
            snapshot.lastSequence = sequence
            snapshot.lastCreatedAt = Timestamp(millisecondsSince1970: createdAt)
        }
        let balanceByID = try db.cachedStatement(sql: SQL.balanceByID)
        // An id is looked up in the backlog, then in the index file, in one read transaction there. A merge takes
        // its entries from the backlog only after it has committed them there, and on this writer's queue, so
        // between commits: the backlog holds still through the snapshot, and the index file's snapshot holds
        // every entry it no longer holds. An id recorded is found in one or the other. (Only this writer adds
        // to the backlog: a lookup that misses both is of an id not recorded.) Each backlog lookup takes the lock
        // alone, so readers never wait for the snapshot's SQL.
        // A new account is looked up again by each of its postings; that costs less than remembering it.
        try indexes.read { indexes in
            let transactionByID = try indexes.cachedStatement(sql: SQL.transactionByID)
            for posting in postings {
                if let waiting = backlog.withLock({ $0.entry(posting.id) }) {
                    snapshot.recorded[posting.id] = waiting
                } else {
                    transactionByID.bind(.uuid(posting.id.uuid))
                    if let recorded = try transactionByID.firstRow(in: indexes, LedgerEntry.init(row:)) {
                        snapshot.recorded[posting.id] = recorded
                    }
                }
                if snapshot.balances[posting.accountID] == nil {
                    balanceByID.bind(.uuid(posting.accountID.uuid))
                    if let balance = try balanceByID.firstRow(in: db, { $0.integer(at: 0) }) {
                        snapshot.balances[posting.accountID] = balance
                    }
                }
            }
        }
        return snapshot
    }

    /// Accounts first: a transaction's account must exist (a foreign key).
    private static func write(_ plan: CommitPlan, in db: Database) throws {
        let updateAccount = try db.cachedStatement(sql: SQL.updateAccount)
        let insertAccount = try db.cachedStatement(sql: SQL.insertAccount)
        for change in plan.accounts {
            if let previous = change.previousBalance {
                updateAccount.bind(
                    .uuid(change.account.uuid), .integer(change.balance), .integer(change.addedTransactions),
                    .integer(previous))
                _ = try updateAccount.stepToRow(in: db)
                guard db.changesCount == 1 else { throw ConcurrentModification(account: change.account) }
            } else {
                insertAccount.bind(
                    .uuid(change.account.uuid), .integer(change.balance), .integer(change.addedTransactions))
                _ = try insertAccount.stepToRow(in: db)
            }
        }
        let insertTransaction = try db.cachedStatement(sql: SQL.insertTransaction)
        for entry in plan.created {
            insertTransaction.bind(
                .integer(entry.sequence), .uuid(entry.transaction.id.uuid), .uuid(entry.transaction.accountID.uuid),
                .integer(entry.transaction.amount), .integer(entry.createdAt.millisecondsSince1970),
                .integer(entry.balanceAfter))
            _ = try insertTransaction.stepToRow(in: db)
        }
    }

    /// Once more than `backlogLimit` entries wait, starts merging them (unless merges run already), beside the
    /// commits: the writer loop calls this after each commit. Only while the backlog is beyond its bound (8 merges
    /// beyond its limit), when merges do not keep up, does the writer wait for them, which bounds the memory the
    /// backlog takes; while merges fail, it does not wait: ``commit(_:decide:)`` refuses commits instead.
    public func maintain() async {
        guard waitingIndexEntries > backlogLimit, mergeFailure.withLock({ $0 == nil }) else { return }
        merges.withLock { merges in
            if merges.running == nil, !merges.closing {
                merges.running = Task { await self.mergeWhileNeeded() }
            }
        }
        while waitingIndexEntries > backlogBound {
            let waiting = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let waits = merges.withLock { merges in
                    guard merges.running != nil, merges.failing == nil else { return false }
                    merges.waiters.append(continuation)
                    return true
                }
                if !waits { continuation.resume(returning: false) }
            }
            guard waiting else { return }
        }
    }

    /// Merges the oldest entries of the fullest slice, at most `mergeLimit`, until no more than `backlogLimit`
    /// wait, a merge finds a duplicate, or the store closes. A merge that fails otherwise (a full disk, an I/O
    /// error) is retried after a back-off of 0.1 s doubling to 5 s, and the store is unavailable meanwhile
    /// (``unavailability``); the first merge that succeeds makes it available again.
    private func mergeWhileNeeded() async {
        var backOff = Self.firstBackOff
        while let merge = merges.withLock({ merges in
            let next =
                merges.closing || mergeFailure.withLock({ $0 != nil })
                ? nil
                : backlog.withLock { $0.count > backlogLimit ? $0.fullestSlice(limit: mergeLimit) : nil }
            if next == nil { merges.running = nil }
            return next
        }) {
            do {
                try await self.merge(merge)
                backOff = Self.firstBackOff
                if let recovered = settle(failing: nil) {
                    logger.notice("Index merges succeed again", metadata: ["after": "\(recovered.reason)"])
                }
            } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                mergeFailure.withLock { $0 = IndexMergeFailed(cause: error) }
                logger.critical("Index merge found a duplicate: commits stop", metadata: ["error": "\(error)"])
                settle(failing: nil)
            } catch {
                let unavailable =
                    (error as? DatabaseError).flatMap { LedgerDatabase.unavailable($0, path: indexes.path) }
                    ?? StoreUnavailable(reason: "moving index entries into their tables failed: \(error)")
                if settle(failing: unavailable) == nil {
                    logger.error(
                        "Index merge failed; retrying", metadata: ["error": "\(unavailable.reason)"])
                }
                try? await Task.sleep(for: backOff)
                backOff = min(backOff * 2, Self.lastBackOff)
            }
        }
        settle(failing: nil)
    }

    private static let firstBackOff = Duration.milliseconds(100)
    private static let lastBackOff = Duration.seconds(5)

    /// Records the outcome of a merge (`failing` nil: it succeeded, or merges stopped) and wakes the commits
    /// waiting for one; returns the failure it replaces.
    @discardableResult
    private func settle(failing: StoreUnavailable?) -> StoreUnavailable? {
        let (previous, waiters) = merges.withLock { merges in
            defer {
                merges.failing = failing
                merges.waiters = []
            }
            return (merges.failing, merges.waiters)
        }
        for waiter in waiters { waiter.resume(returning: true) }
        return previous
    }

    /// Returns once the merges running, if any, have stopped (no more than `backlogLimit` entries wait, or a merge
    /// failed).
    func mergesFinished() async {
        await merges.withLock { $0.running }?.value
    }

    /// How many index entries wait in memory.
    var waitingIndexEntries: Int { backlog.withLock { $0.count } }

    /// Moves a merge's entries into their table, in key order (each page of the slice is written once for all of
    /// them), and marks the slice merged through the merge's point; then they stop waiting.
    func merge(_ merge: IndexBacklog.Merge) async throws {
        try await indexes.writeWithoutTransaction { db in
            // Deferred: an immediate transaction would take the attached ledger's write lock too.
            try db.inTransaction(.deferred) {
                switch merge.index {
                case .ids:
                    let insert = try db.cachedStatement(sql: SQL.insertTransactionID)
                    for entry in merge.entries.sorted(by: { $0.transaction.id.uuid.precedes($1.transaction.id.uuid) }) {
                        insert.bind(.uuid(entry.transaction.id.uuid), .integer(entry.sequence))
                        _ = try insert.stepToRow(in: db)
                    }
                case .accounts:
                    let insert = try db.cachedStatement(sql: SQL.insertAccountEntry)
                    let inKeyOrder = merge.entries.sorted { left, right in
                        let (a, b) = (left.transaction.accountID.uuid, right.transaction.accountID.uuid)
                        return a == b ? left.sequence < right.sequence : a.precedes(b)
                    }
                    for entry in inKeyOrder {
                        insert.bind(
                            .uuid(entry.transaction.accountID.uuid), .integer(entry.createdAt.millisecondsSince1970),
                            .integer(entry.sequence), .uuid(entry.transaction.id.uuid),
                            .integer(entry.transaction.amount), .integer(entry.balanceAfter))
                        _ = try insert.stepToRow(in: db)
                    }
                }
                try db.cachedStatement(sql: SQL.updateIndexProgress).execute(
                    arguments: [merge.index.rawValue, merge.slice, merge.through])
                return .commit
            }
        }
        // On the ledger writer's queue, between two commits: see snapshot(for:in:).
        try await pool.writeWithoutTransaction { _ in self.backlog.withLock { $0.merged(merge) } }
    }

    public func transaction(_ id: TransactionID) async throws -> LedgerEntry? {
        if let waiting = backlog.withLock({ $0.entry(id) }) { return waiting }
        return try read(indexes) { db in
            let statement = try db.cachedStatement(sql: SQL.transactionByID)
            statement.bind(.uuid(id.uuid))
            return try statement.firstRow(in: db, LedgerEntry.init(row:))
        }
    }

    public func balance(of account: AccountID, at instant: Timestamp) async throws -> Int64? {
        let tail = backlog.withLock { $0.tail(of: account) }
        if let last = tail.entries.last(where: { $0.createdAt <= instant }) { return last.balanceAfter }
        return try read(indexes) { db in
            try Int64.fetchOne(
                db.cachedStatement(sql: SQL.balanceAtInstant),
                arguments: [account.uuid, instant.millisecondsSince1970, tail.mergedThrough])
        }
    }

    /// The waiting entries below `before`, newest first, then the table's from where they end.
    public func statement(of account: AccountID, before: Int64?, limit: Int) async throws -> [LedgerEntry] {
        let tail = backlog.withLock { $0.tail(of: account) }
        let before = before ?? .max
        var entries = Array(tail.entries.reversed().lazy.filter { $0.sequence < before }.prefix(limit))
        guard entries.count < limit else { return entries }
        entries += try read(indexes) { db in
            let page = try db.cachedStatement(sql: SQL.statementPage)
            page.bind(
                .uuid(account.uuid), .integer(min(before, tail.mergedThrough + 1)),
                .integer(Int64(limit - entries.count)))
            return try page.rows(in: db, LedgerEntry.init(row:))
        }
        return entries
    }

    public func transactions(after: Int64, limit: Int) async throws -> [LedgerEntry] {
        let published = backlog.withLock { $0.published }
        return try read(pool) { db in
            let page = try db.cachedStatement(sql: SQL.feedPage)
            page.bind(.integer(after), .integer(Int64(limit)), .integer(published))
            return try page.rows(in: db, LedgerEntry.init(row:))
        }
    }

    public func balance(of account: AccountID) async throws -> Int64? {
        try read(pool) { db in
            try Int64.fetchOne(db.cachedStatement(sql: SQL.balanceByID), arguments: [account.uuid])
        }
    }

    public func transactionVolume() async throws -> TransactionVolume {
        try read(pool) { db in
            let rows = try Row.fetchAll(db.cachedStatement(sql: SQL.maxTransactionVolume))
            let maxVolume: Int64 = rows.first?["transaction_count"] ?? 0
            return TransactionVolume(maxVolume: maxVolume, accounts: rows.map { AccountID($0["id"]) })
        }
    }

    /// Runs read statements on the calling thread, on a reader connection of `pool` (the ledger's, or the index
    /// file's).
    ///
    /// Every read of the ledger is a single SELECT, which SQLite already runs atomically on one snapshot, and it
    /// sees every commit that completed before it started, so the explicit read transaction of
    /// `DatabasePool.read` would only add two statements. Running it here rather than on the reader's dispatch
    /// queue saves two thread switches per request, which cost far more than the index lookup itself (profiled:
    /// SQLite was 3% of the samples of a GET /balance load, thread switching over a third). The pool is sized
    /// so that this never waits for a connection (see ``LedgerDatabase/open(path:durability:)``).
    private func read<T>(_ pool: DatabasePool, _ statement: (Database) throws -> T) throws -> T {
        try pool.unsafeRead(statement)
    }
}

extension UUID {
    /// Whether its 16 bytes come before `other`'s in memcmp order, the order of SQLite's blobs.
    func precedes(_ other: UUID) -> Bool {
        withUnsafeBytes(of: uuid) { left in
            withUnsafeBytes(of: other.uuid) { right in memcmp(left.baseAddress!, right.baseAddress!, 16) < 0 }
        }
    }
}

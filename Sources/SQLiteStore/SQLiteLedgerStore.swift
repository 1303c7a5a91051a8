import AccountLedger
import CoreMetrics
import Foundation
import GRDB
import Logging
import Synchronization

/// The ledger's state in SQLite. A commit is one write transaction, and SQLite has one writer at a time, so
/// the snapshot the rules decide on cannot change before the commit's changes are written: no update is lost.
///
/// A commit appends its transactions to `transactions` and updates their accounts; the entries of the two index
/// tables wait in memory (``IndexBacklog``) and go in by slices, written beside the commits into a file of their
/// own (``IndexFile``) by the store's service (``run()``, in SQLiteLedgerStore+Merges.swift). Every read of an
/// index takes the waiting entries and the index table together (SQLiteLedgerStore+Reads.swift). The backlog is
/// this process's, so one process at a time serves a database file: the store holds an exclusive lock beside it
/// (``DatabaseInUseError``).
public final class SQLiteLedgerStore: LedgerStore {
    /// The database changed under a commit: a balance was not the one its snapshot held. Never expected; the
    /// commit is rolled back.
    struct ConcurrentModificationError: Error, CustomStringConvertible {
        let account: AccountID
        var description: String { "the balance of account \(account) changed during a commit" }
    }

    /// Another process serves the database file.
    public struct DatabaseInUseError: Error, CustomStringConvertible {
        public let path: String
        public var description: String {
            "the database \(path) is in use by another account-service process (one process serves a database file)"
        }
    }

    /// Moving index entries into their table found a duplicate: the store refuses commits from then on, with
    /// this error, as its index tables can no longer be trusted to catch up.
    struct IndexMergeError: Error, CustomStringConvertible {
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
    let backlog: Mutex<IndexBacklog>
    /// A merge found a duplicate (the index tables cannot be trusted to catch up): every commit is refused.
    let mergeFailure = Mutex<IndexMergeError?>(nil)
    let merges = Mutex(Merges())
    /// Wakes the merges (``run()``); one buffered wake-up is enough, as a merger merges all that is needed.
    let wakeUps: AsyncStream<Void>
    let wakeUp: AsyncStream<Void>.Continuation
    /// The last commit's failure when the disk refused it (full, or failing), and when; cleared by a commit.
    private let commitTrouble = Mutex<(error: StoreUnavailableError, at: ContinuousClock.Instant)?>(nil)
    /// `ledger_index_backlog_entries`: how many index entries wait in memory.
    let backlogGauge: Gauge
    /// `ledger_database_size_bytes`, one per file (``measureFiles()``).
    let fileGauges: [(Gauge, String)]
    let logger: Logger
    /// The exclusive lock on `<database>-lock`, held while the store lives.
    private let lock: FileLock
    /// The simulator's hold on the store's operations (SQLiteStoreSimulationTests); nil in the service. Set
    /// before the store is used.
    nonisolated(unsafe) package var interleaving: (any Interleaving)?

    /// Opens the store on `pool`: locks the database file, opens its index file (rebuilt if it does not hold the
    /// ledger's indexes), and reads the transactions the index tables do not hold yet.
    /// - Parameters:
    ///   - backlogLimit: how many index entries may wait before merges start; a larger backlog makes larger
    ///     merges, which share more pages (see docs/performance.md).
    ///   - mergeLimit: the most entries one merge takes: a larger merge writes each page of its slice once for
    ///     more entries, and holds more memory until it commits.
    ///   - metrics: where the store's gauges go (its backlog, its files' sizes); nowhere by default.
    ///   - logger: where failing merges are reported.
    /// - Throws: ``DatabaseInUseError`` when another process serves the file.
    public init(
        pool: DatabasePool, backlogLimit: Int = defaultBacklogLimit, mergeLimit: Int = 16384,
        metrics: any MetricsFactory = NOOPMetricsHandler.instance, logger: Logger = Logger(label: "account-service")
    ) throws {
        precondition(mergeLimit > 0)
        self.pool = pool
        self.logger = logger
        self.backlogLimit = backlogLimit
        self.mergeLimit = mergeLimit
        (wakeUps, wakeUp) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        guard let lock = try FileLock(exclusive: pool.path + "-lock") else {
            throw DatabaseInUseError(path: pool.path)
        }
        self.lock = lock
        indexes = try IndexFile.open(ledger: pool)
        let backlog = try indexes.read(Self.loadBacklog)
        self.backlog = Mutex(backlog)
        backlogGauge = Gauge(label: "ledger_index_backlog_entries", factory: metrics)
        backlogGauge.record(backlog.count)
        fileGauges = Self.fileGauges(of: pool.path, factory: metrics)
        measureFiles()
    }

    /// Lets the merge running finish, starts no other, and closes the index file and then the ledger's, each
    /// with its log copied into it (``LedgerDatabase/close(_:)``), then releases the file's lock. Closing again
    /// does nothing.
    public func close() async throws {
        let first = merges.withLock { merges in
            defer { merges.closing = true }
            return !merges.closing
        }
        guard first else { return }
        await mergesFinished()
        try LedgerDatabase.close(indexes)
        try LedgerDatabase.close(pool)
        lock.release()
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
        _ keys: CommitKeys, decide: @escaping @Sendable (LedgerSnapshot) -> CommitPlan
    ) async throws -> CommitPlan {
        // A merge that found a duplicate stops every commit; merges that fail (a full disk) stop commits only once
        // the backlog reaches its bound.
        try await keepBacklogBounded()
        do {
            let plan = try await pool.writeWithoutTransaction { db in
                var plan: CommitPlan?
                try db.inTransaction(.immediate) {
                    plan = decide(try self.snapshot(for: keys, in: db))
                    try Self.write(plan!, in: db)
                    return .commit
                }
                // Committed: published (the writer is still held, so no other commit comes between).
                self.backlog.withLock { $0.append(plan!.created) }
                return plan!
            }
            commitTrouble.withLock { $0 = nil }
            let waiting = waitingIndexEntries
            backlogGauge.record(waiting)
            if waiting > backlogLimit { wakeUp.yield() }
            return plan
        } catch let error as DatabaseError {
            guard let unavailable = LedgerDatabase.unavailable(error, path: pool.path) else { throw error }
            commitTrouble.withLock { $0 = (unavailable, .now) }
            throw unavailable
        }
    }

    /// Why writes fail now, if they do: merges that fail and are being retried, or a commit that the disk refused
    /// in the last ``troubleMemory`` (a commit that succeeds clears it sooner).
    public var unavailability: StoreUnavailableError? {
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
    var backlogBound: Int { backlogLimit + 8 * mergeLimit }

    /// Looks up each item's id and account once (a commit of a thousand postings runs two thousand lookups, hence
    /// ``Statement/bind(_:)`` rather than `StatementArguments`), and each hold a resolution names, with its
    /// resolution and its account.
    private func snapshot(for keys: CommitKeys, in db: Database) throws -> LedgerSnapshot {
        var snapshot = LedgerSnapshot()
        let last = try db.cachedStatement(sql: SQL.lastTransaction)
        last.bind()
        if let (sequence, createdAt) = try last.firstRow(in: db, { ($0.integer(at: 0), $0.integer(at: 1)) }) {
            snapshot.lastSequence = sequence
            snapshot.lastCreatedAt = Timestamp(millisecondsSince1970: createdAt)
        }
        let accountState = try db.cachedStatement(sql: SQL.accountState)
        func readAccount(_ account: AccountID) throws {
            guard snapshot.accounts[account] == nil else { return }
            accountState.bind(.uuid(account.uuid))
            if let state = try accountState.firstRow(in: db, AccountState.init(stateRow:)) {
                snapshot.accounts[account] = state
            }
        }
        // An id is looked up in the backlog, then in the index file, in one read transaction there. A merge takes
        // its entries from the backlog only after it has committed them there, and on this writer's queue, so
        // between commits: the backlog holds still through the snapshot, and the index file's snapshot holds
        // every entry it no longer holds. An id recorded is found in one or the other. (Only this writer adds
        // to the backlog: a lookup that misses both is of an id not recorded.) Each backlog lookup takes the lock
        // alone, so readers never wait for the snapshot's SQL.
        try indexes.read { indexes in
            let transactionByID = try indexes.cachedStatement(sql: SQL.transactionByID)
            func recorded(_ id: TransactionID) throws -> LedgerEntry? {
                if let waiting = backlog.withLock({ $0.entry(id) }) { return waiting }
                transactionByID.bind(.uuid(id.uuid))
                return try transactionByID.firstRow(in: indexes, LedgerEntry.init(row:))
            }
            for id in keys.ids {
                interleaving?.pausing(at: .commitLookingUp)
                if let entry = try recorded(id) { snapshot.recorded[id] = entry }
            }
            for account in keys.accounts { try readAccount(account) }
            if !keys.holds.isEmpty {
                let resolution = try db.cachedStatement(sql: SQL.resolutionOfHold)
                for id in keys.holds where snapshot.holds[id] == nil {
                    guard let entry = try recorded(id), case .hold = entry.transaction.role else { continue }
                    resolution.bind(.uuid(id.uuid))
                    snapshot.holds[id] = Hold(
                        entry: entry, resolution: try resolution.firstRow(in: db, LedgerEntry.init(row:)))
                    try readAccount(entry.transaction.accountID)
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
                    .integer(previous), .integer(change.pendingDebits), .integer(change.pendingCredits))
                _ = try updateAccount.stepToRow(in: db)
                guard db.changesCount == 1 else { throw ConcurrentModificationError(account: change.account) }
            } else {
                insertAccount.bind(
                    .uuid(change.account.uuid), .integer(change.balance), .integer(change.addedTransactions),
                    .integer(plan.createdAt.millisecondsSince1970), .integer(change.pendingDebits),
                    .integer(change.pendingCredits))
                _ = try insertAccount.stepToRow(in: db)
            }
        }
        let insertTransaction = try db.cachedStatement(sql: SQL.insertTransaction)
        let insertExpiringHold = try db.cachedStatement(sql: SQL.insertExpiringHold)
        for entry in plan.created {
            insertTransaction.bind(StatementValue.columns(of: entry))
            _ = try insertTransaction.stepToRow(in: db)
            if let expiresAt = entry.transaction.role.expiresAt {
                insertExpiringHold.bind(.integer(expiresAt.millisecondsSince1970), .uuid(entry.transaction.id.uuid))
                _ = try insertExpiringHold.stepToRow(in: db)
            }
        }
        guard !plan.resolutions.isEmpty else { return }
        let insertResolution = try db.cachedStatement(sql: SQL.insertResolution)
        let deleteExpiringHold = try db.cachedStatement(sql: SQL.deleteExpiringHold)
        for resolution in plan.resolutions {
            // A hold resolved already makes this a primary-key violation: the commit fails whole.
            insertResolution.bind(.uuid(resolution.hold.uuid), .integer(resolution.sequence))
            _ = try insertResolution.stepToRow(in: db)
            if let expiresAt = resolution.expiresAt {
                deleteExpiringHold.bind(.integer(expiresAt.millisecondsSince1970), .uuid(resolution.hold.uuid))
                _ = try deleteExpiringHold.stepToRow(in: db)
            }
        }
    }

    /// Configurations are a write transaction of their own: the accounts as they are, the rules' decisions, the
    /// writes.
    public func configure(
        _ accounts: [AccountID],
        decide: @escaping @Sendable ([AccountID: Account]) -> [Result<ConfigurationPlan, LedgerError>]
    ) async throws -> [Result<ConfigurationPlan, LedgerError>] {
        do {
            return try await pool.write { db in
                let read = try db.cachedStatement(sql: SQL.accountByID)
                var existing: [AccountID: Account] = [:]
                for id in accounts {
                    read.bind(.uuid(id.uuid))
                    existing[id] = try read.firstRow(in: db, Account.init(row:))
                }
                let decisions = decide(existing)
                for case .success(let plan) in decisions {
                    if let settings = plan.settings {
                        try Self.write(settings, of: plan.account, replacing: plan.previous, in: db)
                    }
                }
                return decisions
            }
        } catch let error as DatabaseError {
            guard let unavailable = LedgerDatabase.unavailable(error, path: pool.path) else { throw error }
            throw unavailable
        }
    }

    /// Writes an account's settings: its row (inserted when it is new) and its rows in account_metadata, the
    /// members it no longer has taken out.
    private static func write(
        _ settings: AccountSettings, of account: Account, replacing existing: Account?, in db: Database
    ) throws {
        let rules = settings.rules
        if existing == nil {
            try db.cachedStatement(sql: SQL.insertConfiguredAccount).execute(
                arguments: [
                    account.id.uuid, account.createdAt.millisecondsSince1970, rules.currency, rules.minimumBalance,
                    rules.maximumBalance, settings.metadata.canonicalJSON,
                ])
        } else {
            try db.cachedStatement(sql: SQL.updateSettings).execute(
                arguments: [
                    account.id.uuid, rules.currency, rules.minimumBalance, rules.maximumBalance,
                    settings.metadata.canonicalJSON,
                ])
        }
        let old = Set((existing?.metadata ?? .empty).members)
        let new = Set(settings.metadata.members)
        for member in old.subtracting(new) {
            try db.cachedStatement(sql: SQL.deleteMember).execute(arguments: [
                member.key, member.value, account.id.uuid,
            ])
        }
        for member in new.subtracting(old) {
            try db.cachedStatement(sql: SQL.insertMember).execute(arguments: [
                member.key, member.value, account.id.uuid,
            ])
        }
    }
}

/// The points where one operation of the store may be paused while another runs, so that a test can choose the
/// interleavings of commits, merges and reads one by one, as a seed says, instead of hoping that threads meet
/// (SQLiteStoreSimulationTests). Each point is a gap between two steps that another operation may fall into.
package enum InterleavingPoint: Sendable, CaseIterable {
    /// In a commit's snapshot, before each posting's id is looked up (in the backlog, then in the index file):
    /// the commit holds the ledger's writer, and the index file's read snapshot is taken.
    case commitLookingUp
    /// In a merge, once its entries are committed to the index file and before they leave the backlog.
    case mergeWrittenToIndexFile
    /// In a statement or a balance at an instant, once the account's waiting entries are taken from the backlog
    /// and before the index table is read.
    case readTookBacklog
}

/// What pauses the store's operations at an ``InterleavingPoint``: the simulator runs another operation there.
package protocol Interleaving: Sendable {
    /// At a point inside a database closure (on one of its threads): returns once the other operation has run
    /// as far as it can meanwhile.
    func pausing(at point: InterleavingPoint)
    /// At a point between two awaits.
    func pause(at point: InterleavingPoint) async
}

import AccountLedger
import CoreMetrics
import Foundation
import GRDB
import ServiceLifecycle

/// The store's background work, as a `Service` that the application runs beside the ledger (before it, so that
/// it stops after it): merging the index entries that wait in memory into the index file, and measuring the
/// files. Commits wake it once more than `backlogLimit` entries wait; it merges the oldest entries of the fullest
/// slice, at most `mergeLimit` at a time, until no more than `backlogLimit` wait. Commits go on meanwhile: a
/// commit waits for the merges only once the backlog is beyond its bound (8 merges beyond its limit), which bounds
/// the memory it takes, and is refused instead while merges fail (``commit(_:decide:)``). On graceful shutdown
/// it lets the merge running finish and closes the database.
extension SQLiteLedgerStore: Service {
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.measureFilesWhileRunning() }
            for await _ in wakeUps.cancelOnGracefulShutdown() {
                await mergeWhileNeeded(retrying: true)
            }
            group.cancelAll()
        }
        // When the application fails instead (the group cancels its services, for example when the port is in
        // use), the database closes quietly, so that the failure is the one thing the operator reads.
        let graceful = !Task.isCancelled
        try await close()
        if graceful { logger.notice("Database closed", metadata: ["path": "\(pool.path)"]) }
    }

    /// The state of the merges, under one lock.
    struct Merges {
        /// Whether a merger (the service's loop, or a commit held back by a full backlog) is merging: one at a
        /// time, as two would take the same entries.
        var merging = false
        /// Set once ``close()`` has begun, so that no merge starts.
        var closing = false
        /// While merges fail for a reason that may pass (a full disk, say) and are retried: the last failure.
        var failing: StoreUnavailableError?
        /// Commits waiting for the merger to merge, resumed after each merge and when it stops.
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    /// Holds a commit back while the backlog is beyond its bound: it waits for the merger when one runs, and is
    /// refused while that merger backs off after a failure. When no merger runs (a store whose service is not
    /// running: a tool, a test), the commit merges itself, beyond the bound or to retry merges that failed.
    func keepBacklogBounded() async throws {
        enum Next {
            case refuse(StoreUnavailableError)
            case merge, wait, proceed
        }
        while true {
            if let failure = mergeFailure.withLock({ $0 }) { throw failure }
            let beyond = waitingIndexEntries > backlogBound
            let next = merges.withLock { merges -> Next in
                if merges.closing { return .proceed }
                if merges.merging { return beyond ? merges.failing.map { .refuse($0) } ?? .wait : .proceed }
                return beyond || merges.failing != nil ? .merge : .proceed
            }
            switch next {
            case .proceed: return
            case .refuse(let failing): throw failing
            case .wait: await mergerSettles()
            case .merge:
                wakeUp.yield()
                await mergeWhileNeeded(retrying: false)
                if waitingIndexEntries > backlogBound, let failing = merges.withLock({ $0.failing }) { throw failing }
                if !beyond { return }
            }
        }
    }

    /// Merges the oldest entries of the fullest slice, at most `mergeLimit`, until no more than `backlogLimit`
    /// wait, a merge finds a duplicate, or the store closes; returns at once when another merger runs. A merge that
    /// fails otherwise (a full disk, an I/O error) makes the store unavailable (``unavailability``) until one
    /// succeeds; `retrying`, it is retried after a back-off of 0.1 s doubling to 5 s (cancelling the task stops
    /// that), else this returns.
    func mergeWhileNeeded(retrying: Bool) async {
        guard
            merges.withLock({ merges in
                guard !merges.merging, !merges.closing else { return false }
                merges.merging = true
                return true
            })
        else { return }
        var backOff = Self.firstBackOff
        while let merge = nextMerge() {
            do {
                // In a task of its own, which the caller's cancellation does not reach: a merge cancelled between
                // its commit in the index file and taking its entries out of the backlog would leave them in both,
                // and the next merge would find them duplicates.
                try await Task { try await self.merge(merge) }.value
                backOff = Self.firstBackOff
                if let recovered = settle(failing: nil) {
                    logger.notice("Index merges succeed again", metadata: ["after": "\(recovered.reason)"])
                }
            } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                mergeFailure.withLock { $0 = IndexMergeError(cause: error) }
                logger.critical("Index merge found a duplicate: commits stop", metadata: ["error": "\(error)"])
                settle(failing: nil)
            } catch {
                let unavailable =
                    (error as? DatabaseError).flatMap { LedgerDatabase.unavailable($0, path: indexes.path) }
                    ?? StoreUnavailableError(reason: "moving index entries into their tables failed: \(error)")
                if settle(failing: unavailable) == nil {
                    logger.error("Index merge failed; retrying", metadata: ["error": "\(unavailable.reason)"])
                }
                guard retrying, (try? await Task.sleep(for: backOff)) != nil else { break }
                backOff = min(backOff * 2, Self.lastBackOff)
            }
        }
        let waiters = merges.withLock { merges in
            merges.merging = false
            defer { merges.waiters = [] }
            return merges.waiters
        }
        for waiter in waiters { waiter.resume() }
        backlogGauge.record(waitingIndexEntries)
    }

    /// The next merge, while more than `backlogLimit` entries wait and merges may go on.
    private func nextMerge() -> IndexBacklog.Merge? {
        guard merges.withLock({ !$0.closing }), mergeFailure.withLock({ $0 == nil }) else { return nil }
        return backlog.withLock { $0.count > backlogLimit ? $0.fullestSlice(limit: mergeLimit) : nil }
    }

    private static let firstBackOff = Duration.milliseconds(100)
    private static let lastBackOff = Duration.seconds(5)

    /// Records the outcome of a merge (`failing` nil: it succeeded, or merges stopped) and wakes the commits
    /// waiting for one; returns the failure it replaces.
    @discardableResult
    private func settle(failing: StoreUnavailableError?) -> StoreUnavailableError? {
        let (previous, waiters) = merges.withLock { merges in
            defer {
                merges.failing = failing
                merges.waiters = []
            }
            return (merges.failing, merges.waiters)
        }
        for waiter in waiters { waiter.resume() }
        backlogGauge.record(waitingIndexEntries)
        return previous
    }

    /// Merges until no more than `backlogLimit` entries wait, or a merge fails, and returns once no merger runs.
    func mergesFinished() async {
        await mergeWhileNeeded(retrying: false)
        while merges.withLock({ $0.merging }) { await mergerSettles() }
    }

    /// Returns after the merger's next merge, or at once when no merger runs.
    private func mergerSettles() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let waits = merges.withLock { merges in
                guard merges.merging else { return false }
                merges.waiters.append(continuation)
                return true
            }
            if !waits { continuation.resume() }
        }
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
                        insert.bind(StatementValue.columns(of: entry))
                        _ = try insert.stepToRow(in: db)
                    }
                }
                try db.cachedStatement(sql: SQL.updateIndexProgress).execute(
                    arguments: [merge.index.rawValue, merge.slice, merge.through])
                return .commit
            }
        }
        await interleaving?.pause(at: .mergeWrittenToIndexFile)
        // On the ledger writer's queue, between two commits: see snapshot(for:in:).
        try await pool.writeWithoutTransaction { _ in self.backlog.withLock { $0.merged(merge) } }
    }

    /// The sizes of the ledger's file, its index file and their logs (`ledger_database_size_bytes`), once a
    /// second while the service runs, for a scrape to report.
    private func measureFilesWhileRunning() async {
        repeat {
            measureFiles()
        } while (try? await Task.sleep(for: .seconds(1))) != nil
    }

    func measureFiles() {
        for (gauge, path) in fileGauges {
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? Int
            gauge.record(size ?? 0)
        }
    }

    /// One gauge per file, labelled `database`, `wal`, `index`, `index_wal`.
    static func fileGauges(of path: String, factory: any MetricsFactory) -> [(Gauge, String)] {
        let index = IndexFile.path(of: path)
        return [("database", path), ("wal", path + "-wal"), ("index", index), ("index_wal", index + "-wal")].map {
            file, path in
            (Gauge(label: "ledger_database_size_bytes", dimensions: [("file", file)], factory: factory), path)
        }
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

import ServiceLifecycle

/// The ledger: transactions are posted idempotently by id, balances stay exact, and accounts are created by
/// their first accepted transaction. It knows nothing of HTTP or SQL.
///
/// Writes go one way: ``post(_:)`` queues a posting, and the ledger's writer loop (``run()``; the application
/// runs the ledger as a `Service`) commits everything queued in one write transaction, decided by the rules
/// in ``plan(_:on:)``. Postings that arrive while a commit is under way share the next one, so concurrent
/// postings share one fsync; a lone posting commits at once, with no timer. Reads go straight to the store.
public final class Ledger: Service, Sendable {
    /// A bound on one write transaction, so that one commit never holds a very large batch.
    static let maximumCommitSize = 1024

    /// The longest a change-feed request may wait for a commit.
    public static let maximumWait = Duration.seconds(30)

    let store: any LedgerStore
    let queue = CommitQueue()
    let notifier = CommitNotifier()
    /// The commit time source; a commit is never stamped earlier than the one before it, whatever this says.
    let clock: @Sendable () -> Timestamp

    public init(store: any LedgerStore, clock: @escaping @Sendable () -> Timestamp = Timestamp.now) {
        self.store = store
        self.clock = clock
    }

    /// Posts a transaction once: a repeat with the same id, account and amount replays the recorded one.
    /// It returns once the commit that holds the transaction is durable.
    /// - Throws: ``LedgerError/idempotencyConflict(requested:recorded:)`` when the id is recorded with another
    ///   account or amount, ``LedgerError/balanceOutOfRange(_:)`` when the balance would leave 64 bits,
    ///   ``LedgerError/unavailable`` once the ledger is shutting down, or the store's error when the commit
    ///   failed (then nothing of it was written).
    public func post(_ transaction: Transaction) async throws -> PostingOutcome {
        try await withCheckedThrowingContinuation { continuation in
            queue.enqueue(transaction, continuation)
        }.get()
    }

    public func transaction(_ id: TransactionID) async throws -> LedgerEntry {
        guard let entry = try await store.transaction(id) else { throw LedgerError.transactionNotFound(id) }
        return entry
    }

    public func balance(of account: AccountID) async throws -> Int64 {
        guard let balance = try await store.balance(of: account) else { throw LedgerError.accountNotFound(account) }
        return balance
    }

    /// The balance right after the account's last transaction committed at or before `instant`.
    /// - Throws: ``LedgerError/accountNotFound(_:)`` when the account had no transaction by then.
    public func balance(of account: AccountID, at instant: Timestamp) async throws -> Int64 {
        guard let balance = try await store.balance(of: account, at: instant) else {
            throw LedgerError.accountNotFound(account)
        }
        return balance
    }

    /// One page of the account's statement: its transactions with a sequence below `before` (from the newest
    /// when nil), newest first, at most `limit`.
    /// - Throws: ``LedgerError/accountNotFound(_:)`` for an account without transactions.
    public func statement(of account: AccountID, before: Int64?, limit: Int) async throws -> [LedgerEntry] {
        let page = try await store.statement(of: account, before: before, limit: limit)
        if page.isEmpty, try await store.balance(of: account) == nil { throw LedgerError.accountNotFound(account) }
        return page
    }

    /// The change feed: every transaction with a sequence above `after`, in sequence order, at most `limit`.
    /// When there is none, it waits up to `wait` for a commit that records one, woken by the commit itself.
    public func transactions(after: Int64, limit: Int, wait: Duration = .zero) async throws -> [LedgerEntry] {
        let deadline = ContinuousClock.now + min(wait, Self.maximumWait)
        while true {
            // The generation is noted before the read, so a commit that lands between the read and the wait
            // still wakes it.
            let generation = notifier.generation
            let entries = try await store.transactions(after: after, limit: limit)
            guard entries.isEmpty, ContinuousClock.now < deadline else { return entries }
            guard await notifier.wait(beyond: generation, until: deadline) else { return [] }
        }
    }

    public func transactionVolume() async throws -> TransactionVolume {
        try await store.transactionVolume()
    }

    /// The writer loop: commits what is queued until graceful shutdown; then it refuses new postings, commits
    /// what was accepted before, and returns.
    public func run() async {
        for await _ in queue.wakeUps.cancelOnGracefulShutdown() {
            await commitQueued()
        }
        queue.stop()
        await commitQueued()
    }

    private func commitQueued() async {
        while case let batch = queue.take(upTo: Self.maximumCommitSize), !batch.isEmpty {
            do {
                let plan = try await Self.commit(batch.map(\.transaction), to: store, clock: clock)
                if !plan.created.isEmpty { notifier.committed() }
                for (waiting, outcome) in zip(batch, plan.outcomes) { waiting.continuation.resume(returning: outcome) }
            } catch {
                for waiting in batch { waiting.continuation.resume(throwing: error) }
            }
        }
    }

    /// Commits `postings` to `store` in one write transaction, decided by the rules, stamped by `clock`.
    static func commit(
        _ postings: [Transaction], to store: any LedgerStore, clock: @escaping @Sendable () -> Timestamp = Timestamp.now
    ) async throws -> CommitPlan {
        try await store.commit(postings) { snapshot in plan(postings, on: snapshot, now: clock()) }
    }

    /// The rules, applied to postings in order on what the store holds: a known id with the same account and
    /// amount is a replay, with anything else a conflict; an amount that would take its account's balance out
    /// of 64 bits is refused. A refused posting changes nothing, so it does not disturb the others, and a
    /// posting sees the ones before it (the same id twice is a replay the second time).
    ///
    /// Created transactions take the sequences after the snapshot's last, in posting order, and one commit time:
    /// `now`, or the last commit's time if the clock says earlier, so time never runs backwards along sequence.
    static func plan(_ postings: [Transaction], on snapshot: LedgerSnapshot, now: Timestamp) -> CommitPlan {
        var plan = CommitPlan()
        plan.outcomes.reserveCapacity(postings.count)
        let createdAt = max(now, snapshot.lastCreatedAt ?? now)
        var sequence = snapshot.lastSequence
        var recorded = snapshot.recorded
        var balances = snapshot.balances
        var added: [AccountID: Int64] = [:]
        var touched: [AccountID] = []
        for posting in postings {
            if let existing = recorded[posting.id] {
                plan.outcomes.append(
                    existing.transaction == posting
                        ? .success(.replayed(existing))
                        : .failure(.idempotencyConflict(requested: posting, recorded: existing.transaction)))
                continue
            }
            let (balance, overflow) = (balances[posting.accountID] ?? 0).addingReportingOverflow(posting.amount)
            guard !overflow else {
                plan.outcomes.append(.failure(.balanceOutOfRange(posting)))
                continue
            }
            sequence += 1
            let entry = LedgerEntry(
                transaction: posting, sequence: sequence, createdAt: createdAt, balanceAfter: balance)
            balances[posting.accountID] = balance
            recorded[posting.id] = entry
            if added[posting.accountID, default: 0] == 0 { touched.append(posting.accountID) }
            added[posting.accountID, default: 0] += 1
            plan.created.append(entry)
            plan.outcomes.append(.success(.created(entry)))
        }
        plan.accounts = touched.map { account in
            AccountChange(
                account: account, previousBalance: snapshot.balances[account], balance: balances[account]!,
                addedTransactions: added[account]!)
        }
        return plan
    }
}

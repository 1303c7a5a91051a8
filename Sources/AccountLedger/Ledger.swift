import CoreMetrics
import ServiceLifecycle
import Synchronization

/// The ledger: transactions are posted idempotently by id, balances stay exact, and accounts are created by
/// their first accepted transaction. It knows nothing of HTTP or SQL.
///
/// Writes go one way: ``post(_:)`` queues a posting, and the ledger's writer loop (``run()``; the application
/// runs the ledger as a `Service`) commits everything queued in one write transaction, decided by the rules
/// in ``plan(_:on:)``. Postings that arrive while a commit is under way share the next one, so concurrent
/// postings share one fsync; a lone posting commits at once, with no timer. Reads go straight to the store.
public final class Ledger: Service, Sendable {
    /// A bound on the postings of one write transaction, so that one commit never grows very large; a batch
    /// larger than this still commits whole, alone. Larger commits share more index pages and fsyncs
    /// (docs/performance.md, "Why the code is shaped so").
    static let maximumCommitSize = 4096
    /// The bound while single postings and other small batches arrive beside large ones, so that they never wait
    /// behind a long commit (see ``CommitQueue``).
    static let maximumSharedCommitSize = 1024

    /// The longest a change-feed request may wait for a commit.
    public static let maximumWait = Duration.seconds(30)

    let store: any LedgerStore
    /// The store's ``LedgerStore/deadline``, read once.
    let deadline: Duration?
    let queue = CommitQueue()
    let notifier: CommitNotifier
    /// The commit time source; a commit is never stamped earlier than the one before it, whatever this says.
    let clock: @Sendable () -> Timestamp
    let metrics: LedgerMetrics
    /// Counts the commits this ledger made or heard of (``answersVersion``).
    private let commits = Atomic<UInt64>(0)

    /// - Parameters:
    ///   - metrics: where the writer loop's measurements go (commits, their duration and size, postings by
    ///     outcome); nowhere by default.
    ///   - maximumWaitingReads: how many change-feed reads may wait for a commit at once; beyond that a read with
    ///     `wait` is answered at once, as without it.
    public init(
        store: any LedgerStore, clock: @escaping @Sendable () -> Timestamp = Timestamp.now,
        metrics: any MetricsFactory = NOOPMetricsHandler.instance, maximumWaitingReads: Int = .max
    ) {
        self.store = store
        self.deadline = store.deadline
        self.clock = clock
        self.metrics = LedgerMetrics(factory: metrics)
        self.notifier = CommitNotifier(maximumWaiters: maximumWaitingReads)
    }

    /// Posts a transaction once: a repeat with the same id, account and amount replays the recorded one.
    /// It returns once the commit that holds the transaction is durable.
    /// - Throws: ``LedgerError/idempotencyConflict(requested:recorded:)`` when the id is recorded with another
    ///   account or amount, ``LedgerError/balanceOutOfRange(_:)`` when the balance would leave 64 bits,
    ///   ``LedgerError/unavailable`` once the ledger is shutting down, or the store's error when the commit
    ///   failed (then nothing of it was written).
    /// With `currency`, the account must hold that currency (else ``LedgerError/currencyMismatch(_:requested:account:)``).
    public func post(_ transaction: Transaction, currency: String? = nil) async throws -> PostingOutcome {
        do {
            return try await post(Batch([transaction], currencies: currency.map { [0: $0] } ?? [:]))[0]
        } catch LedgerError.batchRefused(let refused) {
            throw refused[0].reason
        }
    }

    /// Posts a batch: its postings are applied in order, all or nothing, in one commit, each idempotent by its
    /// own id as ``post(_:)-(Transaction)`` is. It returns their outcomes, in order, once the commit is durable.
    /// - Throws: ``LedgerError/unbalanced(sum:currency:)`` for a balanced batch whose amounts do not sum to zero
    ///   in a currency,
    ///   ``LedgerError/batchRefused(_:)`` listing every posting the rules refused, or what ``post(_:)`` throws
    ///   otherwise. Nothing of the batch was written when it throws.
    public func post(_ batch: Batch) async throws -> [PostingOutcome] {
        try await answered { [queue] (reply: @escaping Reply<[PostingOutcome]>) in queue.enqueue(batch, reply) }
    }

    /// Posts batches that are decided each on its own (all or nothing each, a refused one disturbing no other)
    /// in one commit, and answers with each one's outcome or refusal. The hold expiry's voids go this way: one
    /// wait for hundreds of one-item batches, and one large batch's place in the queue, so that single postings
    /// never wait behind more than one commit of them.
    public func post(each batches: [Batch]) async throws -> [Result<[PostingOutcome], LedgerError>] {
        try await answered { [queue] (reply: @escaping Reply<[Result<[PostingOutcome], LedgerError>]>) in
            queue.enqueue(each: batches, reply)
        }
    }

    /// `operation`'s result, or ``StoreUnavailableError`` once the store's ``LedgerStore/deadline`` has passed, so
    /// that a request waiting behind others (a commit queued behind one that times out) still gets its answer
    /// within the deadline. A posting answered so may still commit: a retry with its id settles it.
    private func answered<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        guard let deadline else { return try await operation() }
        return try await Deadline.within(deadline, else: late(deadline), operation)
    }

    /// Bounds the wait for an outcome that `start` hands on to be delivered later (a queued posting's, which the
    /// writer loop delivers), as ``answered(_:)`` bounds an operation. The writer's reply resumes the caller
    /// directly, with no task in between: a task and a timer per posting were about an eighth of the service's
    /// CPU per transfer on PostgreSQL (docs/performance.md, "Why the code is shaped so").
    private func answered<T: Sendable>(_ start: (_ reply: @escaping Reply<T>) -> Void) async throws -> T {
        guard let deadline else {
            return try await withCheckedThrowingContinuation { continuation in
                start { continuation.resume(with: $0) }
            }
        }
        return try await Deadline.within(deadline, else: late(deadline), answering: start)
    }

    private func late(_ deadline: Duration) -> StoreUnavailableError {
        StoreUnavailableError(reason: "the database did not answer within \(deadline)")
    }

    public func transaction(_ id: TransactionID) async throws -> LedgerEntry {
        guard let entry = try await answered({ [store] in try await store.transaction(id) }) else {
            throw LedgerError.transactionNotFound(id)
        }
        return entry
    }

    /// Where the hold `entry` records stands now (an open hold past its expiry is expired); nil when it is not a
    /// hold.
    public func holdState(of entry: LedgerEntry) async throws -> HoldState? {
        guard case .hold = entry.transaction.role else { return nil }
        let resolution = try await answered { [store] in try await store.resolution(of: entry.transaction.id) }
        return Hold(entry: entry, resolution: resolution).state(at: clock())
    }

    public func balance(of account: AccountID) async throws -> Int64 {
        guard let balance = try await answered({ [store] in try await store.balance(of: account) }) else {
            throw LedgerError.accountNotFound(account)
        }
        return balance
    }

    /// The balance right after the account's last transaction committed at or before `instant`.
    /// - Throws: ``LedgerError/noTransactionBy(_:_:)`` when the account had no transaction by then.
    public func balance(of account: AccountID, at instant: Timestamp) async throws -> Int64 {
        guard let balance = try await answered({ [store] in try await store.balance(of: account, at: instant) }) else {
            throw LedgerError.noTransactionBy(account, instant)
        }
        return balance
    }

    /// One page of the account's statement: its transactions with a sequence below `before` (from the newest
    /// when nil), newest first, at most `limit`.
    /// - Throws: ``LedgerError/accountNotFound(_:)`` for an account that does not exist.
    public func statement(of account: AccountID, before: Int64?, limit: Int) async throws -> [LedgerEntry] {
        try await answered { [store] in
            let page = try await store.statement(of: account, before: before, limit: limit)
            if page.isEmpty, try await store.balance(of: account) == nil { throw LedgerError.accountNotFound(account) }
            return page
        }
    }

    /// The change feed: every transaction with a sequence above `after`, in sequence order, at most `limit`.
    /// When there is none, it waits up to `wait` for a commit that records one, woken by that commit itself
    /// (commits below `after` wake it not), or until the task is cancelled (the client went away). When
    /// `maximumWaitingReads` reads wait already, it answers at once.
    public func transactions(after: Int64, limit: Int, wait: Duration = .zero) async throws -> [LedgerEntry] {
        let deadline = ContinuousClock.now + min(wait, Self.maximumWait)
        while true {
            // Noted before the read, so a commit that lands between the read and the wait still wakes it.
            let mark = notifier.mark
            let entries = try await answered { [store] in try await store.transactions(after: after, limit: limit) }
            guard entries.isEmpty, ContinuousClock.now < deadline else { return entries }
            guard await notifier.wait(after: after, since: mark, until: deadline) else { return [] }
        }
    }

    /// How many change-feed reads wait for a commit now.
    public var waitingReads: Int { notifier.waiting }

    /// Whether the ledger accepts postings and its store answers a read (an index probe that finds nothing): nil
    /// when it does; otherwise why not (shutting down, the database fails, or the store cannot take writes).
    public func unreadiness() async -> String? {
        guard !queue.isStopped else { return "the service is shutting down" }
        if let unavailable = store.unavailability {
            // In words for anyone who may probe (probes need no key): no path, no database message.
            return unavailable.isDiskFull ? "the database's disk is full" : "the database refuses writes"
        }
        do {
            try await store.probe()
            return nil
        } catch {
            return "the database does not answer"
        }
    }

    /// Another writer of the same database (another instance) committed, through `sequence` when known: wakes
    /// the waiting feed readers it can answer (every one when the sequence is unknown).
    public func commitLandedElsewhere(through sequence: Int64?) {
        commits.add(1, ordering: .releasing)
        notifier.committed(through: sequence)
    }

    /// A number that changes whenever a commit may have changed what the store answers, when the store can vouch
    /// for that (``LedgerStore/isSoleWriter``); nil when it cannot. An answer read after noting it stays true
    /// while it is unchanged, so a caller may keep an answer (encoded, say) until it changes.
    public var answersVersion: UInt64? {
        store.isSoleWriter ? commits.load(ordering: .acquiring) : nil
    }

    public func transactionVolume() async throws -> TransactionVolume {
        try await answered { [store] in try await store.transactionVolume() }
    }

    /// Opens the account with `settings`, or sets them whole on the account that exists. The writer loop writes
    /// it, with every other configuration waiting, in a write transaction of its own (serialized with the
    /// postings' commits by the store): every commit after it applies the new limits. Repeating it changes
    /// nothing. It returns what it did and the account as it left it.
    /// - Throws: ``LedgerError/currencyFixed(_:currency:requested:)`` when the currency would change on an
    ///   account that has transactions, or what ``post(_:currency:)`` throws for an unavailable store.
    public func configure(_ account: AccountID, as settings: AccountSettings) async throws -> ConfigurationPlan {
        try await answered { [queue] (reply: @escaping Reply<ConfigurationPlan>) in
            queue.enqueue(CommitQueue.WaitingConfiguration(account: account, settings: settings, reply: reply))
        }
    }

    /// The account's document.
    /// - Throws: ``LedgerError/accountNotFound(_:)`` for an account that does not exist.
    public func account(_ id: AccountID) async throws -> Account {
        guard let account = try await answered({ [store] in try await store.account(id) }) else {
            throw LedgerError.accountNotFound(id)
        }
        return account
    }

    /// Accounts in id order after `after`, at most `limit`, only those whose metadata holds `filter` when given.
    public func accounts(after: AccountID?, limit: Int, filter: MetadataFilter?) async throws -> [Account] {
        try await answered { [store] in try await store.accounts(after: after, limit: limit, filter: filter) }
    }

    /// The rule for accounts' settings, applied in order (an account configured twice sees the first): a
    /// currency is fixed once the account has a transaction; anything else may change at any time (a limit never
    /// changes a balance, and a limit tightened below the balance only refuses postings that move away from the
    /// range). Settings equal to the account's write nothing.
    static func configurations(
        _ requests: [(account: AccountID, settings: AccountSettings)], on existing: [AccountID: Account],
        now: Timestamp
    ) -> [Result<ConfigurationPlan, LedgerError>] {
        var accounts = existing
        return requests.map { id, settings in
            let decision = configuration(of: id, as: settings, on: accounts[id], now: now)
            if case .success(let plan) = decision { accounts[id] = plan.account }
            return decision
        }
    }

    /// The rule for one account's settings (``configurations(_:on:now:)``).
    static func configuration(
        of id: AccountID, as settings: AccountSettings, on existing: Account?, now: Timestamp
    ) -> Result<ConfigurationPlan, LedgerError> {
        guard let existing else {
            let state = AccountState(balance: 0, rules: settings.rules)
            return .success(
                ConfigurationPlan(
                    outcome: .opened, settings: settings, previous: nil,
                    account: Account(id: id, state: state, metadata: settings.metadata, createdAt: now)))
        }
        let current = existing.state.rules
        if current.currency != settings.rules.currency,
            existing.transactionCount > 0 || existing.state.pendingDebits != 0 || existing.state.pendingCredits != 0
        {
            return .failure(.currencyFixed(id, currency: current.currency, requested: settings.rules.currency))
        }
        guard current != settings.rules || existing.metadata != settings.metadata else {
            return .success(
                ConfigurationPlan(outcome: .configured, settings: nil, previous: existing, account: existing))
        }
        var state = existing.state
        state.rules = settings.rules
        return .success(
            ConfigurationPlan(
                outcome: .configured, settings: settings, previous: existing,
                account: Account(id: id, state: state, metadata: settings.metadata, createdAt: existing.createdAt)))
    }

    /// The writer loop: commits what is queued until graceful shutdown; then it refuses new postings, commits
    /// what was accepted before, and returns.
    ///
    /// The loop runs at high priority: every commit answers many requests at once, so it should not wait behind
    /// their handlers for a thread each time it resumes (docs/performance.md, "Why the code is shaped so").
    public func run() async {
        let writer = Task(priority: .high) {
            for await _ in queue.wakeUps.cancelOnGracefulShutdown() {
                await commitQueued()
            }
            queue.stop()
            await commitQueued()
        }
        await withTaskCancellationHandler {
            await writer.value
        } onCancel: {
            writer.cancel()
        }
    }

    /// Configurations and postings take turns: each turn writes the configurations waiting (if any), then one
    /// commit of postings, so that neither a stream of postings nor a burst of PUTs keeps the other waiting.
    private func commitQueued() async {
        while true {
            let configured = await configureQueued()
            let taken = queue.take(
                upToPostings: Self.maximumCommitSize, whileSmallArrive: Self.maximumSharedCommitSize)
            guard !taken.isEmpty else {
                // A configuration queued since yielded a wake-up, which brings the loop back for it.
                if configured { continue }
                return
            }
            do {
                let started = ContinuousClock.now
                let plan = try await Self.commit(taken.flatMap(\.batches), to: store, clock: clock)
                // Visible now, and not yet answered: whoever hears of this commit sees the new version.
                commits.add(1, ordering: .releasing)
                if let last = plan.created.last { notifier.committed(through: last.sequence) }
                metrics.committed(
                    plan, postings: taken.reduce(0) { $0 + $1.size },
                    duration: ContinuousClock.now - started)
                var next = plan.outcomes.startIndex
                for waiting in taken {
                    waiting.resume(with: plan.outcomes[next..<next + waiting.batches.count])
                    next += waiting.batches.count
                }
            } catch {
                commits.add(1, ordering: .releasing)  // a store may not know whether a failed commit landed
                metrics.failedCommits.increment()
                for waiting in taken { waiting.resume(throwing: error) }
            }
        }
    }

    /// Writes the configurations waiting, up to ``maximumCommitSize`` of them, in one write transaction; whether
    /// there were any.
    private func configureQueued() async -> Bool {
        let taken = queue.takeConfigurations(upTo: Self.maximumCommitSize)
        guard !taken.isEmpty else { return false }
        do {
            let decisions = try await Self.configure(
                taken.map { ($0.account, $0.settings) }, in: store, clock: clock)
            commits.add(1, ordering: .releasing)
            for (waiting, decision) in zip(taken, decisions) { waiting.reply(decision.mapError { $0 }) }
        } catch {
            commits.add(1, ordering: .releasing)
            metrics.failedCommits.increment()
            for waiting in taken { waiting.reply(.failure(error)) }
        }
        return true
    }

    /// Writes `requests` to `store` in one write transaction, decided by the rules, stamped by `clock`.
    static func configure(
        _ requests: [(account: AccountID, settings: AccountSettings)], in store: any LedgerStore,
        clock: @escaping @Sendable () -> Timestamp = Timestamp.now
    ) async throws -> [Result<ConfigurationPlan, LedgerError>] {
        try await store.configure(Array(Set(requests.map(\.account)))) { existing in
            configurations(requests, on: existing, now: clock())
        }
    }

    /// Commits `batches` to `store` in one write transaction, decided by the rules, stamped by `clock`.
    static func commit(
        _ batches: [Batch], to store: any LedgerStore, clock: @escaping @Sendable () -> Timestamp = Timestamp.now
    ) async throws -> CommitPlan {
        try await store.commit(CommitKeys(batches)) { snapshot in plan(batches, on: snapshot, now: clock()) }
    }

    /// The rules, applied to batches in order, and to each batch's items in order, on what the store holds
    /// (``CommitPlanner``): a known id with the same item is a replay, with anything else a conflict; an amount
    /// that would take its account's balance (or pending sum) out of 64 bits is refused, and so is one that breaks
    /// its account's limits (``limitRefusal(of:on:)``); a resolution must find its hold open and unexpired. An
    /// item sees the ones before it (the same id twice is a replay the second time). A batch with a refused item
    /// is refused whole: what its other items did is undone, so it changes nothing and does not disturb the
    /// batches around it; its refusal lists every refused item.
    ///
    /// Created transactions take the sequences after the snapshot's last, in order (a batch's are consecutive),
    /// and one commit time: `now`, or the last commit's time if the clock says earlier, so time never runs
    /// backwards along sequence.
    static func plan(_ batches: [Batch], on snapshot: LedgerSnapshot, now: Timestamp) -> CommitPlan {
        var plan = CommitPlan()
        plan.outcomes.reserveCapacity(batches.count)
        let createdAt = max(now, snapshot.lastCreatedAt ?? now)
        plan.createdAt = createdAt
        var planner = CommitPlanner(snapshot: snapshot, createdAt: createdAt)
        for batch in batches { planner.apply(batch, to: &plan) }
        plan.accounts = planner.accountChanges(of: plan.created)
        return plan
    }

    /// The limit `posting` breaks on an account in `state` (before it), if any. A posting that lowers the balance
    /// is checked against the minimum with the account's pending debits counted (funds that holds reserve are not
    /// available), one that raises it against the maximum with its pending credits counted; a posting that moves
    /// the balance toward its allowed range is never refused, so a limit tightened below a balance never traps it.
    static func limitRefusal(of posting: Transaction, on state: AccountState) -> LedgerError? {
        let after = Int128(state.balance) + Int128(posting.amount)
        if posting.amount < 0, let minimum = state.rules.minimumBalance,
            case let available = after + Int128(state.pendingDebits), available < Int128(minimum)
        {
            return .insufficientFunds(posting, minimum: minimum, resulting: available)
        }
        if posting.amount > 0, let maximum = state.rules.maximumBalance,
            case let reserved = after + Int128(state.pendingCredits), reserved > Int128(maximum)
        {
            return .limitExceeded(posting, maximum: maximum, resulting: reserved)
        }
        return nil
    }
}

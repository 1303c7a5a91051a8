/// The rules applied to one commit's batches, in order, on what the store holds (``Ledger/plan(_:on:now:)``): the
/// working state (what the snapshot holds, changed by the batches decided so far) and the rule for each item.
struct CommitPlanner {
    let createdAt: Timestamp
    let snapshot: LedgerSnapshot
    private var sequence: Int64
    private var recorded: [TransactionID: LedgerEntry]
    private var accounts: [AccountID: AccountState]
    private var holds: [TransactionID: Hold]

    /// What a created item replaced, to undo its batch if the batch is refused. (Small: a batch of postings
    /// makes one per item; the holds an item made or resolved are kept apart, in ``HoldUndo``.)
    private struct Undo {
        let id: TransactionID
        let account: AccountID
        let state: AccountState?
    }

    /// A hold that an item of the batch created or resolved, and the hold as it was (nil: it did not exist).
    private struct HoldUndo {
        let id: TransactionID
        let previous: Hold?
    }

    init(snapshot: LedgerSnapshot, createdAt: Timestamp) {
        self.snapshot = snapshot
        self.createdAt = createdAt
        sequence = snapshot.lastSequence
        recorded = snapshot.recorded
        accounts = snapshot.accounts
        holds = snapshot.holds
    }

    /// Decides a batch: every item in order, each seeing the ones before it; a batch with a refused item is
    /// refused whole (what its other items did is undone) and lists every refused item.
    mutating func apply(_ batch: Batch, to plan: inout CommitPlan) {
        if batch.balanced, let (currency, sum) = unbalancedCurrency(of: batch) {
            plan.outcomes.append(.failure(.unbalanced(sum: sum, currency: currency)))
            return
        }
        var outcomes: [PostingOutcome] = []
        outcomes.reserveCapacity(batch.items.count)
        var refused: [RefusedPosting] = []
        var undo: [Undo] = []
        undo.reserveCapacity(batch.items.count)
        var holdUndo: [HoldUndo] = []
        for (index, item) in batch.items.enumerated() {
            let decision =
                switch item {
                case .posting(let posting): decide(posting, at: index, of: batch, undo: &undo, holdUndo: &holdUndo)
                case .resolution(let resolution):
                    decide(resolution, at: index, of: batch, undo: &undo, holdUndo: &holdUndo)
                }
            switch decision {
            case .success(let outcome): outcomes.append(outcome)
            case .failure(let reason): refused.append(RefusedPosting(index: index, id: item.id, reason: reason))
            }
        }
        guard refused.isEmpty else {
            for change in undo.reversed() {
                recorded[change.id] = nil
                accounts[change.account] = change.state
            }
            for change in holdUndo.reversed() { holds[change.id] = change.previous }
            sequence -= Int64(undo.count)
            plan.outcomes.append(.failure(.batchRefused(refused)))
            return
        }
        for case .created(let entry) in outcomes {
            plan.created.append(entry)
            if let hold = entry.transaction.role.hold {
                plan.resolutions.append(
                    HoldResolution(hold: hold, expiresAt: holds[hold]?.expiresAt, sequence: entry.sequence))
            }
        }
        plan.outcomes.append(.success(outcomes))
    }

    /// The new state of every account of `created` (the transactions of the batches accepted), in the order of
    /// first touch; an account whose state is back as it was (a hold and its void) is written all the same.
    func accountChanges(of created: [LedgerEntry]) -> [AccountChange] {
        var seen: Set<AccountID> = []
        return created.compactMap { entry in
            let id = entry.transaction.accountID
            guard seen.insert(id).inserted, let state = accounts[id] else { return nil }
            let previous = snapshot.accounts[id]
            return AccountChange(
                account: id, previousBalance: previous?.balance, balance: state.balance,
                addedTransactions: state.transactionCount - (previous?.transactionCount ?? 0),
                pendingDebits: state.pendingDebits, pendingCredits: state.pendingCredits)
        }
    }

    /// An ordinary posting, or a hold in a pending batch: a known id with the same account, amount, metadata and
    /// kind (a hold's timeout too) is a replay, with anything else a conflict; an amount that would take its
    /// account's balance (a hold: its pending sum) out of 64 bits is refused, and so is one that breaks its
    /// account's limits (``Ledger/limitRefusal(of:on:)``, which counts the pending sums).
    private mutating func decide(
        _ posting: Transaction, at index: Int, of batch: Batch, undo: inout [Undo], holdUndo: inout [HoldUndo]
    ) -> Result<PostingOutcome, LedgerError> {
        let requested = batch.pending ? hold(posting, timeout: batch.timeout, from: createdAt) : posting
        if let refusal = currencyRefusal(of: requested, at: index, of: batch) { return .failure(refusal) }
        if let existing = recorded[posting.id] {
            let comparable =
                batch.pending ? hold(posting, timeout: batch.timeout, from: existing.createdAt) : posting
            return existing.transaction == comparable
                ? .success(.replayed(existing))
                : .failure(.idempotencyConflict(requested: requested, recorded: existing.transaction))
        }
        let previous = accounts[posting.accountID]
        var state = previous ?? AccountState(balance: 0)
        if batch.pending {
            let (sum, overflow) =
                posting.amount < 0
                ? state.pendingDebits.addingReportingOverflow(posting.amount)
                : state.pendingCredits.addingReportingOverflow(posting.amount)
            guard !overflow else { return .failure(.balanceOutOfRange(requested)) }
            if let limit = Ledger.limitRefusal(of: requested, on: state) { return .failure(limit) }
            if posting.amount < 0 { state.pendingDebits = sum } else { state.pendingCredits = sum }
            let entry = create(requested, state: state, previous: previous, undo: &undo)
            holdUndo.append(HoldUndo(id: posting.id, previous: nil))
            holds[posting.id] = Hold(entry: entry, resolution: nil)
            return .success(.created(entry))
        }
        let (balance, overflow) = state.balance.addingReportingOverflow(posting.amount)
        guard !overflow else { return .failure(.balanceOutOfRange(posting)) }
        if let limit = Ledger.limitRefusal(of: posting, on: state) { return .failure(limit) }
        state.balance = balance
        state.transactionCount += 1
        return .success(.created(create(posting, state: state, previous: previous, undo: &undo)))
    }

    /// A post or a void: the hold must be recorded, open, and not expired (the ledger's expiry must find it
    /// expired); a post's amount has the held amount's sign and at most its magnitude. The record is made on the
    /// hold's account: a post changes the balance by its amount and counts, a void changes nothing; both release
    /// the whole hold. The same resolution again (same id, hold, action, amount and metadata) is a replay.
    private mutating func decide(
        _ resolution: Resolution, at index: Int, of batch: Batch, undo: inout [Undo], holdUndo: inout [HoldUndo]
    ) -> Result<PostingOutcome, LedgerError> {
        guard let hold = holds[resolution.hold] else { return .failure(.unknownHold(resolution.hold)) }
        let held = hold.entry.transaction
        let (amount, role): (Int64, Transaction.Role) =
            switch resolution.action {
            case .post(let amount): (amount ?? held.amount, .post(hold: resolution.hold))
            case .void: (held.amount, .void(hold: resolution.hold, expired: false))
            case .expire: (held.amount, .void(hold: resolution.hold, expired: true))
            }
        let requested = Transaction(
            id: resolution.id, accountID: held.accountID, amount: amount, metadata: resolution.metadata, role: role)
        if let refusal = currencyRefusal(of: requested, at: index, of: batch) { return .failure(refusal) }
        if let existing = recorded[resolution.id] {
            return existing.transaction == requested
                ? .success(.replayed(existing))
                : .failure(.idempotencyConflict(requested: requested, recorded: existing.transaction))
        }
        if let resolved = hold.resolution {
            if case .void(_, expired: true) = resolved.transaction.role, let expiresAt = hold.expiresAt {
                return .failure(.holdExpired(resolution.hold, expiresAt: expiresAt))
            }
            return .failure(.holdResolved(resolution.hold, resolution: resolved.transaction))
        }
        let expired = hold.expiresAt.map { createdAt >= $0 } ?? false
        if resolution.action == .expire, !expired {
            return .failure(.holdNotExpired(resolution.hold, expiresAt: hold.expiresAt))
        }
        if resolution.action != .expire, expired, let expiresAt = hold.expiresAt {
            return .failure(.holdExpired(resolution.hold, expiresAt: expiresAt))
        }
        if case .post = resolution.action {
            let valid =
                held.amount == 0
                ? amount == 0
                : amount != 0 && (amount < 0) == (held.amount < 0) && amount.magnitude <= held.amount.magnitude
            guard valid else { return .failure(.invalidResolution(resolution, held: held.amount)) }
        }
        let previous = accounts[held.accountID]
        var state = previous ?? AccountState(balance: 0)
        if held.amount < 0 { state.pendingDebits -= held.amount } else { state.pendingCredits -= held.amount }
        if role.isPosted {
            let (balance, overflow) = state.balance.addingReportingOverflow(amount)
            guard !overflow else { return .failure(.balanceOutOfRange(requested)) }
            state.balance = balance
            state.transactionCount += 1
        }
        let entry = create(requested, state: state, previous: previous, undo: &undo)
        holdUndo.append(HoldUndo(id: resolution.hold, previous: hold))
        holds[resolution.hold] = Hold(entry: hold.entry, resolution: entry)
        return .success(.created(entry))
    }

    /// Records `transaction` with the next sequence, leaving its account in `state`.
    private mutating func create(
        _ transaction: Transaction, state: AccountState, previous: AccountState?, undo: inout [Undo]
    ) -> LedgerEntry {
        sequence += 1
        let entry = LedgerEntry(
            transaction: transaction, sequence: sequence, createdAt: createdAt, balanceAfter: state.balance)
        undo.append(Undo(id: transaction.id, account: transaction.accountID, state: previous))
        accounts[transaction.accountID] = state
        recorded[transaction.id] = entry
        return entry
    }

    /// The posting as the hold a pending batch makes of it, expiring `timeout` seconds after `start`.
    private func hold(_ posting: Transaction, timeout: Int64?, from start: Timestamp) -> Transaction {
        Transaction(
            id: posting.id, accountID: posting.accountID, amount: posting.amount, metadata: posting.metadata,
            role: .hold(
                expiresAt: timeout.map { Timestamp(millisecondsSince1970: start.millisecondsSince1970 + $0 * 1000) }))
    }

    /// The refusal of an item that names a currency its account does not hold.
    private func currencyRefusal(of transaction: Transaction, at index: Int, of batch: Batch) -> LedgerError? {
        guard let requested = batch.currencies[index],
            case let currency = accounts[transaction.accountID]?.rules.currency, requested != currency
        else { return nil }
        return .currencyMismatch(transaction, requested: requested, account: currency)
    }

    /// The first currency (in the order of the batch's items) whose amounts do not sum to zero, and their sum; the
    /// accounts without a currency (new ones among them) form one group, nil. A post counts the amount it posts,
    /// a void 0; a resolution of an unknown hold counts nothing (it is refused anyway).
    private func unbalancedCurrency(of batch: Batch) -> (currency: String?, sum: Int128)? {
        var sums: [String?: Int128] = [:]
        var order: [String?] = []
        for item in batch.items {
            let account: AccountID
            let amount: Int64
            switch item {
            case .posting(let posting):
                (account, amount) = (posting.accountID, posting.amount)
            case .resolution(let resolution):
                guard let held = holds[resolution.hold]?.entry.transaction else { continue }
                switch resolution.action {
                case .post(let posted): (account, amount) = (held.accountID, posted ?? held.amount)
                case .void, .expire: (account, amount) = (held.accountID, 0)
                }
            }
            let currency = accounts[account]?.rules.currency
            if sums[currency] == nil { order.append(currency) }
            sums[currency, default: 0] += Int128(amount)
        }
        return order.first { sums[$0] != 0 }.map { ($0, sums[$0]!) }
    }
}

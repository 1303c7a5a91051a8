import Foundation
import GRDB
import Synchronization
import TestSupport
import Testing

@testable import AccountLedger
@testable import SQLiteStore

/// The SQLite store's invariants under every interleaving a seed chooses, checked against a plain model after every
/// step, in the manner of TigerBeetle's simulator.
///
/// Uniqueness of a transaction id rests on the commit's lookup through the in-memory backlog and the index file
/// (the ledger's file holds no unique id since schema v3); a read of a statement or a balance at an instant puts
/// the backlog and the index table together. A driver, seeded, runs thousands of steps: commits (new ids, replays,
/// conflicts, several batches), merges, reads by every path, checkpoints, crashes (a copy of the files as a killed
/// process leaves them, the backlog lost; sometimes with the index file removed, damaged or stale) and restarts.
/// At the store's ``InterleavingPoint``s it runs another operation inside one: a merge in the middle of a commit's
/// lookups or of a read, a commit or a read between a merge's two steps. After every step it compares the store
/// with the model: every outcome as the rules decide it, no id recorded twice, every acknowledged transaction
/// readable exactly once by each read path, balances and `balance_after` exact, the feed gap-safe; and the
/// consistency check every 200 steps and at the end.
///
/// A failure names its seed and step and prints the steps before it; `SIMULATION_SEED=S swift test --filter
/// SQLiteStoreSimulationTests` runs that seed alone, the same way. `SIMULATION_SEEDS=N` runs N seeds (4 by
/// default), `SIMULATION_STEPS=N` that many steps per seed (1,500 by default).
@Suite(.timeLimit(.minutes(20))) struct SQLiteStoreSimulationTests {
    static var seeds: [UInt64] {
        let environment = ProcessInfo.processInfo.environment
        if let seed = environment["SIMULATION_SEED"].flatMap(UInt64.init) { return [seed] }
        let count = environment["SIMULATION_SEEDS"].flatMap(UInt64.init) ?? 4
        let first = environment["SIMULATION_FIRST_SEED"].flatMap(UInt64.init) ?? 1
        return Array(first..<first + count)
    }
    static var steps: Int { ProcessInfo.processInfo.environment["SIMULATION_STEPS"].flatMap(Int.init) ?? 1_500 }

    @Test(arguments: seeds) func theStoreAgreesWithTheModelAfterEveryStep(seed: UInt64) async throws {
        let simulation = try await Simulation(seed: seed)
        do {
            try await simulation.run(steps: Self.steps)
            print(simulation.summary)
        } catch let failure as SimulationFailure {
            Issue.record("\(failure)")
        }
        await simulation.finish()
    }
}

/// A check that failed, with what reproduces it.
struct SimulationFailure: Error, CustomStringConvertible {
    let seed: UInt64
    let step: Int
    let message: String
    let recentSteps: [String]

    var description: String {
        """
        simulation seed \(seed) failed at step \(step): \(message)
        reproduce: SIMULATION_SEED=\(seed) swift test --filter SQLiteStoreSimulationTests
        the steps before it:
        \(recentSteps.joined(separator: "\n"))
        """
    }
}

/// What the store must hold: every acknowledged transaction, by sequence, by id and by account, and each account's
/// balance. Its rules are written again here, plainly, rather than taken from the ledger's.
struct LedgerModel: Sendable {
    var entries: [LedgerEntry] = []
    var byID: [TransactionID: LedgerEntry] = [:]
    var byAccount: [AccountID: [LedgerEntry]] = [:]

    /// What a batch must come to.
    enum Expected: Equatable {
        case accepted([PostingOutcome])
        case refused(indices: [Int])
    }

    /// Applies `batches`, committed at `now`, as the rules say, and returns what each must come to.
    mutating func apply(_ batches: [Batch], now: Timestamp) -> [Expected] {
        // A commit is never stamped earlier than the last transaction recorded.
        let createdAt = max(now, entries.last?.createdAt ?? now)
        var expected: [Expected] = []
        for batch in batches {
            var outcomes: [PostingOutcome] = []
            var refused: [Int] = []
            var created: [LedgerEntry] = []
            var seen = byID
            var balances: [AccountID: Int64] = [:]
            for case (let index, .posting(let posting)) in batch.items.enumerated() {
                if let recorded = seen[posting.id] {
                    if recorded.transaction == posting {
                        outcomes.append(.replayed(recorded))
                    } else {
                        refused.append(index)
                    }
                    continue
                }
                let balance =
                    (balances[posting.accountID] ?? byAccount[posting.accountID]?.last?.balanceAfter ?? 0)
                    + posting.amount
                balances[posting.accountID] = balance
                let entry = LedgerEntry(
                    transaction: posting, sequence: Int64(entries.count + created.count + 1), createdAt: createdAt,
                    balanceAfter: balance)
                created.append(entry)
                seen[posting.id] = entry
                outcomes.append(.created(entry))
            }
            if refused.isEmpty {
                for entry in created { record(entry) }
                expected.append(.accepted(outcomes))
            } else {
                expected.append(.refused(indices: refused))
            }
        }
        return expected
    }

    private mutating func record(_ entry: LedgerEntry) {
        entries.append(entry)
        byID[entry.transaction.id] = entry
        byAccount[entry.transaction.accountID, default: []].append(entry)
    }

    func balance(of account: AccountID) -> Int64? { byAccount[account]?.last?.balanceAfter }

    func balance(of account: AccountID, at instant: Timestamp) -> Int64? {
        byAccount[account]?.last { $0.createdAt <= instant }?.balanceAfter
    }

    func statement(of account: AccountID, before: Int64?, limit: Int) -> [LedgerEntry] {
        Array((byAccount[account] ?? []).reversed().lazy.filter { $0.sequence < (before ?? .max) }.prefix(limit))
    }

    func feed(after: Int64, limit: Int) -> [LedgerEntry] {
        let start = Int(max(0, min(after, Int64(entries.count))))
        return Array(entries[start...].prefix(limit))
    }

    var volume: (max: Int64, accounts: Set<AccountID>) {
        let most = byAccount.values.map(\.count).max() ?? 0
        return (Int64(most), Set(byAccount.filter { $0.value.count == most && most > 0 }.keys))
    }
}

/// Pauses the store's operations at the point a step chose, and runs the step's other operation there.
final class Interleaver: Interleaving, @unchecked Sendable {
    struct Scheduled {
        let point: InterleavingPoint
        /// The pause happens the `countdown`-th time the point is reached.
        var countdown: Int
        let intruder: @Sendable () async throws -> Void
    }

    private let scheduled = Mutex<Scheduled?>(nil)
    private let running = Mutex<[Task<Void, any Error>]>([])
    /// Set when the operation running inside another reaches the gap between a merge's two steps.
    private let intruderBetweenMergeSteps = Atomic<Bool>(false)
    /// How many pauses ran an operation.
    let pauses = Atomic<Int>(0)

    func schedule(_ scheduled: Scheduled) { self.scheduled.withLock { $0 = scheduled } }

    func cancelSchedule() { scheduled.withLock { $0 = nil } }

    private func take(at point: InterleavingPoint) -> (@Sendable () async throws -> Void)? {
        scheduled.withLock { scheduled in
            guard var next = scheduled, next.point == point else { return nil }
            next.countdown -= 1
            guard next.countdown <= 0 else {
                scheduled = next
                return nil
            }
            scheduled = nil
            return next.intruder
        }
    }

    /// Inside a database closure: the operation runs on a task of its own while this thread waits until it ends,
    /// or until it has been stuck for 30 ms past a merge's first step (its second waits for the ledger's writer,
    /// which the paused commit holds), and at most 2 s.
    func pausing(at point: InterleavingPoint) {
        if point == .mergeWrittenToIndexFile { intruderBetweenMergeSteps.store(true, ordering: .relaxed) }
        guard let intruder = take(at: point) else { return }
        pauses.add(1, ordering: .relaxed)
        intruderBetweenMergeSteps.store(false, ordering: .relaxed)
        let done = DispatchSemaphore(value: 0)
        let task = Task.detached {
            defer { done.signal() }
            try await intruder()
        }
        running.withLock { $0.append(task) }
        var waitedPastFirstStep = 0
        for _ in 0..<200 {
            if done.wait(timeout: .now() + .milliseconds(10)) == .success { return }
            if intruderBetweenMergeSteps.load(ordering: .relaxed) {
                waitedPastFirstStep += 1
                if waitedPastFirstStep >= 3 { return }
            }
        }
    }

    /// Between two awaits: the operation runs to its end.
    func pause(at point: InterleavingPoint) async {
        if point == .mergeWrittenToIndexFile { intruderBetweenMergeSteps.store(true, ordering: .relaxed) }
        guard let intruder = take(at: point) else { return }
        pauses.add(1, ordering: .relaxed)
        let task = Task { try await intruder() }
        running.withLock { $0.append(task) }
        _ = await task.result
    }

    /// Waits for every operation started inside another; rethrows the first one's error.
    func settle() async throws {
        let tasks = running.withLock { tasks in
            defer { tasks = [] }
            return tasks
        }
        for task in tasks { try await task.value }
    }
}

/// One seed's run: the store, the model, and the generator that chooses every step.
final class Simulation: @unchecked Sendable {
    let seed: UInt64
    var random: SplitMix64
    let folder: URL
    var generation = 0
    var path: String
    var store: SQLiteLedgerStore!
    let backlogLimit: Int
    let mergeLimit: Int
    let interleaver = Interleaver()
    var model = LedgerModel()
    /// The accounts postings go to: few, so that statements are long and slices are shared.
    let accounts: [AccountID]
    /// The commit clock; it steps back now and then, as a wall clock can.
    var now = Timestamp(millisecondsSince1970: 1_800_000_000_000)
    /// The index file (and its log) of an earlier crash, for a restart on a stale index file.
    var staleIndex: (file: Data, log: Data?)?
    var log: [String] = []
    var step = 0
    /// Results of commits made inside another operation, to compare with the model once it ends.
    let intruderCommits = Mutex<[(batches: [Batch], now: Timestamp, plan: CommitPlan)]>([])

    init(seed: UInt64) async throws {
        self.seed = seed
        random = SplitMix64(seed: seed)
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("simulation-\(seed)-\(UUID())")
        backlogLimit = [0, 2, 10, 60].randomElement(using: &random)!
        mergeLimit = [1, 3, 8, 64].randomElement(using: &random)!
        var generator = random
        accounts = (0..<8).map { _ in AccountID(Self.uuid(&generator)) }
        random = generator
        path = ""
        store = try openGeneration(copyingFrom: nil, index: .intact)
    }

    /// A UUID of 16 bytes from the generator.
    static func uuid(_ random: inout SplitMix64) -> UUID {
        let (a, b) = (random.next(), random.next())
        var bytes = UUID().uuid
        withUnsafeMutableBytes(of: &bytes) { out in
            withUnsafeBytes(of: a) { out.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: 8) }
            withUnsafeBytes(of: b) { out.baseAddress!.advanced(by: 8).copyMemory(from: $0.baseAddress!, byteCount: 8) }
        }
        return UUID(uuid: bytes)
    }

    enum IndexOnRestart: String { case intact, removed, damaged, stale }

    /// Opens the store in a new folder; with `previous`, on a copy of its files as they are now (what a process
    /// killed at this instant leaves: every commit is in the ledger's log, nothing of the backlog survives), its
    /// index file as `index` says.
    func openGeneration(copyingFrom previous: String?, index: IndexOnRestart) throws -> SQLiteLedgerStore {
        generation += 1
        let directory = folder.appendingPathComponent("generation-\(generation)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let newPath = directory.appendingPathComponent("accounts.sqlite").path
        if let previous {
            let files = FileManager.default
            for suffix in ["", "-wal"] where files.fileExists(atPath: previous + suffix) {
                try files.copyItem(atPath: previous + suffix, toPath: newPath + suffix)
            }
            let oldIndex = IndexFile.path(of: previous)
            let newIndex = IndexFile.path(of: newPath)
            let current = (
                file: try Data(contentsOf: URL(fileURLWithPath: oldIndex)),
                log: try? Data(contentsOf: URL(fileURLWithPath: oldIndex + "-wal"))
            )
            switch index {
            case .intact, .damaged:
                try current.file.write(to: URL(fileURLWithPath: newIndex))
                try current.log?.write(to: URL(fileURLWithPath: newIndex + "-wal"))
                if index == .damaged {
                    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: newIndex))
                    try handle.write(contentsOf: Data((0..<100).map { _ in UInt8.random(in: 0...255, using: &random) }))
                    try handle.close()
                }
            case .removed:
                break
            case .stale:
                let stale = staleIndex ?? current
                try stale.file.write(to: URL(fileURLWithPath: newIndex))
                try stale.log?.write(to: URL(fileURLWithPath: newIndex + "-wal"))
            }
            staleIndex = current
        }
        path = newPath
        let store = try SQLiteLedgerStore(
            pool: LedgerDatabase.open(path: newPath, durability: .normal), backlogLimit: backlogLimit,
            mergeLimit: mergeLimit)
        store.interleaving = interleaver
        return store
    }

    func finish() async {
        try? await store.close()
        try? FileManager.default.removeItem(at: folder)
    }

    /// How many steps of each kind ran, and what they came to.
    var counts: [String: Int] = [:]

    var summary: String {
        "simulation seed \(seed): \(step) steps, backlog limit \(backlogLimit), merge limit \(mergeLimit), "
            + "\(model.entries.count) transactions, \(interleaver.pauses.load(ordering: .relaxed)) operations run "
            + "inside another; "
            + counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
    }

    func fail(_ message: String) -> SimulationFailure {
        SimulationFailure(seed: seed, step: step, message: message, recentSteps: log.suffix(30))
    }

    func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw fail(message()) }
    }

    func run(steps: Int) async throws {
        for index in 1...steps {
            step = index
            let roll = Int.random(in: 0..<100, using: &random)
            do {
                switch roll {
                case 0..<45: try await commitStep()
                case 45..<60: try await mergeStep()
                case 60..<88: try await readStep()
                case 88..<92: try await checkpointStep()
                case 92..<97: try await crashStep()
                default: try await restartStep()
                }
                try await interleaver.settle()
                try checkIntruderCommits()
                try await quickCheck()
                if index % 200 == 0 || index == steps { try await fullCheck() }
            } catch let failure as SimulationFailure {
                throw failure
            } catch let failure as SimulationCheckError {
                throw fail("a read inside another operation: \(failure.message)")
            } catch {
                throw fail("unexpected error: \(error)")
            }
        }
    }

    // MARK: Steps

    /// New ids, replays, conflicts and repeats within the commit, in 1 to 3 batches; sometimes a merge runs in the
    /// middle of the commit's lookups.
    func commitStep() async throws {
        counts["commits", default: 0] += 1
        let batches = makeBatches()
        let postings = batches.reduce(0) { $0 + $1.items.count }
        var note = "commit \(batches.map(\.items.count)) postings"
        if Int.random(in: 0..<100, using: &random) < 6 {
            let at = Int.random(in: 1...postings, using: &random)
            let store: SQLiteLedgerStore = store
            interleaver.schedule(
                .init(point: .commitLookingUp, countdown: at) { await store.mergeWhileNeeded(retrying: false) })
            note += ", a merge at lookup \(at)"
        }
        log.append("\(step): \(note)")
        let time = tick()
        let plan = try await Ledger.commit(batches, to: store, clock: { time })
        interleaver.cancelSchedule()
        try compare(plan, of: batches, at: time, what: "commit")
    }

    func makeBatches() -> [Batch] {
        (0..<Int.random(in: 1...3, using: &random)).map { _ in
            var postings: [Transaction] = []
            for _ in 0..<Int.random(in: 1...6, using: &random) {
                let kind = Int.random(in: 0..<100, using: &random)
                if kind < 20, let known = recentOrAny() {
                    postings.append(known.transaction)  // a replay
                } else if kind < 27, let known = model.entries.randomElement(using: &random) {
                    // A conflict: another amount, or the same amount with other metadata.
                    let sameAmount = Bool.random(using: &random)
                    postings.append(
                        Transaction(
                            id: known.transaction.id, accountID: known.transaction.accountID,
                            amount: known.transaction.amount + (sameAmount ? 0 : 1),
                            metadata: sameAmount ? metadata(Int.random(in: 1...1_000, using: &random)) : .empty))
                } else if kind < 32, let earlier = postings.randomElement(using: &random) {
                    postings.append(earlier)  // the same id again within the commit
                } else {
                    // One new posting in four carries metadata, which the index table keeps too.
                    postings.append(
                        Transaction(
                            id: TransactionID(Self.uuid(&random)), accountID: accounts.randomElement(using: &random)!,
                            amount: Int64.random(in: -50...50, using: &random),
                            metadata: Int.random(in: 0..<4, using: &random) == 0
                                ? metadata(-Int.random(in: 1...1_000, using: &random)) : .empty))
                }
            }
            return Batch(postings)
        }
    }

    /// Metadata of one member, "n": n (a new posting's are negative, a conflict's positive: never equal).
    func metadata(_ n: Int) -> Metadata {
        try! Metadata.validated([(key: "n", value: String(n))], field: "metadata").get()
    }

    /// A recorded transaction: one of the last 40 (likely still waiting in the backlog, or being merged) seven
    /// times in ten.
    func recentOrAny() -> LedgerEntry? {
        Int.random(in: 0..<10, using: &random) < 7
            ? model.entries.suffix(40).randomElement(using: &random) : model.entries.randomElement(using: &random)
    }

    /// The next commit time: on by up to 3 ms, back by up to 2 ms one time in ten.
    func tick() -> Timestamp {
        let change =
            Int.random(in: 0..<10, using: &random) == 0
            ? -Int64.random(in: 0...2, using: &random) : Int64.random(in: 0...3, using: &random)
        now = Timestamp(millisecondsSince1970: now.millisecondsSince1970 + change)
        return now
    }

    /// A merge; sometimes a commit, or reads, run between its two steps.
    func mergeStep() async throws {
        counts["merges", default: 0] += 1
        var note = "merge (\(store.waitingIndexEntries) waiting)"
        let choice = Int.random(in: 0..<100, using: &random)
        if choice < 30, store.waitingIndexEntries + 40 <= store.backlogBound {
            let batches = makeBatches()
            let time = tick()
            let store: SQLiteLedgerStore = store
            interleaver.schedule(
                .init(point: .mergeWrittenToIndexFile, countdown: 1) { [self] in
                    let plan = try await Ledger.commit(batches, to: store, clock: { time })
                    intruderCommits.withLock { $0.append((batches, time, plan)) }
                })
            note += ", a commit of \(batches.map(\.items.count)) between its steps"
        } else if choice < 50 {
            let reads = plannedReads(count: 4)
            let (store, model): (SQLiteLedgerStore, LedgerModel) = (store, model)
            interleaver.schedule(
                .init(point: .mergeWrittenToIndexFile, countdown: 1) {
                    try await Self.check(reads, of: store, against: model)
                })
            note += ", reads between its steps"
        }
        log.append("\(step): \(note)")
        await store.mergeWhileNeeded(retrying: false)
        interleaver.cancelSchedule()
    }

    /// Reads by every path, checked against the model; sometimes a merge runs in the middle of a statement or a
    /// balance at an instant (between taking the backlog and reading the table).
    func readStep() async throws {
        counts["reads", default: 0] += 1
        let reads = plannedReads(count: 6)
        var note = "reads"
        if Int.random(in: 0..<100, using: &random) < 25 {
            let store: SQLiteLedgerStore = store
            interleaver.schedule(
                .init(point: .readTookBacklog, countdown: Int.random(in: 1...3, using: &random)) {
                    await store.mergeWhileNeeded(retrying: false)
                })
            note += ", a merge inside one"
        }
        log.append("\(step): \(note)")
        try await Self.check(reads, of: store, against: model, failing: fail)
        interleaver.cancelSchedule()
    }

    func checkpointStep() async throws {
        counts["checkpoints", default: 0] += 1
        let truncate = Bool.random(using: &random)
        log.append("\(step): checkpoint (\(truncate ? "truncate" : "passive"))")
        try await store.pool.writeWithoutTransaction { db in _ = try db.checkpoint(truncate ? .truncate : .passive) }
        try await store.indexes.writeWithoutTransaction { db in _ = try db.checkpoint(.passive) }
    }

    /// The process is killed: its files as they are now, the backlog lost; the index file kept, removed, damaged,
    /// or one from an earlier crash.
    func crashStep() async throws {
        counts["crashes", default: 0] += 1
        let index = [IndexOnRestart.intact, .intact, .removed, .damaged, .stale].randomElement(using: &random)!
        log.append("\(step): crash and restart, index file \(index.rawValue)")
        let old: SQLiteLedgerStore = store
        let oldPath = path
        store = try openGeneration(copyingFrom: oldPath, index: index)
        try await old.close()
        try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: oldPath).deletingLastPathComponent().path)
    }

    /// A clean stop (merges finish, the logs are copied in) and a start on the same files.
    func restartStep() async throws {
        counts["restarts", default: 0] += 1
        log.append("\(step): stop and start")
        try await store.close()
        store = try SQLiteLedgerStore(
            pool: LedgerDatabase.open(path: path, durability: .normal), backlogLimit: backlogLimit,
            mergeLimit: mergeLimit)
        store.interleaving = interleaver
    }

    // MARK: Checks

    func compare(_ plan: CommitPlan, of batches: [Batch], at time: Timestamp, what: String) throws {
        let expected = model.apply(batches, now: time)
        try expect(
            plan.outcomes.count == expected.count,
            "\(what): \(plan.outcomes.count) outcomes for \(expected.count) batches")
        for (index, (outcome, expected)) in zip(plan.outcomes, expected).enumerated() {
            switch (outcome, expected) {
            case (.success(let outcomes), .accepted(let wanted)):
                try expect(
                    outcomes == wanted,
                    "\(what): batch \(index) came to \(Self.describe(outcomes)), the model says \(Self.describe(wanted))"
                )
            case (.failure(.batchRefused(let refused)), .refused(let indices)):
                try expect(
                    refused.map(\.index) == indices,
                    "\(what): batch \(index) refused items \(refused.map(\.index)), the model says \(indices)")
            default:
                throw fail("\(what): batch \(index) came to \(outcome), the model says \(expected)")
            }
        }
        let created = expected.flatMap { expectation -> [LedgerEntry] in
            guard case .accepted(let outcomes) = expectation else { return [] }
            return outcomes.compactMap { if case .created(let entry) = $0 { entry } else { nil } }
        }
        try expect(plan.created == created, "\(what): created \(plan.created.count), the model \(created.count)")
    }

    /// Outcomes in short: `created #12` or `replayed #3` (the transaction's sequence), with its id.
    static func describe(_ outcomes: [PostingOutcome]) -> String {
        outcomes.map { outcome in
            switch outcome {
            case .created(let entry): "created #\(entry.sequence) \(entry.transaction.id)"
            case .replayed(let entry): "replayed #\(entry.sequence) \(entry.transaction.id)"
            }
        }.joined(separator: ", ")
    }

    func checkIntruderCommits() throws {
        let commits = intruderCommits.withLock { commits in
            defer { commits = [] }
            return commits
        }
        for commit in commits {
            try compare(commit.plan, of: commit.batches, at: commit.now, what: "commit inside a merge")
        }
    }

    enum Read: Sendable {
        case transaction(TransactionID)
        case balance(AccountID)
        case balanceAt(AccountID, Timestamp)
        case statement(AccountID, before: Int64?, limit: Int)
        case feed(after: Int64, limit: Int)
        case volume
    }

    func plannedReads(count: Int) -> [Read] {
        (0..<count).map { _ in
            let account = accounts.randomElement(using: &random)!
            let last = Int64(model.entries.count)
            switch Int.random(in: 0..<6, using: &random) {
            case 0:
                let id =
                    model.entries.randomElement(using: &random)?.transaction.id ?? TransactionID(Self.uuid(&random))
                return .transaction(Bool.random(using: &random) ? id : TransactionID(Self.uuid(&random)))
            case 1: return .balance(account)
            case 2:
                let base = model.entries.randomElement(using: &random)?.createdAt.millisecondsSince1970 ?? 0
                return .balanceAt(
                    account, Timestamp(millisecondsSince1970: base + Int64.random(in: -1...1, using: &random)))
            case 3:
                let before = Bool.random(using: &random) ? nil : Int64.random(in: 0...last + 2, using: &random)
                return .statement(account, before: before, limit: Int.random(in: 1...40, using: &random))
            case 4:
                return .feed(
                    after: Int64.random(in: 0...last + 1, using: &random), limit: Int.random(in: 1...30, using: &random)
                )
            default: return .volume
            }
        }
    }

    static func check(
        _ reads: [Read], of store: SQLiteLedgerStore, against model: LedgerModel,
        failing fail: (String) -> any Error = { SimulationCheckError(message: $0) }
    ) async throws {
        for read in reads {
            switch read {
            case .transaction(let id):
                let found = try await store.transaction(id)
                if found != model.byID[id] {
                    throw fail(
                        "transaction \(id): \(String(describing: found)), the model \(String(describing: model.byID[id]))"
                    )
                }
            case .balance(let account):
                let found = try await store.balance(of: account)
                if found != model.balance(of: account) {
                    throw fail(
                        "balance of \(account): \(String(describing: found)), the model \(String(describing: model.balance(of: account)))"
                    )
                }
            case .balanceAt(let account, let instant):
                let found = try await store.balance(of: account, at: instant)
                let wanted = model.balance(of: account, at: instant)
                if found != wanted {
                    throw fail(
                        "balance of \(account) at \(instant): \(String(describing: found)), the model \(String(describing: wanted))"
                    )
                }
            case .statement(let account, let before, let limit):
                let found = try await store.statement(of: account, before: before, limit: limit)
                let wanted = model.statement(of: account, before: before, limit: limit)
                if found != wanted {
                    throw fail(
                        "statement of \(account) before \(String(describing: before)) limit \(limit): sequences \(found.map(\.sequence)), the model \(wanted.map(\.sequence))"
                    )
                }
            case .feed(let after, let limit):
                let found = try await store.transactions(after: after, limit: limit)
                let wanted = model.feed(after: after, limit: limit)
                if found != wanted {
                    throw fail(
                        "feed after \(after) limit \(limit): sequences \(found.map(\.sequence)), the model \(wanted.map(\.sequence))"
                    )
                }
            case .volume:
                let found = try await store.transactionVolume()
                let wanted = model.volume
                if found.maxVolume != wanted.max || Set(found.accounts) != wanted.accounts
                    || found.accounts.count != wanted.accounts.count
                {
                    throw fail("max volume: \(found), the model \(wanted)")
                }
            }
        }
    }

    func check(_ reads: [Read]) async throws {
        try await Self.check(reads, of: store, against: model, failing: fail)
    }

    /// After every step: the last transactions on every path, every account's balance, the volume.
    func quickCheck() async throws {
        var reads: [Read] =
            accounts.map { .balance($0) } + [.volume, .feed(after: max(0, Int64(model.entries.count) - 8), limit: 20)]
        for entry in model.entries.suffix(8) {
            reads.append(.transaction(entry.transaction.id))
            reads.append(.statement(entry.transaction.accountID, before: nil, limit: 3))
            reads.append(.balanceAt(entry.transaction.accountID, entry.createdAt))
        }
        try await check(reads)
    }

    /// Every 200 steps and at the end: every id, every statement whole and paged, the feed walked from the
    /// start in pages, and the consistency check (no id recorded twice, the index tables agree).
    func fullCheck() async throws {
        log.append("\(step): full check")
        var reads = model.entries.map { Read.transaction($0.transaction.id) }
        for account in accounts { reads.append(.statement(account, before: nil, limit: 100_000)) }
        try await check(reads)
        for account in accounts {
            var before: Int64? = nil
            var walked: [LedgerEntry] = []
            let size = Int.random(in: 1...9, using: &random)
            while true {
                let page = try await store.statement(of: account, before: before, limit: size)
                walked += page
                guard page.count == size, let last = page.last else { break }
                before = last.sequence
            }
            try expect(
                walked == model.statement(of: account, before: nil, limit: .max),
                "statement of \(account) paged by \(size) differs")
        }
        var after: Int64 = 0
        var feed: [LedgerEntry] = []
        while true {
            let page = try await store.transactions(after: after, limit: 7)
            feed += page
            guard let last = page.last else { break }
            after = last.sequence
        }
        try expect(
            feed == model.entries,
            "the feed walked from 0 holds \(feed.count) transactions, the model \(model.entries.count)")
        let report = try ConsistencyCheck.run(path: path)
        try expect(report.isConsistent, "check: \(report)")
        try expect(
            report.transactions == model.entries.count,
            "check counted \(report.transactions) transactions, the model \(model.entries.count)")
    }
}

/// A read inside another operation that disagreed with the model.
struct SimulationCheckError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

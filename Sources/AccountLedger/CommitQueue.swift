import Synchronization

/// The batches waiting for the ledger's next commit, each with the reply that answers it.
///
/// ``Ledger/post(_:)`` enqueues and wakes the writer loop, which takes whole batches (a batch is never split
/// across commits). Small batches (single postings, transfers) must not wait behind a bulk load's large ones,
/// whose commits take tens of milliseconds: a commit that held a large batch is followed by one of the small
/// batches alone when any wait, so a small batch waits for at most one large commit and one small one; and while
/// small batches arrive, large commits are kept short. Other commits take the small batches waiting and then
/// large ones in arrival order, up to a bound on the commit's postings and at least one large one when some
/// wait, so neither kind starves the other. Once stopped, the queue refuses new batches with
/// ``LedgerError/unavailable``.
final class CommitQueue: Sendable {
    /// A batch and whoever waits for its outcome; or batches that each stand alone (a refused one refuses no
    /// other) answered together (the hold expiry's voids: one reply for hundreds of them).
    struct Waiting {
        let batches: [Batch]
        let answer: Answer
        /// The items of its batches.
        let size: Int

        enum Answer {
            case one(Reply<[PostingOutcome]>)
            case each(Reply<[Result<[PostingOutcome], LedgerError>]>)
        }

        /// Whether it is a group of batches answered together (background work that yields to postings).
        var isGroup: Bool {
            if case .each = answer { true } else { false }
        }

        init(_ batches: [Batch], _ answer: Answer) {
            self.batches = batches
            self.answer = answer
            size = batches.reduce(0) { $0 + $1.items.count }
        }

        /// Answers with the outcomes of its batches, in order.
        func resume(with outcomes: ArraySlice<Result<[PostingOutcome], LedgerError>>) {
            switch answer {
            case .one(let reply): reply(outcomes.first!.mapError { $0 })
            case .each(let reply): reply(.success(Array(outcomes)))
            }
        }

        func resume(throwing error: any Error) {
            switch answer {
            case .one(let reply): reply(.failure(error))
            case .each(let reply): reply(.failure(error))
            }
        }
    }

    /// An account's settings waiting to be written (PUT /accounts/{id}).
    struct WaitingConfiguration {
        let account: AccountID
        let settings: AccountSettings
        let reply: Reply<ConfigurationPlan>
    }

    /// A batch of at most this many postings is small.
    static let smallBatch = 16
    /// Small batches arrived within this long count as arriving.
    static let recentArrival = Duration.milliseconds(100)

    /// Batches in arrival order. Taking moves `head` on, and the taken part is dropped once it is most of the
    /// array, so taking stays linear however many wait.
    private struct Line {
        var waiting: [Waiting] = []
        var head = 0

        var first: Waiting? { head < waiting.count ? waiting[head] : nil }
        var count: Int { waiting.count - head }

        mutating func removeFirst() -> Waiting {
            defer {
                head += 1
                if head == waiting.count {
                    waiting.removeAll(keepingCapacity: true)
                    head = 0
                } else if head > waiting.count / 2 {
                    waiting.removeFirst(head)
                    head = 0
                }
            }
            return waiting[head]
        }
    }

    private struct State {
        var small = Line()
        var large = Line()
        /// Whether the last commit held a large batch.
        var tookLarge = false
        var lastSmallArrival: ContinuousClock.Instant?
        var configurations: [WaitingConfiguration] = []
        var stopped = false
    }

    private let state = Mutex(State())
    /// Wakes the writer loop; at most one wake-up is buffered, as one is enough to drain everything queued.
    let wakeUps: AsyncStream<Void>
    private let wakeUp: AsyncStream<Void>.Continuation

    init() {
        (wakeUps, wakeUp) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    func enqueue(_ batch: Batch, _ reply: @escaping Reply<[PostingOutcome]>) {
        enqueue(Waiting([batch], .one(reply)))
    }

    /// Queues batches that are decided each on its own, in one commit, and answered together; they wait as one
    /// batch of their total size (a large one, past ``smallBatch`` items).
    func enqueue(each batches: [Batch], _ reply: @escaping Reply<[Result<[PostingOutcome], LedgerError>]>) {
        enqueue(Waiting(batches, .each(reply)))
    }

    private func enqueue(_ waiting: Waiting) {
        let accepted = state.withLock { state in
            guard !state.stopped else { return false }
            if waiting.size <= Self.smallBatch {
                state.small.waiting.append(waiting)
                state.lastSmallArrival = .now
            } else {
                state.large.waiting.append(waiting)
            }
            return true
        }
        if accepted {
            wakeUp.yield()
        } else {
            waiting.resume(throwing: LedgerError.unavailable)
        }
    }

    /// Queues an account's settings for the writer loop, which writes every configuration waiting in one
    /// transaction (as postings share commits, configurations share one fsync).
    func enqueue(_ configuration: WaitingConfiguration) {
        let accepted = state.withLock { state in
            guard !state.stopped else { return false }
            state.configurations.append(configuration)
            return true
        }
        if accepted {
            wakeUp.yield()
        } else {
            configuration.reply(.failure(LedgerError.unavailable))
        }
    }

    /// Removes and returns the configurations waiting, the first `limit` of them.
    func takeConfigurations(upTo limit: Int) -> [WaitingConfiguration] {
        state.withLock { state in
            let taken = Array(state.configurations.prefix(limit))
            state.configurations.removeFirst(taken.count)
            return taken
        }
    }

    /// Removes and returns the batches of the next commit: the small ones waiting, up to `limit` postings
    /// (half of it while large ones wait); then, unless the last commit held a large batch and small ones
    /// were waiting, large ones in arrival order while the postings stay within `limit` (`sharedLimit` while
    /// small batches arrive, and then at most one group), and at least one when some wait, however large. None
    /// when none waits.
    func take(upToPostings fullLimit: Int, whileSmallArrive sharedLimit: Int) -> [Waiting] {
        state.withLock { state in
            let arriving = state.lastSmallArrival.map { $0 + Self.recentArrival > .now } ?? false
            let limit = arriving ? sharedLimit : fullLimit
            var groups = 0
            var taken: [Waiting] = []
            var postings = 0
            let smallOnly = state.tookLarge && state.small.count > 0
            let smallLimit = state.large.count > 0 && !smallOnly ? limit / 2 : limit
            while let next = state.small.first, postings + next.size <= smallLimit {
                postings += next.size
                taken.append(state.small.removeFirst())
            }
            state.tookLarge = false
            while !smallOnly, let next = state.large.first,
                !state.tookLarge || postings + next.size <= limit
            {
                // Groups (the expiry's voids) yield to arriving postings: one a commit while they arrive.
                if next.isGroup, arriving, groups > 0 { break }
                if next.isGroup { groups += 1 }
                postings += next.size
                taken.append(state.large.removeFirst())
                state.tookLarge = true
            }
            return taken
        }
    }

    /// Refuses every batch from now on; those already queued stay, for the last commit.
    func stop() {
        state.withLock { $0.stopped = true }
        wakeUp.finish()
    }

    /// Whether the queue refuses batches (the ledger is shutting down).
    var isStopped: Bool { state.withLock { $0.stopped } }

    /// How many batches wait (a single posting is a batch of one).
    var count: Int { state.withLock { $0.small.count + $0.large.count } }
}

import NIOCore
import NIOPosix
import Synchronization

/// Delivers the outcome of an operation to whoever waits for it; called once (later calls do nothing where a
/// ``Deadline`` races it).
package typealias Reply<T: Sendable> = @Sendable (Result<T, any Error>) -> Void

/// A bound on how long the caller waits for an operation: the answer comes at the deadline even if the
/// operation goes on (a query already sent cannot be called back, and a task group would wait for it).
package enum Deadline {
    /// The outcome `start` arranges to deliver to the reply it is given, or `late` thrown once `timeout` has
    /// passed; cancelling the caller answers at once. `start` runs on the caller's task and must not wait: it
    /// hands the reply to whatever delivers the outcome (the ledger's commit queue), so that the caller's task
    /// is resumed straight from there, with no task in between.
    package static func within<T: Sendable>(
        _ timeout: Duration, else late: any Error, answering start: (_ reply: @escaping Reply<T>) -> Void
    ) async throws -> T {
        try await race(timeout, late) { race in start(race.finish) }
    }

    /// `operation`'s result, or `late` thrown once `timeout` has passed; cancelling the caller cancels the
    /// operation and answers at once. The operation runs in a task of its own, which a lost race cancels.
    package static func within<T: Sendable>(
        _ timeout: Duration, else late: any Error, _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await race(timeout, late) { race in
            race.cancelWhenLost(
                Task {
                    do { race.finish(.success(try await operation())) } catch { race.finish(.failure(error)) }
                })
        }
    }

    private static func race<T: Sendable>(
        _ timeout: Duration, _ late: any Error, _ start: (Race<T>) -> Void
    ) async throws -> T {
        let race = Race<T>(late: late)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                if race.start(continuation, timeout: timeout) { start(race) }
            }
        } onCancel: {
            race.finish(.failure(CancellationError()))
        }
    }
}

/// An operation racing its timeout: whichever ends first answers.
private final class Race<T: Sendable>: Expiring {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        /// The task that runs the operation, if it has one: cancelled when the race is lost.
        var work: Task<Void, Never>?
        /// Set once the race is decided; a cancellation may decide it before it starts.
        var decided = false
    }
    private let state = Mutex(State())
    /// What the caller is answered when the deadline wins.
    private let late: any Error

    init(late: any Error) {
        self.late = late
    }

    /// Arms the race; false when the caller was cancelled before (it is then answered, and the operation must
    /// not start).
    func start(_ continuation: CheckedContinuation<T, any Error>, timeout: Duration) -> Bool {
        let decided = state.withLock { state in
            if !state.decided { state.continuation = continuation }
            return state.decided
        }
        guard !decided else {
            continuation.resume(throwing: CancellationError())
            return false
        }
        DeadlineLine.of(timeout).add(self, at: .now() + .nanoseconds(timeout.nanoseconds))
        return true
    }

    /// Cancels `work` when the race is lost (or at once, if it was lost already).
    func cancelWhenLost(_ work: Task<Void, Never>) {
        let decided = state.withLock { state in
            if !state.decided { state.work = work }
            return state.decided
        }
        if decided { work.cancel() }
    }

    var isDecided: Bool { state.withLock { $0.decided } }

    func expire() { finish(.failure(late)) }

    func finish(_ result: Result<T, any Error>) {
        let (continuation, work) = state.withLock { state in
            defer { state = State(decided: true) }
            return state.decided ? (nil, nil) : (state.continuation, state.work)
        }
        guard let continuation else { return }
        if case .failure = result { work?.cancel() }
        continuation.resume(with: result)
    }
}

/// What a ``DeadlineLine`` holds: a race that its deadline decides unless something did before.
protocol Expiring: AnyObject, Sendable {
    var isDecided: Bool { get }
    /// Decides the race as lost to its deadline; nothing when it is decided already.
    func expire()
}

/// The races under way that share one timeout, in the order they started, which is the order their deadlines
/// come in: one event-loop timer serves them all, set for the first undecided one. A timer scheduled and
/// cancelled per operation cost a lock on the event loop each way and often a wake-up of its thread.
/// Races decided in time leave the line as they reach its front.
final class DeadlineLine: Sendable {
    private struct State {
        var races = CircularBuffer<(deadline: NIODeadline, race: any Expiring)>()
        /// Whether a timer is set (it fires at or before the first race's deadline).
        var timerSet = false
    }
    private let state = Mutex(State())
    private let timeout: Duration
    private let loop: any EventLoop

    private init(_ timeout: Duration) {
        self.timeout = timeout
        loop = MultiThreadedEventLoopGroup.singleton.any()
    }

    /// The lines that have races, by timeout. A line leaves when its timer finds it empty, so that timeouts used
    /// once do not pile up; a race added to a line that has just left is still decided by that line's timer.
    private static let lines = Mutex<[Duration: DeadlineLine]>([:])

    /// The line of the races with this timeout.
    static func of(_ timeout: Duration) -> DeadlineLine {
        lines.withLock { lines in
            if let line = lines[timeout] { return line }
            let line = DeadlineLine(timeout)
            lines[timeout] = line
            return line
        }
    }

    func add(_ race: any Expiring, at deadline: NIODeadline) {
        let setTimer = state.withLock { state in
            while let first = state.races.first, first.race.isDecided { state.races.removeFirst() }
            state.races.append((deadline, race))
            if state.timerSet { return false }
            state.timerSet = true
            return true
        }
        if setTimer { schedule(at: deadline) }
    }

    private func schedule(at deadline: NIODeadline) {
        loop.scheduleTask(deadline: deadline) { self.fire() }
    }

    /// Decides the races whose deadline has come, drops the decided ones at the front, and sets the timer for
    /// the first that remains.
    private func fire() {
        let now = NIODeadline.now()
        let (expired, next) = state.withLock { state in
            var expired: [any Expiring] = []
            while let first = state.races.first, first.deadline <= now || first.race.isDecided {
                if first.deadline <= now { expired.append(first.race) }
                state.races.removeFirst()
            }
            guard let first = state.races.first else {
                state.timerSet = false
                return (expired, NIODeadline?.none)
            }
            return (expired, first.deadline)
        }
        if let next {
            schedule(at: next)
        } else {
            Self.lines.withLock { lines in
                if lines[timeout] === self, state.withLock({ $0.races.isEmpty }) { lines[timeout] = nil }
            }
        }
        for race in expired { race.expire() }
    }

    /// Whether races with this timeout have a line (for tests).
    static func exists(for timeout: Duration) -> Bool { lines.withLock { $0[timeout] != nil } }
}

extension Duration {
    /// The whole nanoseconds of this duration.
    package var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}

import Synchronization
import Testing

@testable import AccountLedger

/// ``Deadline``: a caller is answered by the operation or by its deadline, whichever comes first, once. The
/// races that share a timeout share one timer (``DeadlineLine``), so these tests race several at once, answered
/// in another order than they started.
@Suite(.timeLimit(.minutes(1))) struct DeadlineTests {
    struct Late: Error, Equatable {}

    /// Replies kept by the test, to be given (or not) later, as the commit queue keeps them.
    final class Replies: Sendable {
        let replies = Mutex<[Int: Reply<Int>]>([:])

        func keep(_ n: Int, _ reply: @escaping Reply<Int>) { replies.withLock { $0[n] = reply } }

        func answer(_ n: Int, with value: Int) {
            let reply = replies.withLock { $0[n] }
            reply?(.success(value))
        }

        var count: Int { replies.withLock { $0.count } }
    }

    final class Flag: Sendable {
        private let value = Atomic(false)
        func set() { value.store(true, ordering: .sequentiallyConsistent) }
        var isSet: Bool { value.load(ordering: .sequentiallyConsistent) }
    }

    @Test func anAnswerBeforeTheDeadlineIsTheCallersAndALateOneIsDropped() async throws {
        let replies = Replies()
        let value = try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask {
                try await Deadline.within(.seconds(30), else: Late()) { reply in replies.keep(0, reply) }
            }
            while replies.count == 0 { try await Task.sleep(for: .milliseconds(1)) }
            replies.answer(0, with: 7)
            replies.answer(0, with: 8)  // a second reply does nothing (a second resume would trap)
            return try await group.next()!
        }
        #expect(value == 7)
    }

    /// Five races on one timeout, started one after another: the second and fourth are answered shortly after
    /// they start, the others never. Each unanswered one fails with the deadline's error, no sooner than its own
    /// deadline, though a race before it in the line was answered and left it. (The timeout is long against the
    /// answers' delay, so that a loaded machine running the whole suite still answers them in time.)
    @Test func racesWithoutAnAnswerFailAtTheirOwnDeadline() async throws {
        let timeout = Duration.seconds(3)
        let outcomes = try await withThrowingTaskGroup(of: (Int, Result<Int, Late>, Duration).self) { group in
            for n in 0..<5 {
                group.addTask {
                    try await Task.sleep(for: .milliseconds(40 * n))
                    let started = ContinuousClock.now
                    do {
                        let value = try await Deadline.within(timeout, else: Late()) { reply in
                            guard n % 2 == 1 else { return }
                            Task {
                                try await Task.sleep(for: .milliseconds(50))
                                reply(.success(n))
                            }
                        }
                        return (n, .success(value), ContinuousClock.now - started)
                    } catch let error as Late {
                        return (n, .failure(error), ContinuousClock.now - started)
                    }
                }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = ($1.1, $1.2) }
        }
        for n in [1, 3] { #expect(outcomes[n]?.0 == .success(n)) }
        for n in [0, 2, 4] {
            #expect(outcomes[n]?.0 == .failure(Late()))
            #expect(outcomes[n]!.1 >= timeout, "race \(n) ended after \(outcomes[n]!.1)")
            #expect(outcomes[n]!.1 < timeout + .seconds(20), "race \(n) ended after \(outcomes[n]!.1)")
        }
    }

    /// A timeout used once does not keep a line: once its races are over and its timer has found the line
    /// empty, the line is gone.
    @Test func aTimeoutUsedOnceLeavesNoLineBehind() async throws {
        let timeout = Duration.milliseconds(137)
        await #expect(throws: Late.self) {
            try await Deadline.within(timeout, else: Late()) { (_: @escaping Reply<Int>) in }
        }
        #expect(try await Deadline.within(timeout, else: Late()) { reply in reply(.success(1)) } == 1)
        for _ in 0..<1000 where DeadlineLine.exists(for: timeout) { try await Task.sleep(for: .milliseconds(5)) }
        #expect(!DeadlineLine.exists(for: timeout))
    }

    @Test func aCancelledCallerIsAnsweredAtOnce() async throws {
        let replies = Replies()
        let caller = Task {
            try await Deadline.within(.seconds(30), else: Late()) { reply in replies.keep(0, reply) }
        }
        while replies.count == 0 { try await Task.sleep(for: .milliseconds(1)) }
        let started = ContinuousClock.now
        caller.cancel()
        await #expect(throws: CancellationError.self) { try await caller.value }
        #expect(ContinuousClock.now - started < .seconds(10))
        replies.answer(0, with: 1)
    }

    @Test func aCallerCancelledBeforeItStartsNeverStartsTheOperation() async throws {
        let started = Flag()
        let caller = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await Deadline.within(.seconds(30), else: Late()) { (_: @escaping Reply<Int>) in
                started.set()
            }
        }
        await #expect(throws: CancellationError.self) { try await caller.value }
        #expect(!started.isSet)
    }

    /// The operation form: an operation that outlives its deadline is cancelled, and the caller has its answer
    /// at the deadline.
    @Test func anOperationPastItsDeadlineIsCancelled() async throws {
        let cancelled = Flag()
        let started = ContinuousClock.now
        await #expect(throws: Late.self) {
            try await Deadline.within(.milliseconds(200), else: Late()) { () async throws -> Int in
                do {
                    try await Task.sleep(for: .seconds(30))
                } catch {
                    cancelled.set()
                    throw error
                }
                return 1
            }
        }
        #expect(ContinuousClock.now - started < .seconds(10))
        for _ in 0..<1000 where !cancelled.isSet {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(cancelled.isSet)
    }
}

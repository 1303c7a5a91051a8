import ServiceLifecycle
import Synchronization

/// Tells the change feed's waiting readers that a commit landed, without polling the database. A reader notes
/// the ``mark``, reads, and if it found nothing beyond its `after` waits until a commit records a sequence above
/// `after`. A waiting reader holds no database connection and no thread, only a continuation.
///
/// A commit wakes only the readers it can answer (those whose `after` is below its last sequence), so readers
/// parked past the head cost a commit nothing; and at most ``maximumWaiters`` wait at once, so held requests can
/// never take every connection: beyond that a reader is answered at once.
final class CommitNotifier: Sendable {
    /// What a reader notes before it reads: a commit that lands between its read and its wait still wakes it.
    struct Mark: Sendable {
        fileprivate let generation: UInt64
    }

    private struct Waiter {
        let after: Int64
        let continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        /// The highest sequence a commit has announced.
        var head: Int64 = .min
        /// Changes when a commit of unknown sequence lands (another instance's): every reader may be answered.
        var generation: UInt64 = 0
        var waiters: [UInt64: Waiter] = [:]
        /// At most the lowest `after` of the waiters; a commit at or below it wakes no one.
        var lowestAfter: Int64 = .max
        var nextWaiter: UInt64 = 0
        /// Waiters that have an id but no continuation yet, and those of them already cancelled.
        var unregistered: Set<UInt64> = []
        var cancelled: Set<UInt64> = []

        /// Whether a reader at `after` that noted `mark` has something new to read.
        func isAnswerable(after: Int64, since mark: Mark) -> Bool {
            head > after || generation != mark.generation
        }
    }

    private let state = Mutex(State())
    let maximumWaiters: Int

    init(maximumWaiters: Int = .max) {
        self.maximumWaiters = maximumWaiters
    }

    var mark: Mark { state.withLock { Mark(generation: $0.generation) } }

    /// How many readers wait now.
    var waiting: Int { state.withLock { $0.waiters.count + $0.unregistered.count } }

    /// A commit recorded transactions up to `sequence` (nil: unknown, as for another instance's commit, which
    /// wakes every waiter): wakes the waiters whose `after` is below it.
    func committed(through sequence: Int64?) {
        let woken: [CheckedContinuation<Void, Never>] = state.withLock { state in
            guard let sequence else {
                state.generation &+= 1
                defer {
                    state.waiters.removeAll()
                    state.lowestAfter = .max
                }
                return state.waiters.values.map(\.continuation)
            }
            state.head = max(state.head, sequence)
            guard sequence > state.lowestAfter else { return [] }
            var woken: [CheckedContinuation<Void, Never>] = []
            var lowest = Int64.max
            for (id, waiter) in state.waiters {
                if waiter.after < sequence {
                    woken.append(waiter.continuation)
                    state.waiters[id] = nil
                } else {
                    lowest = min(lowest, waiter.after)
                }
            }
            state.lowestAfter = lowest
            return woken
        }
        for continuation in woken { continuation.resume() }
    }

    /// Waits until a commit records a sequence above `after` (or one of unknown sequence lands) after `mark`,
    /// `deadline` passes, the task is cancelled or the service begins to shut down (a held request must not
    /// delay a graceful stop). True when there may be something new to read; false at once when
    /// ``maximumWaiters`` readers wait already.
    func wait(after: Int64, since mark: Mark, until deadline: ContinuousClock.Instant) async -> Bool {
        let id: UInt64? = state.withLock { state in
            guard state.waiters.count + state.unregistered.count < maximumWaiters else { return nil }
            defer { state.nextWaiter &+= 1 }
            state.unregistered.insert(state.nextWaiter)
            return state.nextWaiter
        }
        guard let id else { return false }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.wait(id: id, after: after, since: mark) }
            group.addTask {
                try? await cancelWhenGracefulShutdown { try await Task.sleep(until: deadline) }
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first && self.state.withLock { $0.isAnswerable(after: after, since: mark) }
        }
    }

    /// Waits, as waiter `id`, until a commit answers a reader at `after`, or the task is cancelled.
    private func wait(id: UInt64, after: Int64, since mark: Mark) async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    state.unregistered.remove(id)
                    if state.cancelled.remove(id) != nil || state.isAnswerable(after: after, since: mark) {
                        return true
                    }
                    state.waiters[id] = Waiter(after: after, continuation: continuation)
                    state.lowestAfter = min(state.lowestAfter, after)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                if state.unregistered.contains(id) { state.cancelled.insert(id) }
                return state.waiters.removeValue(forKey: id)
            }
            waiter?.continuation.resume()
        }
        return true
    }
}

import ServiceLifecycle
import Synchronization

/// Tells the change feed's waiting readers that a commit landed, without polling the database: a reader notes
/// the generation, reads, and if it found nothing waits for a later generation. A waiting reader holds no
/// database connection and no thread, only a continuation.
final class CommitNotifier: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
        /// Waiters that have an id but no continuation yet, and those of them already cancelled.
        var unregistered: Set<UInt64> = []
        var cancelled: Set<UInt64> = []
    }

    private let state = Mutex(State())

    /// Changes with every commit that recorded a transaction.
    var generation: UInt64 { state.withLock { $0.generation } }

    /// A commit recorded transactions: wakes every waiter.
    func committed() {
        let waiters = state.withLock { state in
            state.generation &+= 1
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Waits until the generation passes `generation`, `deadline` passes, the task is cancelled or the
    /// service begins to shut down (a held request must not delay a graceful stop). True when a commit landed.
    func wait(beyond generation: UInt64, until deadline: ContinuousClock.Instant) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.wait(beyond: generation) }
            group.addTask {
                try? await cancelWhenGracefulShutdown { try await Task.sleep(until: deadline) }
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first && self.generation > generation
        }
    }

    /// Waits until the generation passes `generation`, or the task is cancelled.
    private func wait(beyond generation: UInt64) async -> Bool {
        let id = state.withLock { state in
            defer { state.nextWaiter &+= 1 }
            state.unregistered.insert(state.nextWaiter)
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    state.unregistered.remove(id)
                    if state.cancelled.remove(id) != nil || state.generation > generation { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                if state.unregistered.contains(id) { state.cancelled.insert(id) }
                return state.waiters.removeValue(forKey: id)
            }
            waiter?.resume()
        }
        return true
    }
}

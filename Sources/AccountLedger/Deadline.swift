import NIOCore
import NIOPosix
import Synchronization

/// A bound on how long the caller waits for an operation: the answer comes at the deadline even if the
/// operation goes on (a query already sent cannot be called back, and a task group would wait for it).
package enum Deadline {
    /// `operation`'s result, or `late` thrown once `timeout` has passed; cancelling the caller cancels the
    /// operation and answers at once.
    package static func within<T: Sendable>(
        _ timeout: Duration, else late: any Error, _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let race = Race<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                race.start(continuation, timeout: timeout, late: late, operation)
            }
        } onCancel: {
            race.finish(.failure(CancellationError()))
        }
    }
}

/// An operation racing its timeout: whichever ends first answers; the timer stops when the operation ends.
private final class Race<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var work: Task<Void, Never>?
        /// Set once the race is decided; a cancellation may decide it before it starts.
        var decided = false
    }
    private let state = Mutex(State())

    func start(
        _ continuation: CheckedContinuation<T, any Error>, timeout: Duration, late: any Error,
        _ operation: @escaping @Sendable () async throws -> T
    ) {
        let decided = state.withLock { state in
            if !state.decided { state.continuation = continuation }
            return state.decided
        }
        guard !decided else { return continuation.resume(throwing: CancellationError()) }
        // A timer on an event loop, not a sleeping task: cancelled, it leaves nothing behind (a cancelled
        // Task.sleep's timer still fires later), and it costs no task per operation.
        let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .nanoseconds(timeout.nanoseconds)) {
            self.finish(.failure(late))
        }
        let work = Task {
            let result: Result<T, any Error>
            do { result = .success(try await operation()) } catch { result = .failure(error) }
            timer.cancel()
            self.finish(result)
        }
        let decidedAlready = state.withLock { state in
            if !state.decided { state.work = work }
            return state.decided
        }
        if decidedAlready { work.cancel() }
    }

    func finish(_ result: Result<T, any Error>) {
        let (continuation, work) = state.withLock { state in
            defer { state = State(decided: true) }
            return state.decided ? (nil, nil) : (state.continuation, state.work)
        }
        if case .failure = result { work?.cancel() }
        continuation?.resume(with: result)
    }
}

extension Duration {
    /// The whole nanoseconds of this duration.
    package var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}

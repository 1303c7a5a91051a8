import Foundation

/// Runs `body`, which blocks (a child process run to its end, a socket read with a timeout, a wait on a
/// semaphore), on a thread of its own, and returns what it returns. Not on the threads that run tasks: there are
/// as many as cores (two in CI), every test of the process shares them, and two blocked ones stall them all
/// (PostgreSQL's start once did, for longer than the stores' 5 s deadline).
package func onThreadOfItsOwn<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: body()) }.start()
    }
}

/// ``onThreadOfItsOwn(_:)`` for a body that throws.
package func onThreadOfItsOwn<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// A task executor whose jobs run on a serial dispatch queue, off the threads that run tasks: a test whose task
/// must block (a store's decision held until another task has done something) runs it here
/// (`Task(executorPreference:)`), so that the other task, and every other test, still has threads to run on.
package final class QueueTaskExecutor: TaskExecutor, @unchecked Sendable {
    private let queue = DispatchQueue(label: "account-service-tests.blocking")

    package init() {}

    package func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

import Synchronization

/// The postings waiting for the ledger's next commit, each with the continuation that answers it.
///
/// ``Ledger/post(_:)`` enqueues and wakes the writer loop; the loop takes batches in arrival order. Once
/// stopped, the queue refuses new postings with ``LedgerError/unavailable``.
final class CommitQueue: Sendable {
    struct Waiting {
        let transaction: Transaction
        let continuation: CheckedContinuation<Result<PostingOutcome, LedgerError>, any Error>
    }

    private struct State {
        var waiting: [Waiting] = []
        var stopped = false
    }

    private let state = Mutex(State())
    /// Wakes the writer loop; at most one wake-up is buffered, as one is enough to drain everything queued.
    let wakeUps: AsyncStream<Void>
    private let wakeUp: AsyncStream<Void>.Continuation

    init() {
        (wakeUps, wakeUp) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    func enqueue(
        _ transaction: Transaction,
        _ continuation: CheckedContinuation<Result<PostingOutcome, LedgerError>, any Error>
    ) {
        let accepted = state.withLock { state in
            guard !state.stopped else { return false }
            state.waiting.append(Waiting(transaction: transaction, continuation: continuation))
            return true
        }
        if accepted {
            wakeUp.yield()
        } else {
            continuation.resume(returning: .failure(.unavailable))
        }
    }

    /// Removes and returns the oldest postings, at most `limit`.
    func take(upTo limit: Int) -> [Waiting] {
        state.withLock { state in
            let batch = Array(state.waiting.prefix(limit))
            state.waiting.removeFirst(batch.count)
            return batch
        }
    }

    /// Refuses every posting from now on; those already queued stay, for the last commit.
    func stop() {
        state.withLock { $0.stopped = true }
        wakeUp.finish()
    }

    /// How many postings wait.
    var count: Int { state.withLock { $0.waiting.count } }
}

import Synchronization

/// The batches waiting for the ledger's next commit, each with the continuation that answers it.
///
/// ``Ledger/post(_:)`` enqueues and wakes the writer loop; the loop takes whole batches in arrival order, so a
/// batch is never split across commits. Once stopped, the queue refuses new batches with
/// ``LedgerError/unavailable``.
final class CommitQueue: Sendable {
    struct Waiting {
        let batch: Batch
        let continuation: CheckedContinuation<Result<[PostingOutcome], LedgerError>, any Error>
    }

    private struct State {
        var waiting: [Waiting] = []
        /// Where the oldest waiting batch is in `waiting`: taking moves it on, and the taken part is dropped
        /// once it is most of the array, so taking stays linear however many wait.
        var head = 0
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
        _ batch: Batch,
        _ continuation: CheckedContinuation<Result<[PostingOutcome], LedgerError>, any Error>
    ) {
        let accepted = state.withLock { state in
            guard !state.stopped else { return false }
            state.waiting.append(Waiting(batch: batch, continuation: continuation))
            return true
        }
        if accepted {
            wakeUp.yield()
        } else {
            continuation.resume(returning: .failure(.unavailable))
        }
    }

    /// Removes and returns the oldest batches that hold at most `limit` postings together, and at least one
    /// batch however large (a batch is never split); none when none waits.
    func take(upToPostings limit: Int) -> [Waiting] {
        state.withLock { state in
            var end = state.head
            var postings = 0
            while end < state.waiting.count,
                end == state.head || postings + state.waiting[end].batch.transactions.count <= limit
            {
                postings += state.waiting[end].batch.transactions.count
                end += 1
            }
            let taken = Array(state.waiting[state.head..<end])
            state.head = end
            if state.head == state.waiting.count {
                state.waiting.removeAll(keepingCapacity: true)
                state.head = 0
            } else if state.head > state.waiting.count / 2 {
                state.waiting.removeFirst(state.head)
                state.head = 0
            }
            return taken
        }
    }

    /// Refuses every batch from now on; those already queued stay, for the last commit.
    func stop() {
        state.withLock { $0.stopped = true }
        wakeUp.finish()
    }

    /// How many batches wait (a single posting is a batch of one).
    var count: Int { state.withLock { $0.waiting.count - $0.head } }
}

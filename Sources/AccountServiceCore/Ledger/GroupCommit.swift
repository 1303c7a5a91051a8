import ServiceLifecycle
import Synchronization

/// Gathers concurrent postings into shared write transactions: one commit, and so one fsync, for all the
/// postings that arrived while the previous commit was being written.
///
/// There is no timer: a posting that arrives while no commit is under way is committed at once, alone. Each
/// posting is answered only after the transaction that holds it has committed. A posting the ledger refuses
/// (an idempotency conflict, a balance out of range) writes nothing and does not disturb its batch-mates; two
/// postings with the same id in one batch are applied in order, so the second is a replay. A failed commit fails
/// every posting of its batch, and none of them is written.
///
/// It is a `Service`: its loop runs while the application runs, and on graceful shutdown it commits what is
/// pending and then refuses new postings.
public final class GroupCommit: Service, Sendable {
    /// A bound on one transaction, so that one commit never holds a very large batch.
    static let maximumBatchSize = 1024

    private struct Pending {
        let transaction: Transaction
        let continuation: CheckedContinuation<PostingOutcome, any Error>
    }

    private struct State {
        var pending: [Pending] = []
        var stopped = false
    }

    private let store: any LedgerStore
    private let state = Mutex(State())
    /// Wakes the loop; at most one wake-up is buffered, as one is enough to drain everything pending.
    private let wakeUps: AsyncStream<Void>
    private let wakeUp: AsyncStream<Void>.Continuation

    public init(store: any LedgerStore) {
        self.store = store
        (wakeUps, wakeUp) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Posts a transaction in the next commit.
    func post(_ transaction: Transaction) async throws -> PostingOutcome {
        try await withCheckedThrowingContinuation { continuation in
            let accepted = state.withLock { state in
                guard !state.stopped else { return false }
                state.pending.append(Pending(transaction: transaction, continuation: continuation))
                return true
            }
            if accepted {
                wakeUp.yield()
            } else {
                continuation.resume(throwing: LedgerUnavailable())
            }
        }
    }

    /// How many postings wait for the next commit.
    var pendingCount: Int { state.withLock { $0.pending.count } }

    public func run() async {
        await withGracefulShutdownHandler {
            for await _ in wakeUps {
                await commitPending()
            }
            // Shutting down: stop accepting, then commit whatever was accepted.
            state.withLock { $0.stopped = true }
            await commitPending()
        } onGracefulShutdown: {
            self.wakeUp.finish()
        }
    }

    private func commitPending() async {
        while true {
            let batch = state.withLock { state in
                let batch = state.pending.prefix(Self.maximumBatchSize)
                state.pending.removeFirst(batch.count)
                return Array(batch)
            }
            guard !batch.isEmpty else { return }
            await commit(batch)
        }
    }

    private func commit(_ batch: [Pending]) async {
        let transactions = batch.map(\.transaction)
        let results: [Result<PostingOutcome, LedgerError>]
        do {
            results = try await store.write { writer in
                // Ledger.post writes nothing when it refuses a posting, so a refusal needs no savepoint;
                // any other error leaves the closure and rolls the whole transaction back.
                try transactions.map { transaction in
                    do {
                        return .success(try Ledger.post(transaction, with: writer))
                    } catch let refusal as LedgerError {
                        return .failure(refusal)
                    }
                }
            }
        } catch {
            for pending in batch { pending.continuation.resume(throwing: error) }
            return
        }
        for (pending, result) in zip(batch, results) {
            pending.continuation.resume(with: result)
        }
    }
}

/// The ledger is shutting down and accepts no more postings.
public struct LedgerUnavailable: Error {}

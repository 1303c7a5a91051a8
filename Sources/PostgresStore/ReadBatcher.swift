import AccountLedger
import Synchronization

/// Lookups by key that arrive together share one query, as the ledger's postings share one commit.
///
/// A lookup that finds fewer than `concurrency` queries under way sends its own at once (so a lone lookup waits
/// for nothing); otherwise it waits, and the next query takes every lookup waiting when it starts, in one
/// `= ANY(array)` statement. Each lookup is answered from a query that started after it arrived, so it sees every
/// commit acknowledged before it was made. Under load this spends one round trip, one pooled connection and one
/// deadline on many requests instead of one each.
final class ReadBatcher<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    typealias Fetch = @Sendable ([Key]) async throws -> [Key: Value]

    private struct Waiting {
        let key: Key
        let continuation: CheckedContinuation<Value?, any Error>
    }

    private struct State {
        var waiting: [Waiting] = []
        var queries = 0
    }

    private let state = Mutex(State())
    private let concurrency: Int
    private let fetch: Fetch

    /// - Parameters:
    ///   - concurrency: how many queries may be under way at once.
    ///   - fetch: the values of the keys that have one (a key without one is absent from the answer).
    init(concurrency: Int, fetch: @escaping Fetch) {
        precondition(concurrency > 0)
        self.concurrency = concurrency
        self.fetch = fetch
    }

    /// The value of `key`, nil when it has none.
    func value(of key: Key) async throws -> Value? {
        let leads = state.withLock { state in
            guard state.queries < concurrency else { return false }
            state.queries += 1
            return true
        }
        guard leads else {
            return try await withCheckedThrowingContinuation { continuation in
                let sendNow = state.withLock { state in
                    // A query may have ended between the two locks; then nobody would take this one.
                    state.waiting.append(Waiting(key: key, continuation: continuation))
                    guard state.queries < concurrency else { return false }
                    state.queries += 1
                    return true
                }
                if sendNow { Task { await self.queryWaiting() } }
            }
        }
        defer { handOver() }
        return try await fetch([key])[key]
    }

    /// A query has ended: its slot goes to the lookups waiting, in a query of their own, or is freed.
    private func handOver() {
        let more = state.withLock { state in
            if state.waiting.isEmpty { state.queries -= 1 }
            return !state.waiting.isEmpty
        }
        if more { Task { await queryWaiting() } }
    }

    /// Answers every lookup waiting, in one query, then hands the slot over.
    private func queryWaiting() async {
        let taken = state.withLock { state in
            defer { state.waiting = [] }
            return state.waiting
        }
        if !taken.isEmpty {
            do {
                let values = try await fetch(Array(Set(taken.map(\.key))))
                for waiting in taken { waiting.continuation.resume(returning: values[waiting.key]) }
            } catch {
                for waiting in taken { waiting.continuation.resume(throwing: error) }
            }
        }
        handOver()
    }
}

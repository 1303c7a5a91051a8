import Logging
import ServiceLifecycle

/// Voids holds past their expiry, a `Service` the application runs beside the ledger.
///
/// Every ``interval`` it asks the store for the open holds whose expiry has come (an index range, never a scan)
/// and posts their voids through the ledger like any other item, one batch each (so a hold resolved meanwhile
/// refuses its own void and no other), in groups of ``groupSize`` answered together (``Ledger/post(each:)``):
/// they share commits with the postings waiting, take sequences, reach the feed and the metrics. A void's id is derived from its hold's (``Resolution/expiry(of:attempt:)``), so another
/// instance voiding the same hold makes the same record and replays it; the store's unique key on a hold's
/// resolution keeps a hold from being resolved twice whatever happens. A client's post or void committed before the
/// expiry wins (the expiry's void is then refused); after it, the client's is refused as expired.
public struct HoldExpiry: Service {
    /// How often the store is asked: holds are voided within about this long after their expiry (plus the time
    /// their commits take).
    public static let interval = Duration.milliseconds(100)
    /// The most holds asked for at once; a full page is followed at once by the next.
    static let pageSize = 16_384
    /// The voids posted together (``Ledger/post(each:)``): one commit holds at most one such group beside the
    /// postings that wait when postings arrive, so that they wait at most for a commit of this many voids.
    static let groupSize = 512
    /// How many derived ids a void tries when clients have taken the ones before.
    static let attempts = 8

    let ledger: Ledger
    let logger: Logger

    public init(ledger: Ledger, logger: Logger) {
        self.ledger = ledger
        self.logger = logger
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await expireDue()
                try await Task.sleep(for: Self.interval)
            }
        }
    }

    /// Voids the holds expired by now, a page at a time, until a page is not full or a void fails (the next round
    /// tries again); how many it voided.
    @discardableResult
    func expireDue() async -> Int {
        var voided = 0
        while true {
            let due: [TransactionID]
            do {
                due = try await ledger.store.expiredHolds(at: ledger.clock(), limit: Self.pageSize)
            } catch {
                if !Task.isCancelled {
                    logger.warning("Expired holds could not be read", metadata: ["error": "\(error)"])
                }
                return voided
            }
            guard !due.isEmpty else { return voided }
            let groups = stride(from: 0, to: due.count, by: Self.groupSize).map {
                Array(due[$0..<min($0 + Self.groupSize, due.count)])
            }
            let (done, failures) = await withTaskGroup(of: Result<Int, any Error>.self) { group in
                for holds in groups { group.addTask { await expire(holds) } }
                var done = 0
                var failures: [any Error] = []
                for await result in group {
                    switch result {
                    case .success(let count): done += count
                    case .failure(let error): failures.append(error)
                    }
                }
                return (done, failures)
            }
            voided += done
            if let first = failures.first, !Task.isCancelled {
                logger.warning(
                    "Expired holds could not be voided; the next round tries again",
                    metadata: ["groups": "\(failures.count)", "error": "\(first)"])
                return voided
            }
            if due.count < Self.pageSize { return voided }
        }
    }

    /// Posts the voids of expired holds, each a batch of its own, together: how many this call recorded (the
    /// others were replays of another instance's, or their holds were resolved meanwhile). A void whose derived
    /// id a client's record holds is posted again with the next derived id.
    private func expire(_ holds: [TransactionID]) async -> Result<Int, any Error> {
        var created = 0
        var waiting = holds
        for attempt in 0..<Self.attempts where !waiting.isEmpty {
            let outcomes: [Result<[PostingOutcome], LedgerError>]
            do {
                outcomes = try await ledger.post(
                    each: waiting.map { Batch(items: [.resolution(.expiry(of: $0, attempt: attempt))]) })
            } catch {
                return .failure(error)
            }
            var conflicting: [TransactionID] = []
            for (hold, outcome) in zip(waiting, outcomes) {
                switch outcome {
                case .success(let outcomes): if case .created = outcomes[0] { created += 1 }
                case .failure(.batchRefused(let refused)):
                    // A client's record holds the derived id: derive again. Any other refusal means the hold is
                    // resolved already.
                    if case .idempotencyConflict = refused[0].reason { conflicting.append(hold) }
                case .failure: break
                }
            }
            waiting = conflicting
        }
        if let hold = waiting.first { return .failure(ExpiryIDsTaken(hold: hold)) }
        return .success(created)
    }

    struct ExpiryIDsTaken: Error, CustomStringConvertible {
        let hold: TransactionID
        var description: String { "every id derived for the void of hold \(hold) is taken by another transaction" }
    }
}

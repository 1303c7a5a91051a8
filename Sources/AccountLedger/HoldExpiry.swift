import Logging
import ServiceLifecycle

/// Voids holds past their expiry, a `Service` the application runs beside the ledger.
///
/// Every ``interval`` it asks the store for the open holds whose expiry has come (an index range, never a scan)
/// and posts their voids through the ledger like any other item, one batch each (so a hold resolved meanwhile
/// refuses its own void and no other): they share commits with the postings waiting, take sequences, reach the
/// feed and the metrics. A void's id is derived from its hold's (``Resolution/expiry(of:attempt:)``), so another
/// instance voiding the same hold makes the same record and replays it; the store's unique key on a hold's
/// resolution keeps a hold from being resolved twice whatever happens. A client's post or void committed before the
/// expiry wins (the expiry's void is then refused); after it, the client's is refused as expired.
public struct HoldExpiry: Service {
    /// How often the store is asked: holds are voided within about this long after their expiry (plus the time
    /// their commits take).
    public static let interval = Duration.milliseconds(250)
    /// The most holds asked for at once; a full page is followed at once by the next.
    static let pageSize = 4096
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
            let (done, failures) = await withTaskGroup(of: Result<Bool, any Error>.self) { group in
                for hold in due { group.addTask { await expire(hold) } }
                var done = 0
                var failures: [any Error] = []
                for await result in group {
                    switch result {
                    case .success(let voidedNow): if voidedNow { done += 1 }
                    case .failure(let error): failures.append(error)
                    }
                }
                return (done, failures)
            }
            voided += done
            if let first = failures.first, !Task.isCancelled {
                logger.warning(
                    "Expired holds could not be voided; the next round tries again",
                    metadata: ["holds": "\(failures.count)", "error": "\(first)"])
                return voided
            }
            if due.count < Self.pageSize { return voided }
        }
    }

    /// Posts the void of one expired hold: whether this call recorded it (false: a replay of another instance's,
    /// or the hold was resolved meanwhile).
    private func expire(_ hold: TransactionID) async -> Result<Bool, any Error> {
        for attempt in 0..<Self.attempts {
            do {
                let outcome = try await ledger.post(Batch(items: [.resolution(.expiry(of: hold, attempt: attempt))]))
                if case .created = outcome[0] { return .success(true) }
                return .success(false)
            } catch LedgerError.batchRefused(let refused) {
                // A client's record holds the derived id: derive again. Any other refusal means the hold is
                // resolved already.
                if case .idempotencyConflict = refused[0].reason { continue }
                return .success(false)
            } catch {
                return .failure(error)
            }
        }
        return .failure(ExpiryIDsTaken(hold: hold))
    }

    struct ExpiryIDsTaken: Error, CustomStringConvertible {
        let hold: TransactionID
        var description: String { "every id derived for the void of hold \(hold) is taken by another transaction" }
    }
}

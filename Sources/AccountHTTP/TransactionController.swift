import AccountLedger
import HTTPTypes
import Hummingbird

/// POST /amount, POST /transactions (a batch), GET /transaction/{transaction_id} and GET /transactions (the
/// change feed).
struct TransactionController<Context: RequestContext> {
    let ledger: Ledger
    let bodies: RequestBodies

    func addRoutes(to router: Router<Context>) {
        router.post("/amount", use: post)
        router.get("/transaction/{transaction_id}", use: get)
        router.get("/transactions", use: feed)
        router.post("/transactions", use: postBatch)
    }

    /// Answers 200 with the transaction whether it is new or a replay; a replay carries `Idempotent-Replayed: true`.
    @Sendable func post(_ request: Request, context: Context) async throws -> EditedResponse<TransactionResponse> {
        let posting = try await AmountRequest(request, bodies: bodies)
        let outcome = try await ledger.post(posting.transaction, currency: posting.currency)
        var headers = HTTPFields()
        if case .replayed = outcome {
            headers[.idempotentReplayed] = "true"
        }
        return EditedResponse(headers: headers, response: TransactionResponse(outcome.entry))
    }

    /// Answers 200 with every item's record, in request order, each marked replayed or not.
    @Sendable func postBatch(_ request: Request, context: Context) async throws -> BatchResponse {
        BatchResponse(outcomes: try await ledger.post(BatchRequest(request, bodies: bodies).batch))
    }

    @Sendable func get(_ request: Request, context: Context) async throws -> TransactionResponse {
        let id = try context.parameters.identifier("transaction_id", as: TransactionID.self)
        let entry = try await ledger.transaction(id)
        return TransactionResponse(entry, holdState: try await ledger.holdState(of: entry))
    }

    /// Every transaction after sequence `after` (default 0), in sequence order, at most `limit` (1–1,000, default
    /// 100); with `wait` (0–30 seconds), an empty answer is held until a commit records one or the wait ends.
    @Sendable func feed(_ request: Request, context: Context) async throws -> FeedResponse {
        let after = try request.integerQueryParameter("after", in: 0...Int64.max) ?? 0
        let limit = try request.pageSize()
        let wait = try request.integerQueryParameter("wait", in: 0...30) ?? 0
        // A held request ends when its client goes away: nobody would read its answer.
        let entries =
            wait == 0
            ? try await ledger.transactions(after: after, limit: limit)
            : try await ClientConnection.cancellingWhenGone { [ledger] in
                try await ledger.transactions(after: after, limit: limit, wait: .seconds(wait))
            }
        return FeedResponse(entries: entries, nextAfter: entries.last?.sequence ?? after)
    }
}

extension HTTPField.Name {
    static let idempotentReplayed = HTTPField.Name("Idempotent-Replayed")!
}

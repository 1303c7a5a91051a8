import HTTPTypes
import Hummingbird

/// POST /amount and GET /transaction/{transaction_id}.
struct TransactionController<Context: RequestContext> {
    let ledger: Ledger

    func addRoutes(to router: Router<Context>) {
        router.post("/amount", use: post)
        router.get("/transaction/{transaction_id}", use: get)
    }

    /// Answers 200 with the transaction whether it is new or a replay; a replay carries `Idempotent-Replayed: true`.
    @Sendable func post(_ request: Request, context: Context) async throws -> EditedResponse<TransactionResponse> {
        let outcome = try await ledger.post(AmountRequest(request).transaction)
        var headers = HTTPFields()
        if case .replayed = outcome {
            headers[.idempotentReplayed] = "true"
        }
        return EditedResponse(headers: headers, response: TransactionResponse(outcome.transaction))
    }

    @Sendable func get(_ request: Request, context: Context) async throws -> TransactionResponse {
        let id = try context.parameters.identifier("transaction_id", as: TransactionID.self)
        return TransactionResponse(try await ledger.transaction(id))
    }
}

extension HTTPField.Name {
    static let idempotentReplayed = HTTPField.Name("Idempotent-Replayed")!
}

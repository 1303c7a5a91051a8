import HTTPTypes
import Hummingbird
import NIOCore

/// POST /amount and GET /transaction/{transaction_id}.
struct TransactionController<Context: RequestContext> {
    let ledger: Ledger

    func addRoutes(to routes: RouteTable<Context>) {
        routes.on("/amount", method: .post, use: post)
        routes.on("/transaction/{transaction_id}", method: .get, use: get)
    }

    /// Answers 200 with the transaction whether it is new or a replay; a replay carries `Idempotent-Replayed: true`.
    @Sendable func post(_ request: Request, context: Context) async throws -> EditedResponse<TransactionResponse> {
        let outcome = try await ledger.post(AmountRequest(request).transaction)
        var headers = HTTPFields()
        if case .replayed = outcome {
            headers[.idempotentReplayed] = "true"
        }
        return EditedResponse(headers: headers, response: TransactionResponse(transaction: outcome.transaction))
    }

    @Sendable func get(_ request: Request, context: Context) async throws -> TransactionResponse {
        let id = try context.parameters.identifier("transaction_id", as: TransactionID.init)
        return TransactionResponse(transaction: try await ledger.transaction(id))
    }
}

extension HTTPField.Name {
    static let idempotentReplayed = HTTPField.Name("Idempotent-Replayed")!
}

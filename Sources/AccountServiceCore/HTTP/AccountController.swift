import HTTPTypes
import Hummingbird
import NIOCore

/// GET /balance/{account_id} and GET /max_transaction_volume.
struct AccountController<Context: RequestContext> {
    let ledger: Ledger

    func addRoutes(to routes: RouteTable<Context>) {
        routes.on("/balance/{account_id}", method: .get, use: balance)
        routes.on("/max_transaction_volume", method: .get, use: maxTransactionVolume)
    }

    @Sendable func balance(_ request: Request, context: Context) async throws -> BalanceResponse {
        let account = try context.parameters.identifier("account_id", as: AccountID.init)
        return BalanceResponse(balance: try await ledger.balance(of: account))
    }

    @Sendable func maxTransactionVolume(_ request: Request, context: Context) async throws -> TransactionVolumeResponse {
        TransactionVolumeResponse(volume: try await ledger.transactionVolume())
    }
}

extension Parameters {
    /// A UUID path parameter, or 400 naming the parameter.
    func identifier<ID>(_ name: String, as parse: (String) -> ID?) throws -> ID {
        let text = get(name) ?? ""
        guard let id = parse(text) else {
            throw Problem.badRequest("\(name) \(Problem.quoted(text)) is not a UUID.")
        }
        return id
    }
}

import Hummingbird

/// GET /balance/{account_id} and GET /max_transaction_volume.
struct AccountController<Context: RequestContext> {
    let ledger: Ledger

    func addRoutes(to router: Router<Context>) {
        router.get("/balance/{account_id}", use: balance)
        router.get("/max_transaction_volume", use: maxTransactionVolume)
    }

    @Sendable func balance(_ request: Request, context: Context) async throws -> BalanceResponse {
        let account = try context.parameters.identifier("account_id", as: AccountID.self)
        return BalanceResponse(balance: try await ledger.balance(of: account))
    }

    @Sendable func maxTransactionVolume(_ request: Request, context: Context) async throws -> TransactionVolumeResponse
    {
        TransactionVolumeResponse(try await ledger.transactionVolume())
    }
}

extension Parameters {
    /// A UUID path parameter, or 400 naming the parameter.
    func identifier<Kind>(_ name: String, as: Identifier<Kind>.Type) throws -> Identifier<Kind> {
        let text = get(name) ?? ""
        guard let id = Identifier<Kind>(parsing: text) else {
            throw Problem.badRequest("\(name) \(Problem.quoted(text)) is not a UUID.")
        }
        return id
    }
}

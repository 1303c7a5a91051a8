import AccountLedger
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// GET /balance/{account_id} (now or `?at=` an instant), the account document (GET and PUT
/// /accounts/{account_id}), the account list (GET /accounts), GET /accounts/{account_id}/transactions (the
/// statement) and GET /max_transaction_volume.
struct AccountController<Context: RequestContext> {
    let ledger: Ledger
    /// The last max-volume answer, encoded, and the ledger's ``Ledger/answersVersion`` it was read at: with many
    /// accounts tied the answer is megabytes, and clients that poll it should cost one read per commit at most.
    let volumeAnswer = VersionedAnswer()
    let bodies: RequestBodies

    init(ledger: Ledger, bodies: RequestBodies) {
        self.ledger = ledger
        self.bodies = bodies
    }

    func addRoutes(to router: Router<Context>) {
        router.get("/balance/{account_id}", use: balance)
        router.get("/accounts", use: list)
        router.get("/accounts/{account_id}", use: document)
        router.put("/accounts/{account_id}", use: configure)
        router.get("/accounts/{account_id}/transactions", use: statement)
        router.get("/max_transaction_volume", use: maxTransactionVolume)
    }

    @Sendable func balance(_ request: Request, context: Context) async throws -> BalanceResponse {
        let account = try context.parameters.identifier("account_id", as: AccountID.self)
        guard let at = try request.queryParameter("at") else {
            return BalanceResponse(balance: try await ledger.balance(of: account))
        }
        guard let instant = Timestamp(rfc3339: at) else {
            throw Problem.badRequest(
                "at \(Problem.quoted(at)) is not an RFC 3339 date-time with an offset, such as 2026-11-25T09:04:17.123Z."
            )
        }
        return BalanceResponse(balance: try await ledger.balance(of: account, at: instant))
    }

    @Sendable func document(_ request: Request, context: Context) async throws -> AccountResponse {
        let account = try context.parameters.identifier("account_id", as: AccountID.self)
        return AccountResponse(account: try await ledger.account(account))
    }

    /// 201 when it opened the account, 200 when the account existed (whether or not its settings changed).
    @Sendable func configure(_ request: Request, context: Context) async throws -> EditedResponse<AccountResponse> {
        let account = try context.parameters.identifier("account_id", as: AccountID.self)
        let settings = try await AccountSettingsRequest(request, bodies: bodies).settings
        let plan = try await ledger.configure(account, as: settings)
        return EditedResponse(
            status: plan.outcome == .opened ? .created : .ok, response: AccountResponse(account: plan.account))
    }

    /// Accounts in id order after `after`, at most `limit`, with one optional `metadata.KEY=VALUE` filter; `next`
    /// (and a `Link` header) names the following page, null on the last.
    @Sendable func list(_ request: Request, context: Context) async throws -> EditedResponse<AccountListResponse> {
        let limit = try request.pageSize()
        var after: AccountID?
        if let text = try request.queryParameter("after") {
            guard let id = AccountID(parsing: String(text)) else {
                throw Problem.badRequest("after \(Problem.quoted(text)) is not a UUID.")
            }
            after = id
        }
        let filter = try request.metadataFilter()
        let accounts = try await ledger.accounts(after: after, limit: limit + 1, filter: filter)
        let page = Array(accounts.prefix(limit))
        var headers = HTTPFields()
        var next: String?
        if accounts.count > page.count, let last = page.last {
            next =
                "/accounts?limit=\(limit)&after=\(last.id)"
                + (filter.map { "&metadata.\(QueryText.encoded($0.key))=\(QueryText.encoded($0.value))" } ?? "")
            headers[.link] = "<\(next!)>; rel=\"next\""
        }
        return EditedResponse(headers: headers, response: AccountListResponse(accounts: page, next: next))
    }

    /// Newest first; `next` (and a `Link: <…>; rel="next"` header) names the following page, null on the last.
    @Sendable func statement(_ request: Request, context: Context) async throws -> EditedResponse<StatementResponse> {
        let account = try context.parameters.identifier("account_id", as: AccountID.self)
        let limit = try request.pageSize()
        let before = try request.integerQueryParameter("before", in: 1...Int64.max)
        // One more than the page, to know whether another page follows.
        let entries = try await ledger.statement(of: account, before: before, limit: limit + 1)
        let page = Array(entries.prefix(limit))
        var headers = HTTPFields()
        var next: String?
        if entries.count > page.count, let last = page.last {
            next = "/accounts/\(account)/transactions?limit=\(limit)&before=\(last.sequence)"
            headers[.link] = "<\(next!)>; rel=\"next\""
        }
        return EditedResponse(headers: headers, response: StatementResponse(entries: page, next: next))
    }

    /// Served from ``volumeAnswer`` while no commit has landed since it was read (when the store can vouch for
    /// that); otherwise read (one SQL query) and encoded anew.
    @Sendable func maxTransactionVolume(_ request: Request, context: Context) async throws -> Response {
        let version = ledger.answersVersion
        if let version, let kept = volumeAnswer.answer(at: version) { return Response(json: kept) }
        let encoded = TransactionVolumeResponse(try await ledger.transactionVolume()).encoded
        if let version { volumeAnswer.keep(encoded, at: version) }
        return Response(json: encoded)
    }
}

/// An encoded answer kept with the version of the data it was read at (``Ledger/answersVersion``).
final class VersionedAnswer: Sendable {
    private let kept = Mutex<(version: UInt64, answer: ByteBuffer)?>(nil)

    /// The answer kept at `version`, if any.
    func answer(at version: UInt64) -> ByteBuffer? {
        kept.withLock { kept in kept?.version == version ? kept?.answer : nil }
    }

    /// Keeps `answer`, read at `version`, unless a newer one is kept.
    func keep(_ answer: ByteBuffer, at version: UInt64) {
        kept.withLock { kept in
            if kept.map({ $0.version < version }) ?? true { kept = (version, answer) }
        }
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

extension HTTPField.Name {
    static let link = HTTPField.Name("Link")!
}

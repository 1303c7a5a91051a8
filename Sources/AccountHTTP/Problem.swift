import AccountLedger
import HTTPTypes
import Hummingbird
import NIOCore

/// An error response with an RFC 9457 problem body (`application/problem+json`). Hummingbird's own `HTTPError`
/// body is `{"error": {"message": …}}`, which is not one, hence this type.
///
/// Every error the service answers is one of these: handlers and validation throw them, and
/// ``ProblemMiddleware`` turns every other error into one, in one place.
public struct Problem: HTTPResponseError, Equatable {
    /// A URI that names the kind of problem; `about:blank` when the status code says it all.
    public let type: String
    public let title: String
    public let status: HTTPResponse.Status
    /// What was wrong with this request, in words a client developer understands.
    public let detail: String
    public var headers: HTTPFields = [:]
    /// The refused items of a batch, each with its own problem type and detail: the `errors` member, written
    /// only when there are some.
    public var errors: [ItemProblem] = []

    /// One refused item of a batch: `{"index": 3, "transaction_id": "…", "type": "…", "detail": "…"}`.
    public struct ItemProblem: Equatable, Sendable {
        public let index: Int
        public let transactionID: TransactionID
        public let type: String
        public let detail: String
    }

    public init(type: String = "about:blank", status: HTTPResponse.Status, title: String? = nil, detail: String) {
        self.type = type
        self.status = status
        self.title = title ?? status.reasonPhrase
        self.detail = detail
    }

    /// Problem types are tag URIs (RFC 4151): stable names that RFC 9457 allows to be non-dereferenceable.
    static func type(_ name: String) -> String { "tag:account-service,2026:\(name)" }

    static func badRequest(_ detail: String) -> Problem {
        Problem(type: type("invalid-request"), status: .badRequest, title: "Invalid request", detail: detail)
    }

    /// 503 with `Retry-After`: the service knows when a retry is worth sending.
    static func unavailable(_ detail: String, retryAfterSeconds seconds: Int) -> Problem {
        var problem = Problem(status: .serviceUnavailable, detail: detail)
        problem.headers[.retryAfter] = String(seconds)
        return problem
    }

    /// Client input echoed in a detail, shortened so that a huge header cannot make a huge response.
    static func quoted(_ text: some StringProtocol) -> String {
        text.count <= 64 ? "'\(text)'" : "'\(text.prefix(64))…'"
    }

    /// Written by the same ``JSONWriter`` as every success body.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = Response(status: status, jsonBody: Body(problem: self), contentType: "application/problem+json")
        for field in headers { response.headers.append(field) }
        return response
    }

    private struct Body: JSONBody {
        let problem: Problem

        func write(to json: inout JSONWriter) {
            json.object { json in
                json.key("type")
                json.value(problem.type)
                json.key("title")
                json.value(problem.title)
                json.key("status")
                json.value(Int64(problem.status.code))
                json.key("detail")
                json.value(problem.detail)
                if !problem.errors.isEmpty {
                    json.key("errors")
                    json.array(problem.errors) { json, item in
                        json.object { json in
                            json.key("index")
                            json.value(Int64(item.index))
                            json.key("transaction_id")
                            json.value(item.transactionID)
                            json.key("type")
                            json.value(item.type)
                            json.key("detail")
                            json.value(item.detail)
                        }
                    }
                }
            }
        }
    }
}

extension Problem {
    /// How a conflict names a record that is not an ordinary posting: " as a hold", " as the post of hold …".
    static func kind(of role: Transaction.Role) -> String {
        switch role {
        case .posting: ""
        case .hold: " as a hold"
        case .post(let hold): " as the post of hold \(hold)"
        case .void(let hold, _): " as the void of hold \(hold)"
        }
    }

    /// The problem a refused ledger operation answers with.
    init(_ error: LedgerError) {
        switch error {
        case .idempotencyConflict(let requested, let recorded):
            let differs =
                requested.accountID == recorded.accountID && requested.amount == recorded.amount
                    && requested.role == recorded.role
                ? " (its metadata differs)" : ""
            self.init(
                type: Self.type("idempotency-conflict"), status: .unprocessableContent,
                title: "Transaction-Id already used",
                detail: "Transaction \(requested.id) is already recorded\(Self.kind(of: recorded.role)) for account "
                    + "\(recorded.accountID) with amount \(recorded.amount) and metadata \(recorded.metadata); it "
                    + "cannot be reused\(Self.kind(of: requested.role)) for account \(requested.accountID) with amount "
                    + "\(requested.amount) and metadata \(requested.metadata)\(differs).")
        case .balanceOutOfRange(let transaction):
            self.init(
                type: Self.type("balance-out-of-range"), status: .unprocessableContent,
                title: "Balance out of range",
                detail: "Amount \(transaction.amount) would take the balance of account \(transaction.accountID) "
                    + "outside the signed 64-bit range (\(Int64.min) to \(Int64.max)); nothing was recorded.")
        case .insufficientFunds(let transaction, let minimum, let resulting):
            self.init(
                type: Self.type("insufficient-funds"), status: .unprocessableContent, title: "Insufficient funds",
                detail: "Amount \(transaction.amount) would take account \(transaction.accountID) to \(resulting) "
                    + "(its balance and open holds), below its minimum balance \(minimum); nothing was recorded.")
        case .limitExceeded(let transaction, let maximum, let resulting):
            self.init(
                type: Self.type("limit-exceeded"), status: .unprocessableContent, title: "Balance limit exceeded",
                detail: "Amount \(transaction.amount) would take account \(transaction.accountID) to \(resulting) "
                    + "(its balance and open holds), above its maximum balance \(maximum); nothing was recorded.")
        case .batchRefused(let refused):
            self.init(
                type: Self.type("batch-refused"), status: .unprocessableContent, title: "Batch refused",
                detail: refused.count == 1
                    ? "Item \(refused[0].index) of the batch was refused (see errors); nothing was recorded."
                    : "\(refused.count) items of the batch were refused (see errors); nothing was recorded.")
            errors = refused.map { item in
                let problem = Problem(item.reason)
                return ItemProblem(
                    index: item.index, transactionID: item.id,
                    type: problem.type, detail: problem.detail)
            }
        case .unbalanced(let sum, let currency):
            self.init(
                type: Self.type("unbalanced"), status: .unprocessableContent, title: "Batch not balanced",
                detail: "The batch is posted as balanced, but its amounts"
                    + (currency.map { " in \($0)" } ?? "") + " sum to \(sum), not 0; nothing was recorded.")
        case .currencyMismatch(let transaction, let requested, let account):
            self.init(
                type: Self.type("currency-mismatch"), status: .unprocessableContent, title: "Currency mismatch",
                detail: "Transaction \(transaction.id) names currency \(requested), but account "
                    + "\(transaction.accountID) " + (account.map { "holds \($0)" } ?? "has no currency")
                    + "; nothing was recorded.")
        case .currencyFixed(let account, let currency, let requested):
            self.init(
                type: Self.type("currency-fixed"), status: .unprocessableContent, title: "Currency fixed",
                detail: "Account \(account) has transactions in " + (currency ?? "no currency")
                    + ", so its currency cannot change to " + (requested ?? "none") + "; nothing was changed.")
        case .unknownHold(let hold):
            self.init(
                type: Self.type("unknown-hold"), status: .unprocessableContent, title: "Unknown hold",
                detail: "No hold has id \(hold); nothing was recorded.")
        case .holdResolved(let hold, let resolution):
            let action = if case .post = resolution.role { "posted" } else { "voided" }
            self.init(
                type: Self.type("hold-resolved"), status: .unprocessableContent, title: "Hold already resolved",
                detail: "Hold \(hold) was \(action) already, by transaction \(resolution.id); a hold is resolved once. "
                    + "Nothing was recorded.")
        case .holdExpired(let hold, let expiresAt):
            self.init(
                type: Self.type("hold-expired"), status: .unprocessableContent, title: "Hold expired",
                detail: "Hold \(hold) expired at \(expiresAt.rfc3339): it can no longer be posted or voided, and its "
                    + "funds are released. Nothing was recorded.")
        case .invalidResolution(let resolution, let held):
            let amount = if case .post(let amount?) = resolution.action { "\(amount)" } else { "the held amount" }
            self.init(
                type: Self.type("invalid-resolution"), status: .unprocessableContent, title: "Invalid resolution",
                detail: "Transaction \(resolution.id) would post \(amount) of hold \(resolution.hold), which holds "
                    + "\(held): a post has the held amount's sign and at most its magnitude (void the hold to post "
                    + "nothing). Nothing was recorded.")
        case .holdNotExpired(let hold, let expiresAt):
            self.init(
                type: Self.type("hold-not-expired"), status: .unprocessableContent, title: "Hold not expired",
                detail: "Hold \(hold) "
                    + (expiresAt.map { "expires at \($0.rfc3339)" } ?? "never expires") + "; nothing was recorded.")
        case .accountNotFound(let account):
            self.init(status: .notFound, detail: "Account \(account) does not exist.")
        case .noTransactionBy(let account, let instant):
            self.init(
                status: .notFound,
                detail: "Account \(account) had no transaction at or before \(instant.rfc3339).")
        case .transactionNotFound(let id):
            self.init(status: .notFound, detail: "No transaction has id \(id).")
        case .unavailable:
            self.init(status: .serviceUnavailable, detail: "The service is shutting down; retry the request.")
        }
    }
}

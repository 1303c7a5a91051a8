import AccountLedger
import Hummingbird

/// A validated PUT /accounts/{account_id} body: `{"currency": "USD", "minimum_balance": 0, "maximum_balance": null,
/// "metadata": {…}}`, the account's settings whole. An omitted member (or `null`) takes its default: no currency,
/// no limit, empty metadata. Unknown members are ignored, as in the other bodies.
struct AccountSettingsRequest {
    /// As POST /amount's (``AmountRequest/maximumBodySize``): the metadata at its largest, and the rest.
    static let maximumBodySize = AmountRequest.maximumBodySize

    let settings: AccountSettings

    /// Validates the request in the order a client would fix it: media type (415), size (413), content (400).
    init(_ request: Request, bodies: RequestBodies = RequestBodies()) async throws {
        try request.requireJSONBody()
        settings = try await request.withBody(upTo: Self.maximumBodySize, bodies: bodies, Self.decodeBody)
    }

    static func decodeBody(_ bytes: UnsafeRawBufferPointer) throws -> AccountSettings {
        var reader = JSONBodyReader(bytes)
        var currency: Result<String?, Problem>?
        var minimum: Result<Int64?, Problem>?
        var maximum: Result<Int64?, Problem>?
        var metadata: Result<Metadata, Problem>?
        var repeated: Problem?
        do {
            guard !bytes.isEmpty else { throw Problem.badRequest("The body is empty; expected a JSON object.") }
            guard try reader.peekKind() == .object else {
                try reader.skipValue()
                try reader.expectEnd()
                throw Problem.badRequest(
                    "The body must be a JSON object with the account's settings (currency, minimum_balance, "
                        + "maximum_balance, metadata).")
            }
            try reader.readObject { reader, name in
                switch name {
                case "currency" where currency == nil:
                    currency = try MemberValues.currency(&reader, field: name)
                case "minimum_balance" where minimum == nil:
                    minimum = try MemberValues.limit(&reader, field: name)
                case "maximum_balance" where maximum == nil:
                    maximum = try MemberValues.limit(&reader, field: name)
                case "metadata" where metadata == nil:
                    metadata = try MemberValues.metadata(&reader, field: name)
                case "currency", "minimum_balance", "maximum_balance", "metadata":
                    repeated = repeated ?? .badRequest("The body has \(name) twice.")
                    try reader.skipValue()
                default:
                    try reader.skipValue()
                }
            }
            try reader.expectEnd()
        } catch let error as JSONBodyReader.SyntaxError {
            throw Problem.badRequest("The body is not valid JSON: \(error.reason) (at byte \(error.offset)).")
        }
        if let repeated { throw repeated }
        let rules = AccountRules(
            currency: try currency?.get() ?? nil, minimumBalance: try minimum?.get() ?? nil,
            maximumBalance: try maximum?.get() ?? nil)
        if let low = rules.minimumBalance, let high = rules.maximumBalance, low > high {
            throw Problem.badRequest("minimum_balance \(low) is above maximum_balance \(high).")
        }
        return AccountSettings(rules: rules, metadata: try metadata?.get() ?? .empty)
    }
}

import AccountLedger
import HTTPTypes
import Hummingbird
import NIOCore

/// A validated POST /amount request: the `Transaction-Id` header and the JSON body
/// `{"account_id": "<uuid>", "amount": <integer>}`, with an optional `currency` and `metadata`. Unknown body
/// members are ignored.
struct AmountRequest {
    /// Bodies are a few dozen bytes, or a few kilobytes with metadata: 32 members of 64 and 256 characters of
    /// four UTF-8 bytes each are 41 KB (61 KB with every character below U+10000 written as a `\uXXXX` escape);
    /// anything past this is refused with 413 without being read.
    static let maximumBodySize = 64 * 1024

    let transaction: Transaction
    /// The currency the client says the account holds (checked by the ledger), if it names one.
    let currency: String?

    /// Validates the request in the order a client would fix it: media type (415), the Transaction-Id
    /// header (400), the body's size (413), then its content (400).
    init(_ request: Request, bodies: RequestBodies = RequestBodies()) async throws {
        try request.requireJSONBody()
        guard let header = request.headers[.transactionID] else {
            throw Problem.badRequest("The Transaction-Id header is required: a UUID that names this transaction.")
        }
        guard let id = TransactionID(parsing: header) else {
            throw Problem.badRequest("The Transaction-Id header \(Problem.quoted(header)) is not a UUID.")
        }
        let members = try await request.withBody(upTo: Self.maximumBodySize, bodies: bodies, Self.decodeBody)
        transaction = Transaction(
            id: id, accountID: members.accountID, amount: members.amount, metadata: members.metadata)
        currency = members.currency
    }

    /// Decodes the JSON body, reporting the first thing wrong with it.
    static func decodeBody(
        _ bytes: UnsafeRawBufferPointer
    ) throws -> (accountID: AccountID, amount: Int64, currency: String?, metadata: Metadata) {
        var reader = JSONBodyReader(bytes)
        let members: PostingMembers
        do {
            guard !bytes.isEmpty else { throw Problem.badRequest("The body is empty; expected a JSON object.") }
            guard try reader.peekKind() == .object else {
                try reader.skipValue()
                try reader.expectEnd()
                throw Problem.badRequest("The body must be a JSON object with account_id and amount.")
            }
            members = try PostingMembers.read(&reader, subject: "The body", withTransactionID: false)
            try reader.expectEnd()
        } catch let error as JSONBodyReader.SyntaxError {
            throw Problem.badRequest("The body is not valid JSON: \(error.reason) (at byte \(error.offset)).")
        }
        if let repeated = members.repeated { throw repeated }
        if members.pendingID != nil || members.action != nil {
            throw Problem.badRequest(
                "The body has pending_id or action: a hold is posted or voided by an item of POST /transactions.")
        }
        return (
            try PostingMembers.required(members.accountID, "account_id", "a UUID string", subject: "The body"),
            try PostingMembers.required(members.amount, "amount", "an integer", subject: "The body"),
            try PostingMembers.optional(members.currency, absent: nil),
            try PostingMembers.optional(members.metadata, absent: .empty)
        )
    }
}

extension HTTPField.Name {
    static let transactionID = HTTPField.Name("Transaction-Id")!
}

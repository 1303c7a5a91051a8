import HTTPTypes
import Hummingbird
import NIOCore

/// What POST /amount and POST /transactions share: a JSON body of bounded size, and postings spelled alike.
extension Request {
    /// 415 unless the body is declared JSON (`application/json`, with or without parameters).
    func requireJSONBody() throws {
        guard let contentType = headers[.contentType] else {
            throw Problem(
                status: .unsupportedMediaType,
                detail: "The body must be JSON, sent with Content-Type: application/json.")
        }
        guard MediaType(from: contentType)?.isType(.applicationJson) == true else {
            throw Problem(
                status: .unsupportedMediaType,
                detail: "Content-Type \(Problem.quoted(contentType)) is not supported; send application/json.")
        }
    }

    /// The whole body, or 413 as soon as it is known to be larger than `limit`, without reading the rest.
    func collectBody(upTo limit: Int) async throws -> ByteBuffer {
        let tooLarge = Problem(status: .contentTooLarge, detail: "The body is larger than \(limit) bytes.")
        if let length = headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw tooLarge
        }
        do {
            return try await body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw tooLarge
        }
    }
}

/// The members of a posting in a JSON object: `account_id` and `amount`, and in a batch item `transaction_id`.
/// Members it does not know are skipped.
///
/// A wrong value or a member given twice is remembered, not thrown, so that a body that is not JSON at all is
/// reported as such, and the reader stays in step with the body.
struct PostingMembers {
    var transactionID: Result<TransactionID, Problem>?
    var accountID: Result<AccountID, Problem>?
    var amount: Result<Int64, Problem>?
    /// The first member given twice.
    var repeated: Problem?

    /// Reads the object at the reader's position. `subject` names it in a problem ("The body", "transactions[3]").
    static func read(
        _ reader: inout JSONBodyReader, subject: String, withTransactionID: Bool
    ) throws -> PostingMembers {
        var members = PostingMembers()
        try reader.readObject { reader, name in
            switch name {
            case "transaction_id" where withTransactionID && members.transactionID == nil:
                members.transactionID = try readIdentifier(&reader, name: name)
            case "account_id" where members.accountID == nil:
                members.accountID = try readIdentifier(&reader, name: name)
            case "amount" where members.amount == nil:
                members.amount = try readAmount(&reader)
            case "transaction_id" where withTransactionID, "account_id", "amount":
                members.repeated = members.repeated ?? Problem.badRequest("\(subject) has \(name) twice.")
                try reader.skipValue()
            default:
                try reader.skipValue()
            }
        }
        return members
    }

    /// The value of a member that must be present, or the problem of a missing or wrong one.
    static func required<Value>(
        _ member: Result<Value, Problem>?, _ name: String, _ kind: String, subject: String
    ) throws -> Value {
        guard let member else { throw Problem.badRequest("\(subject) has no \(name): \(kind) is required.") }
        return try member.get()
    }

    private static func readIdentifier<Kind>(
        _ reader: inout JSONBodyReader, name: String
    ) throws -> Result<Identifier<Kind>, Problem> {
        guard try reader.peekKind() == .string else {
            try reader.skipValue()
            return .failure(.badRequest("\(name) must be a string holding a UUID."))
        }
        return try reader.readString { text in
            guard let id = Identifier<Kind>(parsing: text) else {
                return .failure(
                    .badRequest("\(name) \(Problem.quoted(String(decoding: text, as: UTF8.self))) is not a UUID."))
            }
            return .success(id)
        }
    }

    private static func readAmount(_ reader: inout JSONBodyReader) throws -> Result<Int64, Problem> {
        guard try reader.peekKind() == .number else {
            try reader.skipValue()
            return .failure(.badRequest("amount must be a JSON integer, not a string, boolean, null, array or object."))
        }
        let (literal, isInteger) = try reader.readNumberLiteral()
        guard isInteger else {
            return .failure(
                .badRequest("amount must be an integer; \(Problem.quoted(literal)) has a fraction or an exponent."))
        }
        guard let amount = Int64(literal) else {
            return .failure(
                .badRequest(
                    "amount \(Problem.quoted(literal)) is outside the signed 64-bit range (\(Int64.min) to \(Int64.max))."
                ))
        }
        return .success(amount)
    }
}

import HTTPTypes
import Hummingbird
import NIOCore

/// A validated POST /amount request: the `Transaction-Id` header and the JSON body
/// `{"account_id": "<uuid>", "amount": <integer>}`. Unknown body members are ignored.
struct AmountRequest {
    /// Bodies are a few dozen bytes; anything past this is refused with 413 without being read.
    static let maximumBodySize = 16 * 1024

    let transaction: Transaction

    /// Validates the request in the order a client would fix it: media type (415), the Transaction-Id
    /// header (400), the body's size (413), then its content (400).
    init(_ request: Request) async throws {
        guard let contentType = request.headers[.contentType] else {
            throw Problem(
                status: .unsupportedMediaType,
                detail: "The body must be JSON, sent with Content-Type: application/json.")
        }
        guard MediaType(from: contentType)?.isType(.applicationJson) == true else {
            throw Problem(
                status: .unsupportedMediaType,
                detail: "Content-Type \(Problem.quoted(contentType)) is not supported; send application/json.")
        }
        guard let header = request.headers[.transactionID] else {
            throw Problem.badRequest("The Transaction-Id header is required: a UUID that names this transaction.")
        }
        guard let id = TransactionID(parsing: header) else {
            throw Problem.badRequest("The Transaction-Id header \(Problem.quoted(header)) is not a UUID.")
        }
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > Self.maximumBodySize {
            throw Self.tooLarge
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maximumBodySize)
        } catch is NIOTooManyBytesError {
            throw Self.tooLarge
        }
        let (accountID, amount) = try body.withUnsafeReadableBytes { try Self.decodeBody($0) }
        transaction = Transaction(id: id, accountID: accountID, amount: amount)
    }

    /// Decodes the JSON body, reporting the first thing wrong with it.
    static func decodeBody(_ bytes: UnsafeRawBufferPointer) throws -> (AccountID, Int64) {
        var reader = JSONBodyReader(bytes)
        var accountID: Result<AccountID, Problem>?
        var amount: Result<Int64, Problem>?
        do {
            guard !bytes.isEmpty else { throw Problem.badRequest("The body is empty; expected a JSON object.") }
            guard try reader.peekKind() == .object else {
                try reader.skipValue()
                try reader.expectEnd()
                throw Problem.badRequest("The body must be a JSON object with account_id and amount.")
            }
            try reader.readObject { reader, name in
                switch name {
                case "account_id":
                    guard accountID == nil else { throw Problem.badRequest("The body has account_id twice.") }
                    accountID = try readAccountID(&reader)
                case "amount":
                    guard amount == nil else { throw Problem.badRequest("The body has amount twice.") }
                    amount = try readAmount(&reader)
                default:
                    try reader.skipValue()
                }
            }
            try reader.expectEnd()
        } catch let error as JSONBodyReader.SyntaxError {
            throw Problem.badRequest("The body is not valid JSON: \(error.reason) (at byte \(error.offset)).")
        }
        guard let accountID else { throw Problem.badRequest("The body has no account_id: a UUID string is required.") }
        guard let amount else { throw Problem.badRequest("The body has no amount: an integer is required.") }
        return (try accountID.get(), try amount.get())
    }

    /// A wrong value is remembered, not thrown, so that a body that is not JSON at all is reported as such.
    private static func readAccountID(_ reader: inout JSONBodyReader) throws -> Result<AccountID, Problem> {
        guard try reader.peekKind() == .string else {
            try reader.skipValue()
            return .failure(.badRequest("account_id must be a string holding a UUID."))
        }
        let text = try reader.readString()
        guard let accountID = AccountID(parsing: text) else {
            return .failure(.badRequest("account_id \(Problem.quoted(text)) is not a UUID."))
        }
        return .success(accountID)
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

    private static let tooLarge = Problem(
        status: .contentTooLarge, detail: "The body is larger than \(maximumBodySize) bytes.")
}

extension HTTPField.Name {
    static let transactionID = HTTPField.Name("Transaction-Id")!
}

import AccountLedger
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

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

    /// `decode` applied to the whole body, or 413 as soon as the body is known to be larger than `limit`,
    /// without reading the rest. The body's bytes count against `bodies` while they are read and decoded (503
    /// with Retry-After when that would pass its bound).
    func withBody<T>(
        upTo limit: Int, bodies: RequestBodies, _ decode: (UnsafeRawBufferPointer) throws -> T
    ) async throws -> T {
        let declared = headers[.contentLength].flatMap { Int($0) }
        if let declared, declared > limit {
            throw Problem(status: .contentTooLarge, detail: "The body is larger than \(limit) bytes.")
        }
        // A body of unknown length (chunked) may take up to the limit.
        let reserved = declared ?? limit
        try bodies.reserve(reserved)
        defer { bodies.release(reserved) }
        let body: ByteBuffer
        do {
            body = try await self.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw Problem(status: .contentTooLarge, detail: "The body is larger than \(limit) bytes.")
        }
        return try body.withUnsafeReadableBytes(decode)
    }
}

/// The memory the request bodies being read may take, all of them together. Bodies are read whole before they
/// are decoded, so without a bound a few hundred clients sending large batches slowly could take gigabytes.
/// (The time a body may take is bounded by the connection: ``HTTP1RequestHeadHandler``.)
public final class RequestBodies: Sendable {
    /// 256 MiB: 32 batches of the largest size at once.
    public static let defaultMemory = 256 << 20

    /// The most bytes the bodies being read may take together.
    public let memory: Int
    private let inFlight = Mutex<Int>(0)

    public init(memory: Int = defaultMemory) {
        self.memory = memory
    }

    /// Counts `bytes` against the bound, or throws 503 with Retry-After when they do not fit.
    func reserve(_ bytes: Int) throws {
        let fits = inFlight.withLock { inFlight in
            // A lone body larger than the bound still gets in, or it could never be sent.
            guard inFlight == 0 || inFlight + bytes <= memory else { return false }
            inFlight += bytes
            return true
        }
        guard fits else {
            throw Problem.unavailable(
                "The service is reading as many request bodies as its memory bound allows; retry shortly.",
                retryAfterSeconds: 1)
        }
    }

    /// Stops counting `bytes`. When the last large body is done, gives the memory it took back to the system
    /// (glibc keeps freed memory otherwise, and the process would stay at its peak).
    func release(_ bytes: Int) {
        let idle = inFlight.withLock { inFlight in
            inFlight -= bytes
            return inFlight == 0
        }
        #if canImport(Glibc)
        if idle, bytes >= Self.trimmedAfter { _ = glibcMallocTrim(0) }
        #endif
    }

    /// Bodies of at least this many bytes give their memory back when they are done.
    static let trimmedAfter = 1 << 20
}

#if canImport(Glibc)
/// glibc's `malloc_trim` (declared in malloc.h, which the Glibc module does not bring in): returns the free
/// memory at the top of the heap and in every arena to the system.
@_silgen_name("malloc_trim")
private func glibcMallocTrim(_ pad: Int) -> Int32
#endif

/// The members of a posting in a JSON object: `account_id`, `amount`, optionally `currency` (checked against the
/// account's) and `metadata`, and in a batch item `transaction_id`. Members it does not know are skipped.
///
/// A wrong value or a member given twice is remembered, not thrown, so that a body that is not JSON at all is
/// reported as such, and the reader stays in step with the body.
struct PostingMembers {
    var transactionID: Result<TransactionID, Problem>?
    var accountID: Result<AccountID, Problem>?
    var amount: Result<Int64, Problem>?
    var currency: Result<String?, Problem>?
    var metadata: Result<Metadata, Problem>?
    /// A resolution item's hold and action (`"post"` or `"void"`).
    var pendingID: Result<TransactionID, Problem>?
    var action: Result<ResolutionAction, Problem>?
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
            case "currency" where members.currency == nil:
                members.currency = try MemberValues.currency(&reader, field: name)
            case "metadata" where members.metadata == nil:
                members.metadata = try MemberValues.metadata(&reader, field: name)
            case "pending_id" where members.pendingID == nil:
                members.pendingID = try readIdentifier(&reader, name: name)
            case "action" where members.action == nil:
                members.action = try readAction(&reader)
            case "transaction_id" where withTransactionID, "account_id", "amount", "currency", "metadata", "pending_id",
                "action":
                members.repeated = members.repeated ?? Problem.badRequest("\(subject) has \(name) twice.")
                try reader.skipValue()
            default:
                try reader.skipValue()
            }
        }
        return members
    }

    /// The value of an optional member (`absent` when it is not there), or its problem.
    static func optional<Value>(_ member: Result<Value, Problem>?, absent: Value) throws -> Value {
        try member?.get() ?? absent
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

    enum ResolutionAction { case post, void }

    private static func readAction(_ reader: inout JSONBodyReader) throws -> Result<ResolutionAction, Problem> {
        let wrong = Problem.badRequest(#"action must be "post" or "void"."#)
        guard try reader.peekKind() == .string else {
            try reader.skipValue()
            return .failure(wrong)
        }
        return try reader.readString { text in
            switch String(decoding: text, as: UTF8.self) {
            case "post": .success(.post)
            case "void": .success(.void)
            default: .failure(wrong)
            }
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

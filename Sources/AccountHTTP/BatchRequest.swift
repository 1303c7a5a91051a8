import AccountLedger
import Hummingbird
import NIOCore

/// A validated POST /transactions request: `{"transactions": [{"transaction_id": "<uuid>", "account_id":
/// "<uuid>", "amount": <integer>}, …], "balanced": <boolean>, "pending": <boolean>, "timeout": <seconds>}`, 1 to
/// ``Batch/maximumCount`` items; `balanced` and `pending` are optional (false), `timeout` (1 to
/// ``Batch/maximumTimeout``) only with `pending`. An item with `pending_id` resolves a hold: `{"transaction_id":
/// "<uuid>", "pending_id": "<uuid>", "action": "post"|"void", "amount": <integer>}` (amount only for a post, and
/// optional), never in a pending batch. Unknown members are ignored, as in POST /amount.
struct BatchRequest {
    /// Fits ``Batch/maximumCount`` items of the longest valid spelling without whitespace and without metadata
    /// (every character of the names and UUIDs written as a `\uXXXX` escape and a 20-character amount, 650 bytes
    /// an item), or items of about a kilobyte of metadata each.
    static let maximumBodySize = 16 * 1024 * 1024

    let batch: Batch

    /// Validates the request in the order a client would fix it: media type (415), size (413), content (400).
    init(_ request: Request, bodies: RequestBodies = RequestBodies()) async throws {
        try request.requireJSONBody()
        batch = try await request.withBody(upTo: Self.maximumBodySize, bodies: bodies, Self.decodeBody)
    }

    /// Decodes the JSON body in one pass over it, reporting the first thing wrong with it; an item's problem
    /// names its index.
    static func decodeBody(_ bytes: UnsafeRawBufferPointer) throws -> Batch {
        var reader = JSONBodyReader(bytes)
        var items: [Batch.Item]?
        var currencies: [Int: String] = [:]
        var balanced: Result<Bool, Problem>?
        var pending: Result<Bool, Problem>?
        var timeout: Result<Int64, Problem>?
        /// The first wrong item value: reported once the whole body is known to be JSON.
        var firstItemProblem: Problem?
        do {
            guard !bytes.isEmpty else { throw Problem.badRequest("The body is empty; expected a JSON object.") }
            guard try reader.peekKind() == .object else {
                try reader.skipValue()
                try reader.expectEnd()
                throw Problem.badRequest("The body must be a JSON object with a transactions array.")
            }
            try reader.readObject { reader, name in
                switch name {
                case "transactions":
                    guard items == nil else { throw Problem.badRequest("The body has transactions twice.") }
                    items = try readItems(&reader, currencies: &currencies, firstProblem: &firstItemProblem)
                case "balanced":
                    guard balanced == nil else { throw Problem.badRequest("The body has balanced twice.") }
                    balanced = try readFlag(&reader, name)
                case "pending":
                    guard pending == nil else { throw Problem.badRequest("The body has pending twice.") }
                    pending = try readFlag(&reader, name)
                case "timeout":
                    guard timeout == nil else { throw Problem.badRequest("The body has timeout twice.") }
                    timeout = try readTimeout(&reader)
                default:
                    try reader.skipValue()
                }
            }
            try reader.expectEnd()
        } catch let error as JSONBodyReader.SyntaxError {
            throw Problem.badRequest("The body is not valid JSON: \(error.reason) (at byte \(error.offset)).")
        }
        guard let items else {
            throw Problem.badRequest(
                "The body has no transactions: an array of 1 to \(Batch.maximumCount) is required.")
        }
        if let firstItemProblem { throw firstItemProblem }
        let isPending = try pending?.get() ?? false
        let seconds = try timeout?.get()
        if seconds != nil, !isPending {
            throw Problem.badRequest("timeout is for holds: it needs \"pending\": true.")
        }
        if isPending, let index = items.firstIndex(where: { if case .resolution = $0 { true } else { false } }) {
            throw Problem.badRequest(
                "transactions[\(index)] resolves a hold (pending_id): a pending batch holds only new holds.")
        }
        return Batch(
            items: items, balanced: try balanced?.get() ?? false, pending: isPending, timeout: seconds,
            currencies: currencies)
    }

    private static func readFlag(_ reader: inout JSONBodyReader, _ name: String) throws -> Result<Bool, Problem> {
        guard try reader.peekKind() == .bool else {
            try reader.skipValue()
            return .failure(.badRequest("\(name) must be true or false."))
        }
        return .success(try reader.readBool())
    }

    private static func readTimeout(_ reader: inout JSONBodyReader) throws -> Result<Int64, Problem> {
        let wrong = Problem.badRequest(
            "timeout must be a whole number of seconds from 1 to \(Batch.maximumTimeout) (a year).")
        guard try reader.peekKind() == .number else {
            try reader.skipValue()
            return .failure(wrong)
        }
        let (literal, isInteger) = try reader.readNumberLiteral()
        guard isInteger, let seconds = Int64(literal), (1...Batch.maximumTimeout).contains(seconds) else {
            return .failure(wrong)
        }
        return .success(seconds)
    }

    /// The items, each straight from the body into a ``Batch/Item``. The first problem with them (a wrong
    /// item, none, or more than ``Batch/maximumCount``) is kept in `firstProblem`, and the rest is only checked
    /// for syntax.
    private static func readItems(
        _ reader: inout JSONBodyReader, currencies: inout [Int: String], firstProblem: inout Problem?
    ) throws -> [Batch.Item] {
        guard try reader.peekKind() == .array else {
            try reader.skipValue()
            firstProblem = firstProblem ?? .badRequest("transactions must be an array of objects.")
            return []
        }
        var transactions: [Batch.Item] = []
        try reader.readArray { reader, index in
            let subject = "transactions[\(index)]"
            guard index < Batch.maximumCount else {
                try reader.skipValue()
                if index == Batch.maximumCount {
                    firstProblem =
                        firstProblem ?? .badRequest("transactions holds more than \(Batch.maximumCount) items.")
                }
                return
            }
            guard try reader.peekKind() == .object else {
                try reader.skipValue()
                firstProblem = firstProblem ?? .badRequest("\(subject) must be an object.")
                return
            }
            do {
                let members = try PostingMembers.read(&reader, subject: subject, withTransactionID: true)
                guard firstProblem == nil else { return }
                if let repeated = members.repeated { throw repeated }
                transactions.append(try batchItem(members, subject))
                if let currency = try optionalItem(members.currency, absent: nil, subject) {
                    currencies[index] = currency
                }
            } catch let problem as Problem {
                firstProblem = firstProblem ?? problem
            }
        }
        if transactions.isEmpty, firstProblem == nil {
            firstProblem = .badRequest("transactions is empty; a batch holds 1 to \(Batch.maximumCount) items.")
        }
        return transactions
    }

    /// A posting, or (with `pending_id`) a resolution, which takes its account from its hold.
    private static func batchItem(_ members: PostingMembers, _ subject: String) throws -> Batch.Item {
        let id = try item(members.transactionID, "transaction_id", "a UUID string", subject)
        let metadata = try optionalItem(members.metadata, absent: .empty, subject)
        guard members.pendingID != nil else {
            if members.action != nil {
                throw Problem.badRequest("\(subject) has an action but no pending_id: the hold it resolves.")
            }
            return .posting(
                Transaction(
                    id: id, accountID: try item(members.accountID, "account_id", "a UUID string", subject),
                    amount: try item(members.amount, "amount", "an integer", subject), metadata: metadata))
        }
        let hold = try item(members.pendingID, "pending_id", "a UUID string", subject)
        if members.accountID != nil {
            throw Problem.badRequest(
                "\(subject) resolves a hold (pending_id), whose account it takes: it has no account_id.")
        }
        let amount = try optionalItem(members.amount.map { $0.map(Optional.some) }, absent: nil, subject)
        let action: Resolution.Action
        switch try item(members.action, "action", #""post" or "void""#, subject) {
        case .post: action = .post(amount: amount)
        case .void:
            if amount != nil {
                throw Problem.badRequest("\(subject) voids a hold: a void has no amount (it releases the whole hold).")
            }
            action = .void
        }
        return .resolution(Resolution(id: id, hold: hold, action: action, metadata: metadata))
    }

    /// An optional member of an item, or its problem with the item's index in front.
    private static func optionalItem<Value>(
        _ member: Result<Value, Problem>?, absent: Value, _ subject: String
    ) throws -> Value {
        do {
            return try PostingMembers.optional(member, absent: absent)
        } catch let problem as Problem {
            throw Problem.badRequest("\(subject): \(problem.detail)")
        }
    }

    /// A member of an item, or its problem with the item's index in front.
    private static func item<Value>(
        _ member: Result<Value, Problem>?, _ name: String, _ kind: String, _ subject: String
    ) throws -> Value {
        do {
            return try PostingMembers.required(member, name, kind, subject: subject)
        } catch let problem as Problem where member != nil {
            throw Problem.badRequest("\(subject): \(problem.detail)")
        }
    }
}

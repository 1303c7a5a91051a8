import AccountLedger
import Hummingbird
import NIOCore

/// A validated POST /transactions request: `{"transactions": [{"transaction_id": "<uuid>", "account_id":
/// "<uuid>", "amount": <integer>}, …], "balanced": <boolean>}`, 1 to ``Batch/maximumCount`` items; `balanced`
/// is optional (false). Unknown members are ignored, as in POST /amount.
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
        var transactions: [Transaction]?
        var currencies: [Int: String] = [:]
        var balanced: Result<Bool, Problem>?
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
                    guard transactions == nil else { throw Problem.badRequest("The body has transactions twice.") }
                    transactions = try readItems(&reader, currencies: &currencies, firstProblem: &firstItemProblem)
                case "balanced":
                    guard balanced == nil else { throw Problem.badRequest("The body has balanced twice.") }
                    guard try reader.peekKind() == .bool else {
                        try reader.skipValue()
                        balanced = .failure(.badRequest("balanced must be true or false."))
                        return
                    }
                    balanced = .success(try reader.readBool())
                default:
                    try reader.skipValue()
                }
            }
            try reader.expectEnd()
        } catch let error as JSONBodyReader.SyntaxError {
            throw Problem.badRequest("The body is not valid JSON: \(error.reason) (at byte \(error.offset)).")
        }
        guard let transactions else {
            throw Problem.badRequest(
                "The body has no transactions: an array of 1 to \(Batch.maximumCount) is required.")
        }
        if let firstItemProblem { throw firstItemProblem }
        return Batch(transactions, balanced: try balanced?.get() ?? false, currencies: currencies)
    }

    /// The items, each straight from the body into a ``Transaction``. The first problem with them (a wrong
    /// item, none, or more than ``Batch/maximumCount``) is kept in `firstProblem`, and the rest is only checked
    /// for syntax.
    private static func readItems(
        _ reader: inout JSONBodyReader, currencies: inout [Int: String], firstProblem: inout Problem?
    ) throws -> [Transaction] {
        guard try reader.peekKind() == .array else {
            try reader.skipValue()
            firstProblem = firstProblem ?? .badRequest("transactions must be an array of objects.")
            return []
        }
        var transactions: [Transaction] = []
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
                transactions.append(
                    Transaction(
                        id: try item(members.transactionID, "transaction_id", "a UUID string", subject),
                        accountID: try item(members.accountID, "account_id", "a UUID string", subject),
                        amount: try item(members.amount, "amount", "an integer", subject),
                        metadata: try optionalItem(members.metadata, absent: .empty, subject)))
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

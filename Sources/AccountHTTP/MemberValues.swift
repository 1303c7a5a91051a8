import AccountLedger

/// Readers of the member values that postings and account settings share: a currency code, a metadata object and
/// a balance limit. Each returns the value or the problem with it (naming the field, e.g. `metadata.owner`), and
/// always consumes the value, so that the reader stays in step with the body. `null` stands for "none".
enum MemberValues {
    /// A currency code (``AccountSettings/isCurrencyCode(_:)``), or nil for `null`.
    static func currency(_ reader: inout JSONBodyReader, field: String) throws -> Result<String?, Problem> {
        switch try reader.peekKind() {
        case .null:
            try reader.skipValue()
            return .success(nil)
        case .string:
            let text = try reader.readString()
            guard AccountSettings.isCurrencyCode(text) else {
                return .failure(
                    .badRequest(
                        "\(field) \(Problem.quoted(text)) is not a currency code: 1 to 16 of A-Z, 0-9 and _, "
                            + "starting with a letter (USD, EUR, POINTS)."))
            }
            return .success(text)
        default:
            try reader.skipValue()
            return .failure(.badRequest("\(field) must be a string holding a currency code, or null."))
        }
    }

    /// A metadata object of string members (``Metadata``); `null` is the empty one.
    static func metadata(_ reader: inout JSONBodyReader, field: String) throws -> Result<Metadata, Problem> {
        switch try reader.peekKind() {
        case .null:
            try reader.skipValue()
            return .success(.empty)
        case .object:
            var members: [(key: String, value: String)] = []
            var problem: Problem?
            try reader.readObject { reader, key in
                guard try reader.peekKind() == .string else {
                    try reader.skipValue()
                    problem = problem ?? .badRequest("\(field).\(key): the value must be a string.")
                    return
                }
                let value = try reader.readString()
                if problem == nil, let nul = [key, value].first(where: { $0.unicodeScalars.contains("\u{0}") }) {
                    problem = .badRequest(
                        "\(field).\(key): the \(nul == key ? "key" : "value") holds U+0000, which is not allowed.")
                }
                members.append((key, value))
            }
            if let problem { return .failure(problem) }
            return Metadata.validated(members, field: field).mapError { .badRequest("\($0).") }
        default:
            try reader.skipValue()
            return .failure(.badRequest("\(field) must be an object whose values are strings."))
        }
    }

    /// A balance limit: an integer in the signed 64-bit range, or nil for `null`.
    static func limit(_ reader: inout JSONBodyReader, field: String) throws -> Result<Int64?, Problem> {
        switch try reader.peekKind() {
        case .null:
            try reader.skipValue()
            return .success(nil)
        case .number:
            let (literal, isInteger) = try reader.readNumberLiteral()
            guard isInteger, let value = Int64(literal) else {
                return .failure(
                    .badRequest(
                        "\(field) \(Problem.quoted(literal)) must be an integer from \(Int64.min) to \(Int64.max), "
                            + "or null."))
            }
            return .success(value)
        default:
            try reader.skipValue()
            return .failure(.badRequest("\(field) must be an integer or null."))
        }
    }
}

/// String members a client attaches to an account or a transaction: at most ``maximumCount``, each key 1 to
/// ``maximumKeyLength`` characters (Unicode scalars), each value at most ``maximumValueLength``.
///
/// Kept exactly: keys and values are compared and ordered by their UTF-8 bytes, never by Swift's canonical
/// equivalence, so "é" written as one scalar and as two are two different keys, as they are in JSON. The members
/// are kept sorted by key, so two objects with the same members are equal whatever order they were written in,
/// and ``canonicalJSON`` is the one text of each.
public struct Metadata: Sendable, Hashable, CustomStringConvertible {
    /// A key and its value, equal to another only byte for byte (UTF-8).
    public struct Member: Sendable, Hashable {
        public let key: String
        public let value: String

        public init(key: String, value: String) {
            self.key = key
            self.value = value
        }

        public static func == (lhs: Member, rhs: Member) -> Bool {
            lhs.key.utf8.elementsEqual(rhs.key.utf8) && lhs.value.utf8.elementsEqual(rhs.value.utf8)
        }

        public func hash(into hasher: inout Hasher) {
            for byte in key.utf8 { hasher.combine(byte) }
            hasher.combine(0xFF as UInt8)  // not a UTF-8 byte: ends the key
            for byte in value.utf8 { hasher.combine(byte) }
        }
    }

    public static let maximumCount = 32
    public static let maximumKeyLength = 64
    public static let maximumValueLength = 256

    /// Sorted by the UTF-8 bytes of their keys, which are unique.
    public let members: [Member]

    public static let empty = Metadata(sorted: [])

    /// The members as a JSON object, sorted by key, without whitespace, escaping only what JSON requires
    /// (`"`, `\` and control characters): the form the stores keep (nil when empty, so that no metadata costs
    /// nothing). Made once, when the metadata is.
    public let canonicalJSON: String?

    private init(sorted members: [Member]) {
        self.members = members
        canonicalJSON = Self.encoded(members)
    }

    private init(sorted members: [Member], canonicalJSON: String) {
        self.members = members
        self.canonicalJSON = canonicalJSON
    }

    public static func == (lhs: Metadata, rhs: Metadata) -> Bool { lhs.members == rhs.members }

    public func hash(into hasher: inout Hasher) { hasher.combine(members) }

    /// The members, or what is wrong with them: a key given twice, too many members, a key or value too long.
    /// The error names the member (`metadata.owner: …`) with `field` in front.
    public static func validated(
        _ members: [(key: String, value: String)], field: String
    ) -> Result<Metadata, MetadataError> {
        guard members.count <= maximumCount else {
            return .failure(
                MetadataError(
                    field: field, problem: "holds \(members.count) members; at most \(maximumCount) are allowed"))
        }
        let sorted = members.map { Member(key: $0.key, value: $0.value) }.sorted {
            $0.key.utf8.lexicographicallyPrecedes($1.key.utf8)
        }
        for (index, member) in sorted.enumerated() {
            // A key past its bound is named by its beginning.
            let shown =
                member.key.unicodeScalars.count <= maximumKeyLength
                ? member.key
                : String(String.UnicodeScalarView(member.key.unicodeScalars.prefix(maximumKeyLength))) + "…"
            let name = "\(field).\(shown)"
            if index > 0, sorted[index - 1].key.utf8.elementsEqual(member.key.utf8) {
                return .failure(MetadataError(field: name, problem: "the key is given twice"))
            }
            let keyLength = member.key.unicodeScalars.count
            guard (1...maximumKeyLength).contains(keyLength) else {
                return .failure(
                    MetadataError(
                        field: keyLength == 0 ? field : name,
                        problem: keyLength == 0
                            ? "a key is empty; keys are 1 to \(maximumKeyLength) characters"
                            : "key longer than \(maximumKeyLength) characters"))
            }
            guard member.value.unicodeScalars.count <= maximumValueLength else {
                return .failure(
                    MetadataError(field: name, problem: "value longer than \(maximumValueLength) characters"))
            }
        }
        return .success(Metadata(sorted: sorted))
    }

    public var isEmpty: Bool { members.isEmpty }

    /// The value of `key`, compared by its UTF-8 bytes.
    public subscript(key: String) -> String? {
        members.first { $0.key.utf8.elementsEqual(key.utf8) }?.value
    }

    /// ``canonicalJSON`` of sorted members.
    package static func encoded(_ members: [Member]) -> String? {
        guard !members.isEmpty else { return nil }
        var text = "{"
        for (index, member) in members.enumerated() {
            if index > 0 { text += "," }
            appendQuoted(member.key, to: &text)
            text += ":"
            appendQuoted(member.value, to: &text)
        }
        return text + "}"
    }

    public var description: String { canonicalJSON ?? "{}" }

    /// Reads back what ``canonicalJSON`` wrote (nil: none); nil for any other text. It reads UTF-8 bytes, and a
    /// string without escapes (the usual one) is one slice of them.
    public init?(canonicalJSON text: String?) {
        guard var text else {
            self = .empty
            return
        }
        guard
            let members = text.withUTF8({ bytes -> [Member]? in
                var index = 0
                func take(_ byte: UInt8) -> Bool {
                    guard index < bytes.count, bytes[index] == byte else { return false }
                    index += 1
                    return true
                }
                func quoted() -> String? {
                    guard take(UInt8(ascii: "\"")) else { return nil }
                    let start = index
                    while index < bytes.count, bytes[index] != UInt8(ascii: "\""), bytes[index] != UInt8(ascii: "\\") {
                        index += 1
                    }
                    var result = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                    while index < bytes.count {
                        let byte = bytes[index]
                        index += 1
                        switch byte {
                        case UInt8(ascii: "\""): return result
                        case UInt8(ascii: "\\"):
                            guard index < bytes.count else { return nil }
                            let escaped = bytes[index]
                            index += 1
                            switch escaped {
                            case UInt8(ascii: "\""): result += "\""
                            case UInt8(ascii: "\\"): result += "\\"
                            case UInt8(ascii: "u"):
                                guard index + 4 <= bytes.count,
                                    let code = UInt32(
                                        String(
                                            decoding: UnsafeBufferPointer(rebasing: bytes[index..<index + 4]),
                                            as: UTF8.self),
                                        radix: 16),
                                    let scalar = Unicode.Scalar(code)
                                else { return nil }
                                index += 4
                                result.unicodeScalars.append(scalar)
                            default: return nil
                            }
                        default:
                            let start = index - 1
                            while index < bytes.count, bytes[index] != UInt8(ascii: "\""),
                                bytes[index] != UInt8(ascii: "\\")
                            {
                                index += 1
                            }
                            result += String(
                                decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                        }
                    }
                    return nil
                }
                guard take(UInt8(ascii: "{")) else { return nil }
                var members: [Member] = []
                while !take(UInt8(ascii: "}")) {
                    if !members.isEmpty, !take(UInt8(ascii: ",")) { return nil }
                    guard let key = quoted(), take(UInt8(ascii: ":")), let value = quoted() else { return nil }
                    members.append(Member(key: key, value: value))
                }
                return index == bytes.count ? members : nil
            })
        else { return nil }
        let sorted = zip(members, members.dropFirst()).allSatisfy { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        guard sorted else {
            self.init(sorted: members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) })
            return
        }
        // The stores write only the canonical text, so it is kept as read (`check` re-encodes to verify it).
        self.init(sorted: members, canonicalJSON: text)
    }

    /// Metadata as a store keeps it (``canonicalJSON``, NULL when empty). Text that is not is a damaged row (only
    /// the stores write it, and `check` reports it): it reads as one member, `unreadable`, holding the text,
    /// rather than failing every read of its row.
    package init(stored text: String?) {
        self = Metadata(canonicalJSON: text) ?? Metadata(sorted: [Member(key: "unreadable", value: text ?? "")])
    }

    private static func appendQuoted(_ string: String, to text: inout String) {
        text += "\""
        // Most text needs no escape: appended whole.
        guard string.utf8.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") || $0 < 0x20 }) else {
            text += string
            text += "\""
            return
        }
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\u{0}"..."\u{1F}":
                let hex = String(scalar.value, radix: 16)
                text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: text.unicodeScalars.append(scalar)
            }
        }
        text += "\""
    }
}

/// What is wrong with a metadata object, naming the member: `metadata.owner: value longer than 256 characters`.
public struct MetadataError: Error, Hashable, Sendable, CustomStringConvertible {
    public let field: String
    public let problem: String

    public var description: String { "\(field): \(problem)" }
}

/// An account's settings, set whole by PUT /accounts/{id}: its rules and its metadata.
public struct AccountSettings: Sendable, Hashable {
    public var rules: AccountRules
    public var metadata: Metadata

    public init(rules: AccountRules = .none, metadata: Metadata = .empty) {
        self.rules = rules
        self.metadata = metadata
    }

    /// The currency code's form: 1 to 16 of `A-Z`, `0-9` and `_`, starting with a letter.
    public static func isCurrencyCode(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard (1...16).contains(bytes.count), case UInt8(ascii: "A")...UInt8(ascii: "Z") = bytes[0] else {
            return false
        }
        return bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"): true
            default: false
            }
        }
    }
}

/// An account as the ledger holds it: the document of GET /accounts/{id}.
public struct Account: Sendable, Hashable {
    public let id: AccountID
    public let state: AccountState
    public let metadata: Metadata
    /// When it was opened: by PUT /accounts/{id}, or by its first transaction.
    public let createdAt: Timestamp

    public init(id: AccountID, state: AccountState, metadata: Metadata, createdAt: Timestamp) {
        self.id = id
        self.state = state
        self.metadata = metadata
        self.createdAt = createdAt
    }

    /// How many posted transactions it has.
    public var transactionCount: Int64 { state.transactionCount }

    /// `balance + pending_debits`: what the account can spend now. Exact: 128 bits.
    public var availableBalance: Int128 { Int128(state.balance) + Int128(state.pendingDebits) }
}

/// What configuring an account did.
public enum ConfigurationOutcome: Sendable, Hashable {
    /// The account did not exist: it is open now, with these settings.
    case opened
    /// The account existed; its settings are these now (they may have been these already).
    case configured
}

/// One exact `metadata.KEY=VALUE` filter of GET /accounts.
public struct MetadataFilter: Sendable, Hashable {
    public let key: String
    public let value: String

    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

import AccountLedger
import Hummingbird

extension Request {
    /// A query parameter's value; nil when absent, 400 when given more than once.
    func queryParameter(_ name: String) throws -> Substring? {
        let values = uri.queryParameters[values: name[...]]
        guard values.count <= 1 else {
            throw Problem.badRequest("The query parameter \(name) is given more than once.")
        }
        return values.first
    }

    /// `limit` of a statement or feed page: 1 to 1,000 transactions, 100 when absent.
    func pageSize() throws -> Int {
        Int(try integerQueryParameter("limit", in: 1...1000) ?? 100)
    }

    /// The one `metadata.KEY=VALUE` filter of GET /accounts, if given: KEY and VALUE percent-decoded (`+` is a
    /// plus sign; a space is `%20`), KEY 1 to 64 characters and VALUE at most 256, as in metadata. 400 for a
    /// second filter or a malformed one.
    func metadataFilter() throws -> MetadataFilter? {
        var filter: MetadataFilter?
        for component in (uri.query ?? "").split(separator: "&") {
            let (rawName, rawValue) =
                component.firstIndex(of: "=").map { (component[..<$0], component[component.index(after: $0)...]) }
                ?? (component, "")
            guard let name = QueryText.decoded(rawName) else {
                throw Problem.badRequest(
                    "The query parameter \(Problem.quoted(rawName)) is not valid percent-encoded UTF-8.")
            }
            guard name.hasPrefix("metadata.") else { continue }
            let key = String(name.dropFirst("metadata.".count))
            guard filter == nil else {
                throw Problem.badRequest("GET /accounts takes one metadata filter; this request has more.")
            }
            guard let value = QueryText.decoded(rawValue) else {
                throw Problem.badRequest("The value of \(Problem.quoted(name)) is not valid percent-encoded UTF-8.")
            }
            guard (1...Metadata.maximumKeyLength).contains(key.unicodeScalars.count),
                value.unicodeScalars.count <= Metadata.maximumValueLength,
                !key.unicodeScalars.contains("\u{0}"), !value.unicodeScalars.contains("\u{0}")
            else {
                throw Problem.badRequest(
                    "\(Problem.quoted(name)): a metadata filter names a key of 1 to \(Metadata.maximumKeyLength) "
                        + "characters and a value of at most \(Metadata.maximumValueLength), without U+0000.")
            }
            filter = MetadataFilter(key: key, value: value)
        }
        return filter
    }

    /// An integer query parameter (decimal digits only) within `range`; nil when absent, 400 naming it otherwise.
    func integerQueryParameter(_ name: String, in range: ClosedRange<Int64>) throws -> Int64? {
        guard let text = try queryParameter(name) else { return nil }
        guard !text.isEmpty, text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            let value = Int64(text), range.contains(value)
        else {
            throw Problem.badRequest(
                "\(name) \(Problem.quoted(text)) must be an integer from \(range.lowerBound) to \(range.upperBound).")
        }
        return value
    }
}

/// Percent-encoding of query text (RFC 3986).
enum QueryText {
    /// The text with its `%XX` escapes decoded; nil when an escape is malformed or the bytes are not UTF-8.
    static func decoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var utf8 = text.utf8[...]
        while let byte = utf8.popFirst() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard utf8.count >= 2, let high = hexValue(utf8.popFirst()!), let low = hexValue(utf8.popFirst()!) else {
                return nil
            }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// The text with every byte outside RFC 3986's unreserved characters written as `%XX`.
    static func encoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" : "") + hex
            }
        }
        return out
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

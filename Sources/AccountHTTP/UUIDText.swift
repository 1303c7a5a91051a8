import AccountLedger
import Foundation

/// Identifiers as the API spells them: parsed from paths, headers and bodies, written in responses.
extension Identifier {
    /// Parses a UUID in its 36-character textual form, in either case; nil for anything else.
    init?(parsing text: some StringProtocol) {
        guard let uuid = UUID(canonicalText: text) else { return nil }
        self.init(uuid)
    }
}

extension UUID {
    /// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (RFC 9562 §4), hex digits in either case; nothing else.
    ///
    /// Foundation's `UUID(uuidString:)` is not used because it accepts more than that on Linux (for example
    /// `+40bcc03-…`, a sign where a hex digit belongs); this one is exact.
    init?(canonicalText text: some StringProtocol) {
        var bytes: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let parsed: Bool? = text.utf8.withContiguousStorageIfAvailable { utf8 in
            Self.parse(utf8, into: &bytes)
        }
        guard parsed ?? Self.parse(Array(text.utf8), into: &bytes) else { return nil }
        self.init(uuid: bytes)
    }

    private static func parse(_ utf8: some RandomAccessCollection<UInt8>, into bytes: inout uuid_t) -> Bool {
        guard utf8.count == 36 else { return false }
        return withUnsafeMutableBytes(of: &bytes) { out in
            var index = utf8.startIndex
            for position in 0..<16 {
                if position == 4 || position == 6 || position == 8 || position == 10 {
                    guard utf8[index] == UInt8(ascii: "-") else { return false }
                    index = utf8.index(after: index)
                }
                guard let high = utf8[index].hexDigitValue, let low = utf8[utf8.index(after: index)].hexDigitValue
                else {
                    return false
                }
                out[position] = high << 4 | low
                index = utf8.index(index, offsetBy: 2)
            }
            return true
        }
    }

    /// The lower-case 36-character form, written without Foundation's upper-case string and its lowercasing.
    var canonicalText: String {
        String(unsafeUninitializedCapacity: 36) { out in
            var cursor = ByteCursor(UnsafeMutableRawBufferPointer(out))
            cursor.put(self)
            return cursor.count
        }
    }
}

extension UInt8 {
    /// The value of this ASCII hexadecimal digit, in either case; nil for any other byte.
    var hexDigitValue: UInt8? {
        switch self {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): self &- UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): self &- UInt8(ascii: "a") &+ 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): self &- UInt8(ascii: "A") &+ 10
        default: nil
        }
    }
}

extension Identifier {
    /// Parses a UUID from the UTF-8 bytes of its 36-character textual form, in either case; nil for anything else.
    init?(parsing utf8: UnsafeRawBufferPointer) {
        guard let uuid = UUID(canonicalUTF8: utf8) else { return nil }
        self.init(uuid)
    }
}

extension UUID {
    /// ``init(canonicalText:)`` from UTF-8 bytes, such as a string in a request body, without making a `String`.
    init?(canonicalUTF8 utf8: UnsafeRawBufferPointer) {
        var bytes: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        guard Self.parse(utf8, into: &bytes) else { return nil }
        self.init(uuid: bytes)
    }
}

import AccountLedger

/// A strict RFC 8259 reader for request bodies that are one JSON object.
///
/// It validates the whole document (a body that is not entirely valid JSON is refused, not half-read) while
/// handing each member's name to the caller, which reads the values it knows and skips the others. It keeps
/// number literals as text, so an integer is read exactly and `7.0` is not mistaken for `7`. Nesting is
/// bounded, so no body can exhaust the stack.
///
/// Hand-written because Foundation's `JSONDecoder` accepts what the API refuses: `7.0` and `1e2` as integers,
/// and duplicate members.
struct JSONBodyReader {
    struct SyntaxError: Error {
        let reason: String
        let offset: Int
    }

    enum Kind {
        case object, array, string, number, bool, null
    }

    static let maximumDepth = 32

    private let bytes: UnsafeRawBufferPointer
    private var position = 0
    /// How many objects and arrays enclose the current position.
    private var depth = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// Reads an object, calling `member` with each name; `member` must consume the member's value.
    mutating func readObject(member: (inout JSONBodyReader, String) throws -> Void) throws {
        try expect(UInt8(ascii: "{"))
        try enterContainer()
        defer { depth -= 1 }
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            position += 1
            return
        }
        while true {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else { throw syntaxError("expected a member name in double quotes") }
            let name = try readString()
            skipWhitespace()
            try expect(UInt8(ascii: ":"))
            skipWhitespace()
            try member(&self, name)
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"):
                position += 1
                return
            default: throw syntaxError("expected ',' or '}' after a member")
            }
        }
    }

    /// The kind of the value at the current position, without consuming it.
    mutating func peekKind() throws -> Kind {
        skipWhitespace()
        switch peek() {
        case UInt8(ascii: "{"): return .object
        case UInt8(ascii: "["): return .array
        case UInt8(ascii: "\""): return .string
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool
        case UInt8(ascii: "n"): return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        default: throw syntaxError(atEnd ? "unexpected end of the body" : "unexpected character")
        }
    }

    /// Reads a number and returns its literal text, e.g. `-42` or `1.5e3`; an integer's is `-?[0-9]+`.
    mutating func readNumberLiteral() throws -> (text: String, isInteger: Bool) {
        let start = position
        if peek() == UInt8(ascii: "-") { position += 1 }
        switch peek() {
        case UInt8(ascii: "0"): position += 1
        case UInt8(ascii: "1")...UInt8(ascii: "9"): skipDigits()
        default: throw syntaxError("invalid number")
        }
        var isInteger = true
        if peek() == UInt8(ascii: ".") {
            isInteger = false
            position += 1
            guard case UInt8(ascii: "0")...UInt8(ascii: "9") = peek() else { throw syntaxError("invalid number") }
            skipDigits()
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            isInteger = false
            position += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { position += 1 }
            guard case UInt8(ascii: "0")...UInt8(ascii: "9") = peek() else { throw syntaxError("invalid number") }
            skipDigits()
        }
        return (String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self), isInteger)
    }

    /// Reads a string, decoding its escapes.
    mutating func readString() throws -> String {
        try readString { String(decoding: $0, as: UTF8.self) }
    }

    /// Reads a string and hands its decoded, valid UTF-8 bytes to `body`: without a copy, straight from the
    /// request body, when the string has no escapes (a UUID never needs one).
    mutating func readString<T>(_ body: (UnsafeRawBufferPointer) throws -> T) throws -> T {
        try expect(UInt8(ascii: "\""))
        let start = position
        var isASCII = true
        while true {
            guard !atEnd else { throw syntaxError("unterminated string") }
            switch peek() {
            case UInt8(ascii: "\""):
                let text = UnsafeRawBufferPointer(rebasing: bytes[start..<position])
                guard isASCII || String(validating: text, as: UTF8.self) != nil else {
                    throw syntaxError("a string is not valid UTF-8")
                }
                position += 1
                return try body(text)
            case UInt8(ascii: "\\"):
                return try readEscapedString(from: start, body)
            case 0..<0x20:
                throw syntaxError("a control character in a string must be escaped")
            case 0x80...:
                isASCII = false
                position += 1
            default:
                position += 1
            }
        }
    }

    /// The rest of a string that holds escapes, from its first backslash; `start` is just past its quote.
    private mutating func readEscapedString<T>(
        from start: Int, _ body: (UnsafeRawBufferPointer) throws -> T
    ) throws
        -> T
    {
        var decoded = Array(bytes[start..<position])
        var runStart = position
        while true {
            guard !atEnd else { throw syntaxError("unterminated string") }
            let byte = peek()
            switch byte {
            case UInt8(ascii: "\""):
                decoded.append(contentsOf: bytes[runStart..<position])
                guard String(validating: decoded, as: UTF8.self) != nil else {
                    throw syntaxError("a string is not valid UTF-8")
                }
                position += 1
                return try decoded.withUnsafeBytes(body)
            case UInt8(ascii: "\\"):
                decoded.append(contentsOf: bytes[runStart..<position])
                position += 1
                try readEscape(into: &decoded)
                runStart = position
            case 0..<0x20:
                throw syntaxError("a control character in a string must be escaped")
            default:
                position += 1
            }
        }
    }

    /// Reads an array, calling `element` with each index; `element` must consume the element's value.
    mutating func readArray(element: (inout JSONBodyReader, Int) throws -> Void) throws {
        try expect(UInt8(ascii: "["))
        try enterContainer()
        defer { depth -= 1 }
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            position += 1
            return
        }
        var index = 0
        while true {
            skipWhitespace()
            try element(&self, index)
            index += 1
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"):
                position += 1
                return
            default: throw syntaxError("expected ',' or ']' in an array")
            }
        }
    }

    /// Reads `true` or `false`.
    mutating func readBool() throws -> Bool {
        let value = peek() == UInt8(ascii: "t")
        try readWord(value ? "true" : "false")
        return value
    }

    /// Consumes one value of any kind, checking its syntax.
    mutating func skipValue() throws {
        switch try peekKind() {
        case .object:
            try readObject { reader, _ in try reader.skipValue() }
        case .array:
            try readArray { reader, _ in try reader.skipValue() }
        case .string: try readString { _ in }
        case .number: _ = try readNumberLiteral()
        case .bool: _ = try readBool()
        case .null: try readWord("null")
        }
    }

    /// Checks that nothing but whitespace follows.
    mutating func expectEnd() throws {
        skipWhitespace()
        guard position == bytes.count else { throw syntaxError("unexpected data after the JSON value") }
    }

    // MARK: - Lexing

    private mutating func enterContainer() throws {
        depth += 1
        guard depth <= Self.maximumDepth else {
            throw syntaxError("objects and arrays are nested more than \(Self.maximumDepth) levels deep")
        }
    }

    /// The byte at the current position, or NUL at the end: NUL is never valid there in JSON, so it fails
    /// every check a real byte would have to pass.
    private func peek() -> UInt8 {
        position < bytes.count ? bytes[position] : 0
    }

    private var atEnd: Bool { position >= bytes.count }

    private mutating func expect(_ byte: UInt8) throws {
        guard peek() == byte else { throw syntaxError("expected '\(Character(Unicode.Scalar(byte)))'") }
        position += 1
    }

    private mutating func skipWhitespace() {
        while case let byte = peek(),
            byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")
                || byte == UInt8(ascii: "\t")
        {
            position += 1
        }
    }

    private mutating func skipDigits() {
        while case UInt8(ascii: "0")...UInt8(ascii: "9") = peek() { position += 1 }
    }

    private mutating func readWord(_ word: StaticString) throws {
        let length = word.utf8CodeUnitCount
        guard bytes.count - position >= length,
            UnsafeRawBufferPointer(rebasing: bytes[position..<position + length])
                .elementsEqual(UnsafeRawBufferPointer(start: word.utf8Start, count: length))
        else { throw syntaxError("invalid literal") }
        position += length
    }

    private mutating func readEscape(into decoded: inout [UInt8]) throws {
        guard !atEnd else { throw syntaxError("unterminated string") }
        let byte = peek()
        position += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(byte)
        case UInt8(ascii: "b"): decoded.append(0x08)
        case UInt8(ascii: "f"): decoded.append(0x0C)
        case UInt8(ascii: "n"): decoded.append(0x0A)
        case UInt8(ascii: "r"): decoded.append(0x0D)
        case UInt8(ascii: "t"): decoded.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = UInt32(try readHex4())
            if (0xD800..<0xDC00).contains(scalar) {
                guard peek() == UInt8(ascii: "\\") else { throw syntaxError("unpaired UTF-16 surrogate") }
                position += 1
                guard peek() == UInt8(ascii: "u") else { throw syntaxError("unpaired UTF-16 surrogate") }
                position += 1
                let low = UInt32(try readHex4())
                guard (0xDC00..<0xE000).contains(low) else { throw syntaxError("unpaired UTF-16 surrogate") }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            }
            guard let unicode = Unicode.Scalar(scalar) else { throw syntaxError("unpaired UTF-16 surrogate") }
            decoded.append(contentsOf: UTF8.encode(unicode)!)
        default:
            throw syntaxError("invalid escape sequence")
        }
    }

    private mutating func readHex4() throws -> UInt16 {
        var value: UInt16 = 0
        for _ in 0..<4 {
            guard let digit = peek().hexDigitValue else { throw syntaxError("invalid \\u escape") }
            value = value << 4 | UInt16(digit)
            position += 1
        }
        return value
    }

    private func syntaxError(_ reason: String) -> SyntaxError {
        SyntaxError(reason: reason, offset: position)
    }
}

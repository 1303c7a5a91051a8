import AccountLedger
import Hummingbird
import NIOCore

/// Writes JSON text straight into a response buffer: the one JSON writer of the service, for success and
/// problem bodies alike.
///
/// Hand-written because Foundation's `JSONEncoder` made reads slower (decision 0006), and because it fixes the
/// member order,
/// so an answer is always the same bytes. Members are written in the order the code writes them.
struct JSONWriter {
    private(set) var buffer: ByteBuffer
    /// Whether the container being written already holds a value, innermost last.
    private var hasValue: [Bool] = []

    init(capacity: Int = 128) {
        buffer = ByteBufferAllocator().buffer(capacity: capacity)
    }

    mutating func object(_ members: (inout JSONWriter) -> Void) {
        separate()
        buffer.writeInteger(UInt8(ascii: "{"))
        hasValue.append(false)
        members(&self)
        hasValue.removeLast()
        buffer.writeInteger(UInt8(ascii: "}"))
    }

    mutating func array<Element>(_ elements: some Sequence<Element>, _ write: (inout JSONWriter, Element) -> Void) {
        separate()
        buffer.writeInteger(UInt8(ascii: "["))
        hasValue.append(false)
        for element in elements { write(&self, element) }
        hasValue.removeLast()
        buffer.writeInteger(UInt8(ascii: "]"))
    }

    /// A member name; the value written next is its value.
    mutating func key(_ name: StaticString) {
        separate()
        buffer.writeInteger(UInt8(ascii: "\""))
        buffer.writeStaticString(name)
        buffer.writeStaticString("\":")
        hasValue[hasValue.count - 1] = false  // the value follows the colon, not a comma
    }

    /// Text written as it is, for lines that are not JSON (the text log format).
    mutating func rawText(_ text: String) {
        buffer.writeString(text)
    }

    /// A member name known only at run time, escaped as any text is.
    mutating func key(_ name: String) {
        value(name)
        buffer.writeInteger(UInt8(ascii: ":"))
        hasValue[hasValue.count - 1] = false  // the value follows the colon, not a comma
    }

    /// Text that needs no escaping, written by `write` into at most `reserving` bytes, as one value (or as
    /// several members, when it writes their names and commas itself).
    mutating func raw(reserving: Int, _ write: (inout ByteCursor) -> Void) {
        separate()
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: reserving) { out in
            var cursor = ByteCursor(out)
            write(&cursor)
            return cursor.count
        }
    }

    mutating func value(_ number: Int64) {
        raw(reserving: 20) { $0.put(number) }
    }

    /// A sum that may not fit 64 bits (an available balance), exactly.
    mutating func value(_ number: Int128) {
        if let small = Int64(exactly: number) { return value(small) }
        separate()
        buffer.writeString(String(number))
    }

    /// A metadata object, members in key order.
    mutating func value(_ metadata: Metadata) {
        object { json in
            for member in metadata.members {
                json.key(member.key)
                json.value(member.value)
            }
        }
    }

    mutating func null() {
        raw(reserving: 4) { $0.put("null") }
    }

    /// An identifier in its lower-case canonical form, which never needs escaping.
    mutating func value<Kind>(_ id: Identifier<Kind>) {
        raw(reserving: 38) { out in
            out.put(UInt8(ascii: "\""))
            out.put(id.uuid)
            out.put(UInt8(ascii: "\""))
        }
    }

    /// An instant in RFC 3339, UTC, with milliseconds, which never needs escaping.
    mutating func value(_ instant: Timestamp) {
        raw(reserving: 32) { out in
            out.put(UInt8(ascii: "\""))
            out.put(instant)
            out.put(UInt8(ascii: "\""))
        }
    }

    /// Any text, escaped as RFC 8259 requires (quotation mark, reverse solidus, control characters).
    mutating func value(_ text: String) {
        separate()
        buffer.writeInteger(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): buffer.writeStaticString("\\\"")
            case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
            case UInt8(ascii: "\n"): buffer.writeStaticString("\\n")
            case UInt8(ascii: "\r"): buffer.writeStaticString("\\r")
            case UInt8(ascii: "\t"): buffer.writeStaticString("\\t")
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                buffer.writeStaticString("\\u00")
                buffer.writeInteger(hex[Int(byte >> 4)])
                buffer.writeInteger(hex[Int(byte & 0x0F)])
            default: buffer.writeInteger(byte)
            }
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }

    /// Writes the comma that separates this value from the previous one in its container.
    private mutating func separate() {
        guard let last = hasValue.last else { return }
        if last { buffer.writeInteger(UInt8(ascii: ",")) }
        hasValue[hasValue.count - 1] = true
    }
}

/// A response body that is one JSON object, written with ``JSONWriter``.
protocol JSONBody: ResponseGenerator {
    func write(to json: inout JSONWriter)
    /// About how many bytes the body takes, so that its buffer is allocated once.
    var estimatedSize: Int { get }
}

extension JSONBody {
    var estimatedSize: Int { 128 }

    func response(from request: Request, context: some RequestContext) -> Response {
        Response(status: .ok, jsonBody: self)
    }
}

extension Response {
    /// A response whose body is `body` as JSON, with its Content-Type and Content-Length.
    init(status: HTTPResponse.Status, jsonBody body: some JSONBody, contentType: String = "application/json") {
        self.init(status: status, json: body.encoded, contentType: contentType)
    }

    /// A response whose body is `json`, already encoded, with its Content-Type and Content-Length.
    init(status: HTTPResponse.Status = .ok, json: ByteBuffer, contentType: String = "application/json") {
        var headers = HTTPFields()
        headers.reserveCapacity(4)
        headers[.contentType] = contentType
        headers[.contentLength] = String(json.readableBytes)
        self.init(status: status, headers: headers, body: .init(byteBuffer: json))
    }
}

extension JSONBody {
    /// The body's JSON.
    var encoded: ByteBuffer {
        var json = JSONWriter(capacity: estimatedSize)
        write(to: &json)
        return json.buffer
    }
}

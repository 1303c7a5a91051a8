import Foundation

/// Writes ASCII text into memory the caller has reserved: the numbers, ids and instants of response bodies,
/// without an intermediate String or a capacity check per byte (profiled: those were most of the cost of a
/// statement page). The caller reserves enough; ``JSONWriter/raw(reserving:_:)`` says how much each part needs.
struct ByteCursor {
    let out: UnsafeMutableRawBufferPointer
    private(set) var count = 0

    init(_ out: UnsafeMutableRawBufferPointer) {
        self.out = out
    }

    mutating func put(_ byte: UInt8) {
        out[count] = byte
        count += 1
    }

    mutating func put(_ text: StaticString) {
        UnsafeMutableRawBufferPointer(rebasing: out[count...]).copyMemory(
            from: UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        count += text.utf8CodeUnitCount
    }

    /// A decimal integer: at most 20 bytes.
    mutating func put(_ number: Int64) {
        if number < 0 { put(UInt8(ascii: "-")) }
        var magnitude = number.magnitude
        var digits = 1
        var rest = magnitude / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        for offset in stride(from: digits - 1, through: 0, by: -1) {
            out[count + offset] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: magnitude % 10)
            magnitude /= 10
        }
        count += digits
    }

    /// A non-negative integer in at least `width` digits, zero-padded.
    mutating func put(_ number: Int64, width: Int) {
        var digits = 1
        var rest = number / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        let length = max(width, digits)
        var remaining = number
        for offset in stride(from: length - 1, through: 0, by: -1) {
            out[count + offset] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: remaining % 10)
            remaining /= 10
        }
        count += length
    }

    /// A UUID in its lower-case canonical 36-character form.
    mutating func put(_ uuid: UUID) {
        withUnsafeBytes(of: uuid.uuid) { raw in
            for position in 0..<16 {
                if position == 4 || position == 6 || position == 8 || position == 10 { put(UInt8(ascii: "-")) }
                put(Self.hexDigit(raw[position] >> 4))
                put(Self.hexDigit(raw[position] & 0x0F))
            }
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC: 24 bytes for the years 0 to 9999, at most 30.
    mutating func put(_ instant: Timestamp) {
        let milliseconds = instant.millisecondsSince1970
        let days = milliseconds >= 0 ? milliseconds / 86_400_000 : (milliseconds - 86_399_999) / 86_400_000
        let ofDay = milliseconds - days * 86_400_000
        let (year, month, day) = Timestamp.civil(fromDays: days)
        if year < 0 { put(UInt8(ascii: "-")) }
        put(abs(year), width: 4)
        put(UInt8(ascii: "-"))
        put(month, width: 2)
        put(UInt8(ascii: "-"))
        put(day, width: 2)
        put(UInt8(ascii: "T"))
        put(ofDay / 3_600_000, width: 2)
        put(UInt8(ascii: ":"))
        put(ofDay / 60_000 % 60, width: 2)
        put(UInt8(ascii: ":"))
        put(ofDay / 1000 % 60, width: 2)
        put(UInt8(ascii: "."))
        put(ofDay % 1000, width: 3)
        put(UInt8(ascii: "Z"))
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") &+ value : UInt8(ascii: "a") &+ value &- 10
    }
}

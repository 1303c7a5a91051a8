import AccountLedger
import Foundation

/// Writes ASCII text into memory the caller has reserved: the numbers, ids and instants of response bodies,
/// without an intermediate String or a capacity check per byte (those were most of the cost of a statement
/// page). The caller reserves enough; ``JSONWriter/raw(reserving:_:)`` says how much each part needs.
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
        putDigits(number.magnitude, count: Self.digitCount(number.magnitude))
    }

    /// A non-negative integer in at least `width` digits, zero-padded.
    mutating func put(_ number: Int64, width: Int) {
        putDigits(UInt64(number), count: max(width, Self.digitCount(UInt64(number))))
    }

    /// A UUID in its lower-case canonical 36-character form: two hex digits per byte from ``hexPairs``.
    mutating func put(_ uuid: UUID) {
        let pairs = UnsafeRawPointer(Self.hexPairs.utf8Start)
        withUnsafeBytes(of: uuid.uuid) { raw in
            for position in 0..<16 {
                if position == 4 || position == 6 || position == 8 || position == 10 { put(UInt8(ascii: "-")) }
                let pair = pairs.loadUnaligned(fromByteOffset: 2 * Int(raw[position]), as: UInt16.self)
                out.storeBytes(of: pair, toByteOffset: count, as: UInt16.self)
                count += 2
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

    /// The last `count` digits of `number`, zero-padded, two at a time from ``decimalPairs``.
    private mutating func putDigits(_ number: UInt64, count digits: Int) {
        let pairs = UnsafeRawPointer(Self.decimalPairs.utf8Start)
        var remaining = number
        var end = count + digits
        while end - count >= 2 {
            let pair = pairs.loadUnaligned(fromByteOffset: 2 * Int(remaining % 100), as: UInt16.self)
            out.storeBytes(of: pair, toByteOffset: end - 2, as: UInt16.self)
            remaining /= 100
            end -= 2
        }
        if end > count { out[count] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: remaining % 10) }
        count += digits
    }

    private static func digitCount(_ number: UInt64) -> Int {
        var digits = 1
        var rest = number / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        return digits
    }

    /// "00" to "99": the two digits of every number below 100.
    private static let decimalPairs: StaticString = """
        00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354\
        555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899
        """
    /// "00" to "ff": the two hex digits of every byte.
    private static let hexPairs: StaticString = """
        000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f30313233343536\
        3738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d\
        6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4\
        a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadb\
        dcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff
        """
}

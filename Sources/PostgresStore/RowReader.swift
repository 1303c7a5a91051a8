import Foundation
import NIOCore
import PostgresNIO

/// Reads a row's columns in order, each as the type the statement selects it as.
///
/// postgres-nio's `row.decode((A, B, …).self)` decodes through generic code whose type metadata is looked up per
/// column: about a sixth of the service's time while hundreds of holds expire in one commit (docs/performance.md,
/// "Holds"). The columns this store reads are int2/int4/int8, uuid and text in PostgreSQL's binary format (what
/// postgres-nio asks for), which this reads straight from the cell's bytes; any other type or format is left
/// to postgres-nio's decoder, which also makes the error when a value is not what the statement promises.
struct RowReader {
    private var cells: PostgresRow.Iterator

    init(_ row: PostgresRow) {
        cells = row.makeIterator()
    }

    private mutating func next() throws -> PostgresCell {
        guard let cell = cells.next() else { throw MissingColumn() }
        return cell
    }

    mutating func int64() throws -> Int64 { try next(.int8, Self.integer) }
    mutating func int64OrNil() throws -> Int64? { try nextOrNil(.int8, Self.integer) }
    mutating func int32() throws -> Int32 { try next(.int4, Self.integer) }
    mutating func int16OrNil() throws -> Int16? { try nextOrNil(.int2, Self.integer) }
    mutating func uuid() throws -> UUID { try next(.uuid, Self.uuid) }
    mutating func uuidOrNil() throws -> UUID? { try nextOrNil(.uuid, Self.uuid) }

    mutating func stringOrNil() throws -> String? {
        let cell = try next()
        guard let bytes = cell.bytes else { return nil }
        if cell.dataType == .text || cell.dataType == .varchar {
            // text is its UTF-8 bytes in both formats.
            return String(buffer: bytes)
        }
        return try cell.decode(String.self)
    }

    /// The next column, read by `read` when it is of `type` in binary format, else by postgres-nio's decoder
    /// (which throws for a NULL).
    private mutating func next<Value: PostgresDecodable>(
        _ type: PostgresDataType, _ read: (ByteBuffer) -> Value?
    ) throws -> Value {
        let cell = try next()
        if cell.format == .binary, cell.dataType == type, let bytes = cell.bytes, let value = read(bytes) {
            return value
        }
        return try cell.decode(Value.self)
    }

    /// The next column, nil when NULL, else as ``next(_:_:)``.
    private mutating func nextOrNil<Value: PostgresDecodable>(
        _ type: PostgresDataType, _ read: (ByteBuffer) -> Value?
    ) throws -> Value? {
        let cell = try next()
        guard let bytes = cell.bytes else { return nil }
        if cell.format == .binary, cell.dataType == type, let value = read(bytes) { return value }
        return try cell.decode(Value.self)
    }

    private static func integer<Value: FixedWidthInteger>(_ bytes: ByteBuffer) -> Value? {
        guard bytes.readableBytes == MemoryLayout<Value>.size else { return nil }
        return bytes.getInteger(at: bytes.readerIndex, as: Value.self)
    }

    private static func uuid(_ bytes: ByteBuffer) -> UUID? {
        guard bytes.readableBytes == 16 else { return nil }
        return bytes.withUnsafeReadableBytes { raw in
            var value: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            withUnsafeMutableBytes(of: &value) { $0.copyMemory(from: raw) }
            return UUID(uuid: value)
        }
    }

    struct MissingColumn: Error, CustomStringConvertible {
        var description: String { "a row has fewer columns than its statement selects" }
    }
}

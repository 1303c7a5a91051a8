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

    mutating func int64() throws -> Int64 {
        let cell = try next()
        if cell.format == .binary, cell.dataType == .int8, let bytes = cell.bytes, bytes.readableBytes == 8,
            let value = bytes.getInteger(at: bytes.readerIndex, as: Int64.self)
        {
            return value
        }
        return try cell.decode(Int64.self)
    }

    mutating func int64OrNil() throws -> Int64? {
        let cell = try next()
        guard let bytes = cell.bytes else { return nil }
        if cell.format == .binary, cell.dataType == .int8, bytes.readableBytes == 8,
            let value = bytes.getInteger(at: bytes.readerIndex, as: Int64.self)
        {
            return value
        }
        return try cell.decode(Int64.self)
    }

    mutating func int32() throws -> Int32 {
        let cell = try next()
        if cell.format == .binary, cell.dataType == .int4, let bytes = cell.bytes, bytes.readableBytes == 4,
            let value = bytes.getInteger(at: bytes.readerIndex, as: Int32.self)
        {
            return value
        }
        return try cell.decode(Int32.self)
    }

    mutating func int16OrNil() throws -> Int16? {
        let cell = try next()
        guard let bytes = cell.bytes else { return nil }
        if cell.format == .binary, cell.dataType == .int2, bytes.readableBytes == 2,
            let value = bytes.getInteger(at: bytes.readerIndex, as: Int16.self)
        {
            return value
        }
        return try cell.decode(Int16.self)
    }

    mutating func uuid() throws -> UUID {
        let cell = try next()
        if cell.format == .binary, cell.dataType == .uuid, let bytes = cell.bytes, let value = Self.uuid(bytes) {
            return value
        }
        return try cell.decode(UUID.self)
    }

    mutating func uuidOrNil() throws -> UUID? {
        let cell = try next()
        guard let bytes = cell.bytes else { return nil }
        if cell.format == .binary, cell.dataType == .uuid, let value = Self.uuid(bytes) { return value }
        return try cell.decode(UUID.self)
    }

    mutating func stringOrNil() throws -> String? {
        let cell = try next()
        guard let bytes = cell.bytes else { return nil }
        if cell.dataType == .text || cell.dataType == .varchar {
            // text is its UTF-8 bytes in both formats.
            return String(buffer: bytes)
        }
        return try cell.decode(String.self)
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

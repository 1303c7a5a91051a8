import AccountLedger
import Foundation
import GRDB
import GRDBSQLite

/// The hot paths, with SQLite's own binding and stepping on GRDB's prepared statements (GRDB prepares, caches
/// and finalizes them).
///
/// A commit looks up every posting's id and account and inserts every created transaction: thousands of
/// statement executions for a batch. GRDB's `StatementArguments` and record persistence build an array, a
/// `Data` per UUID and (for records) a keyed container per execution, which was half of the writer's time in
/// a bulk load (docs/performance.md, "Why the code is shaped so"). These bind the
/// 16 bytes of a UUID and the integers in place, and read columns without a `Row` or a `Data` per UUID; the
/// commit and the reads that return transaction records (up to a thousand a page) use them.
extension Statement {
    /// Resets the statement and binds `values` to its parameters ?1, ?2, …
    func bind(_ values: StatementValue...) {
        bind(values)
    }

    /// Resets the statement and binds `values` to its parameters ?1, ?2, …
    func bind(_ values: [StatementValue]) {
        sqlite3_reset(sqliteStatement)
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            switch value {
            case .integer(let integer):
                sqlite3_bind_int64(sqliteStatement, index, integer)
            case .uuid(let uuid):
                bind(uuid, at: index)
            case .idOrStart(nil):
                sqlite3_bind_zeroblob(sqliteStatement, index, 0)
            case .idOrStart(let uuid?):
                bind(uuid, at: index)
            case .text(let text?):
                _ = sqlite3_bind_text(
                    sqliteStatement, index, text, -1, unsafeBitCast(-1, to: sqlite3_destructor_type.self))
            case .text(nil), .optionalInteger(nil), .optionalUUID(nil):
                sqlite3_bind_null(sqliteStatement, index)
            case .optionalInteger(let integer?):
                sqlite3_bind_int64(sqliteStatement, index, integer)
            case .optionalUUID(let uuid?):
                bind(uuid, at: index)
            }
        }
    }

    private func bind(_ uuid: UUID, at index: Int32) {
        withUnsafeBytes(of: uuid.uuid) { bytes in
            // SQLITE_TRANSIENT: SQLite copies the 16 bytes before this returns.
            _ = sqlite3_bind_blob(
                sqliteStatement, index, bytes.baseAddress, 16, unsafeBitCast(-1, to: sqlite3_destructor_type.self))
        }
    }

    /// Runs the bound statement to its first row: true and the row's columns readable, or false when it has
    /// none (or is not a query). Reset it (``bind(_:)`` does) before it is run again.
    func stepToRow(in db: Database) throws -> Bool {
        switch sqlite3_step(sqliteStatement) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let code:
            let message = sqlite3_errmsg(db.sqliteConnection).map { String(cString: $0) }
            sqlite3_reset(sqliteStatement)
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: sql)
        }
    }

    /// Runs the bound query to its end, making a value of each row, and resets it.
    func rows<T>(in db: Database, _ make: (Statement) -> T) throws -> [T] {
        defer { reset() }
        var rows: [T] = []
        while try stepToRow(in: db) { rows.append(make(self)) }
        return rows
    }

    /// Runs the bound query to its first row and makes a value of it (nil when there is none), and resets it.
    func firstRow<T>(in db: Database, _ make: (Statement) -> T) throws -> T? {
        defer { reset() }
        return try stepToRow(in: db) ? make(self) : nil
    }

    /// Ends the statement's run, so that it holds nothing until it is bound again.
    func reset() {
        sqlite3_reset(sqliteStatement)
    }

    func integer(at column: Int32) -> Int64 { sqlite3_column_int64(sqliteStatement, column) }

    /// The integer in the column, nil for NULL.
    func optionalInteger(at column: Int32) -> Int64? {
        sqlite3_column_type(sqliteStatement, column) == SQLITE_NULL ? nil : integer(at: column)
    }

    /// The text in the column, nil for NULL.
    func text(at column: Int32) -> String? {
        guard let text = sqlite3_column_text(sqliteStatement, column) else { return nil }
        return String(cString: text)
    }

    /// The UUID in the column, nil for NULL.
    func optionalUUID(at column: Int32) -> UUID? {
        sqlite3_column_type(sqliteStatement, column) == SQLITE_NULL ? nil : uuid(at: column)
    }

    func uuid(at column: Int32) -> UUID {
        var uuid: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &uuid) { out in
            if let blob = sqlite3_column_blob(sqliteStatement, column),
                sqlite3_column_bytes(sqliteStatement, column) == 16
            {
                out.copyMemory(from: UnsafeRawBufferPointer(start: blob, count: 16))
            }
        }
        return UUID(uuid: uuid)
    }
}

/// A value bound by ``Statement/bind(_:)``.
enum StatementValue {
    case integer(Int64)
    case uuid(UUID)
    /// A UUID, or (nil) an empty blob, which sorts before every UUID: where a range of ids starts.
    case idOrStart(UUID?)
    /// Text, or NULL.
    case text(String?)
    /// An integer, or NULL.
    case optionalInteger(Int64?)
    /// A UUID, or NULL.
    case optionalUUID(UUID?)
}

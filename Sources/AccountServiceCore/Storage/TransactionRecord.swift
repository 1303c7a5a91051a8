import Foundation
import GRDB

/// A row of `transactions`: one accepted transaction, keyed by its sequence, with the client's Transaction-Id.
/// GRDB stores its `UUID`s as 16-byte blobs.
///
/// Decoded by column index, the form GRDB's README gives for a record "optimized for fetching performance": the
/// Decodable form made GET /transaction about a tenth slower (`scripts/bench`). So it reads rows selected as
/// ``columns``, in that order (``SQLiteLedgerStore/SQL``), and the commit inserts them in that order too.
struct TransactionRecord: FetchableRecord, Equatable {
    static let columns = "sequence, id, account_id, amount, created_at, balance_after"

    var sequence: Int64
    var id: UUID
    var accountID: UUID
    var amount: Int64
    /// Milliseconds since 1970 (UTC).
    var createdAt: Int64
    var balanceAfter: Int64

    init(row: Row) {
        sequence = row[0]
        id = row[1]
        accountID = row[2]
        amount = row[3]
        createdAt = row[4]
        balanceAfter = row[5]
    }

    /// The row a commit's statement stands on (``Statement/stepToRow(in:)``).
    init(_ statement: Statement) {
        sequence = statement.integer(at: 0)
        id = statement.uuid(at: 1)
        accountID = statement.uuid(at: 2)
        amount = statement.integer(at: 3)
        createdAt = statement.integer(at: 4)
        balanceAfter = statement.integer(at: 5)
    }

    var entry: LedgerEntry {
        LedgerEntry(
            transaction: Transaction(id: TransactionID(id), accountID: AccountID(accountID), amount: amount),
            sequence: sequence, createdAt: Timestamp(millisecondsSince1970: createdAt), balanceAfter: balanceAfter)
    }
}

import Foundation
import GRDB

/// A row of `transactions`: one accepted transaction, keyed by its sequence, with the client's Transaction-Id.
/// GRDB stores its `UUID`s as 16-byte blobs.
///
/// Encodable for persistence; decoded by column index, the form GRDB's README gives for a record "optimized for
/// fetching performance": the Decodable form made GET /transaction about a tenth slower (`scripts/bench`).
/// So it reads rows selected as ``columns``, in that order (``SQLiteLedgerStore/SQL``).
struct TransactionRecord: Encodable, FetchableRecord, PersistableRecord, Equatable {
    static let databaseTableName = "transactions"
    static let columns = "sequence, id, account_id, amount, created_at, balance_after"

    var sequence: Int64
    var id: UUID
    var accountID: UUID
    var amount: Int64
    /// Milliseconds since 1970 (UTC).
    var createdAt: Int64
    var balanceAfter: Int64

    enum CodingKeys: String, CodingKey {
        case sequence, id, amount
        case accountID = "account_id"
        case createdAt = "created_at"
        case balanceAfter = "balance_after"
    }

    init(_ entry: LedgerEntry) {
        sequence = entry.sequence
        id = entry.transaction.id.uuid
        accountID = entry.transaction.accountID.uuid
        amount = entry.transaction.amount
        createdAt = entry.createdAt.millisecondsSince1970
        balanceAfter = entry.balanceAfter
    }

    init(row: Row) {
        sequence = row[0]
        id = row[1]
        accountID = row[2]
        amount = row[3]
        createdAt = row[4]
        balanceAfter = row[5]
    }

    var entry: LedgerEntry {
        LedgerEntry(
            transaction: Transaction(id: TransactionID(id), accountID: AccountID(accountID), amount: amount),
            sequence: sequence, createdAt: Timestamp(millisecondsSince1970: createdAt), balanceAfter: balanceAfter)
    }
}

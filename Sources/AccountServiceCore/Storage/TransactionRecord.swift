import Foundation
import GRDB

/// A row of `transactions`: one accepted transaction, keyed by the client's Transaction-Id. GRDB stores its
/// `UUID`s as 16-byte blobs.
///
/// Encodable for persistence; decoded by column index, the form GRDB's README gives for a record "optimized for
/// fetching performance": the Decodable form made GET /transaction about a tenth slower (`scripts/bench`).
/// So it reads rows selected as `id, account_id, amount`, in that order (``SQLiteLedgerStore/SQL``).
struct TransactionRecord: Encodable, FetchableRecord, PersistableRecord, Equatable {
    static let databaseTableName = "transactions"

    var id: UUID
    var accountID: UUID
    var amount: Int64

    enum CodingKeys: String, CodingKey {
        case id, amount
        case accountID = "account_id"
    }

    init(_ transaction: Transaction) {
        id = transaction.id.uuid
        accountID = transaction.accountID.uuid
        amount = transaction.amount
    }

    init(row: Row) {
        id = row[0]
        accountID = row[1]
        amount = row[2]
    }

    var transaction: Transaction {
        Transaction(id: TransactionID(id), accountID: AccountID(accountID), amount: amount)
    }
}

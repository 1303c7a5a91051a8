import Foundation
import GRDB

/// A row of `transactions`: one accepted transaction, keyed by the client's Transaction-Id. GRDB stores its
/// `UUID`s as 16-byte blobs.
struct TransactionRecord: Codable, FetchableRecord, PersistableRecord, Equatable {
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

    var transaction: Transaction {
        Transaction(id: TransactionID(id), accountID: AccountID(accountID), amount: amount)
    }
}

import AccountLedger
import Foundation
import GRDB

/// A row of `accounts`: the running balance and transaction count of one account. GRDB stores its `UUID` as
/// a 16-byte blob.
struct AccountRecord: Codable, FetchableRecord, TableRecord, Equatable {
    static let databaseTableName = "accounts"

    var id: UUID
    var balance: Int64
    var transactionCount: Int64

    enum CodingKeys: String, CodingKey {
        case id, balance
        case transactionCount = "transaction_count"
    }
}

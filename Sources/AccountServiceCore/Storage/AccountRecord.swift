import Foundation
import GRDB

/// A row of `accounts`: the running balance and transaction count of one account.
struct AccountRecord: FetchableRecord, PersistableRecord, Equatable {
    static let databaseTableName = "accounts"

    var id: UUID
    var balance: Int64
    var transactionCount: Int64

    init(id: UUID, balance: Int64, transactionCount: Int64) {
        self.id = id
        self.balance = balance
        self.transactionCount = transactionCount
    }

    init(row: Row) throws {
        id = try row.decode(forColumn: "id")
        balance = try row.decode(forColumn: "balance")
        transactionCount = try row.decode(forColumn: "transaction_count")
    }

    func encode(to container: inout PersistenceContainer) {
        container["id"] = id
        container["balance"] = balance
        container["transaction_count"] = transactionCount
    }
}

import Foundation
import GRDB

/// A row of `transactions`: one accepted transaction, keyed by the client's Transaction-Id.
struct TransactionRecord: FetchableRecord, PersistableRecord, Equatable {
    static let databaseTableName = "transactions"

    var id: UUID
    var accountID: UUID
    var amount: Int64

    init(_ transaction: Transaction) {
        id = transaction.id.uuid
        accountID = transaction.accountID.uuid
        amount = transaction.amount
    }

    init(row: Row) throws {
        id = try row.decode(forColumn: "id")
        accountID = try row.decode(forColumn: "account_id")
        amount = try row.decode(forColumn: "amount")
    }

    func encode(to container: inout PersistenceContainer) {
        container["id"] = id
        container["account_id"] = accountID
        container["amount"] = amount
    }

    var transaction: Transaction {
        Transaction(id: TransactionID(id), accountID: AccountID(accountID), amount: amount)
    }
}

import AccountLedger
import GRDB

/// A row of `transactions`: one accepted transaction, keyed by its sequence, with the client's Transaction-Id;
/// ids are 16-byte blobs.
///
/// Read by column index from the statement itself (``Statement/rows(in:_:)``): neither a `Decodable` record
/// (slower, docs/performance.md) nor GRDB's `Row` with a `Data` per UUID. So every
/// statement that reads or writes a whole transaction names ``columns``, in that order (``SQLiteLedgerStore/SQL``).
extension LedgerEntry {
    static let columns = "sequence, id, account_id, amount, created_at, balance_after, metadata"

    /// The row `statement` stands on, selected as ``columns``.
    init(row statement: Statement) {
        self.init(
            transaction: Transaction(
                id: TransactionID(statement.uuid(at: 1)), accountID: AccountID(statement.uuid(at: 2)),
                amount: statement.integer(at: 3), metadata: Metadata(stored: statement.text(at: 6))),
            sequence: statement.integer(at: 0),
            createdAt: Timestamp(millisecondsSince1970: statement.integer(at: 4)),
            balanceAfter: statement.integer(at: 5))
    }
}

import AccountLedger
import GRDB

/// A row of `transactions`: one accepted transaction, keyed by its sequence, with the client's Transaction-Id;
/// ids are 16-byte blobs.
///
/// Read by column index from the statement itself (``Statement/rows(in:_:)``): neither a `Decodable` record
/// (slower, docs/performance.md) nor GRDB's `Row` with a `Data` per UUID. So every
/// statement that reads or writes a whole transaction names ``columns``, in that order (``SQLiteLedgerStore/SQL``).
extension LedgerEntry {
    static let columns = """
        sequence, id, account_id, amount, created_at, balance_after, metadata, kind, pending_id, expires_at
        """

    /// The row `statement` stands on, selected as ``columns``.
    init(row statement: Statement) {
        self.init(
            transaction: Transaction(
                id: TransactionID(statement.uuid(at: 1)), accountID: AccountID(statement.uuid(at: 2)),
                amount: statement.integer(at: 3), metadata: Metadata(stored: statement.text(at: 6)),
                role: Transaction.Role(
                    code: statement.optionalInteger(at: 7), hold: statement.optionalUUID(at: 8).map(TransactionID.init),
                    expiresAt: statement.optionalInteger(at: 9).map(Timestamp.init(millisecondsSince1970:)))),
            sequence: statement.integer(at: 0),
            createdAt: Timestamp(millisecondsSince1970: statement.integer(at: 4)),
            balanceAfter: statement.integer(at: 5))
    }
}

extension StatementValue {
    /// The values of ``LedgerEntry/columns`` for `entry`, in that order.
    static func columns(of entry: LedgerEntry) -> [StatementValue] {
        let transaction = entry.transaction
        return [
            .integer(entry.sequence), .uuid(transaction.id.uuid), .uuid(transaction.accountID.uuid),
            .integer(transaction.amount), .integer(entry.createdAt.millisecondsSince1970), .integer(entry.balanceAfter),
            .text(transaction.metadata.canonicalJSON), .optionalInteger(transaction.role.code),
            .optionalUUID(transaction.role.hold?.uuid),
            .optionalInteger(transaction.role.expiresAt?.millisecondsSince1970),
        ]
    }
}

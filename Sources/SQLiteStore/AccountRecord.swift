import AccountLedger
import GRDB

/// A row of `accounts`, read by column index as ``LedgerEntry`` rows are (LedgerEntry+Row.swift): every statement
/// that reads a whole account names ``columns(of:)``, in that order.
extension Account {
    /// The columns, each prefixed with `table.` when given.
    static func columns(of table: String? = nil) -> String {
        let prefix = table.map { $0 + "." } ?? ""
        return [
            "id", "balance", "transaction_count", "pending_debits", "pending_credits", "currency", "minimum_balance",
            "maximum_balance", "metadata", "created_at",
        ].map { prefix + $0 }.joined(separator: ", ")
    }

    /// The row `statement` stands on, selected as ``columns(of:)``.
    init(row statement: Statement) {
        self.init(
            id: AccountID(statement.uuid(at: 0)),
            state: AccountState(
                balance: statement.integer(at: 1), pendingDebits: statement.integer(at: 3),
                pendingCredits: statement.integer(at: 4),
                rules: AccountRules(
                    currency: statement.text(at: 5), minimumBalance: statement.optionalInteger(at: 6),
                    maximumBalance: statement.optionalInteger(at: 7)),
                transactionCount: statement.integer(at: 2)),
            metadata: Metadata(stored: statement.text(at: 8)),
            createdAt: Timestamp(millisecondsSince1970: statement.integer(at: 9)))
    }
}

extension AccountState {
    /// What a commit's snapshot reads of an account (``SQLiteLedgerStore/SQL/accountState``).
    init(stateRow statement: Statement) {
        self.init(
            balance: statement.integer(at: 0), pendingDebits: statement.integer(at: 2),
            pendingCredits: statement.integer(at: 3),
            rules: AccountRules(
                currency: statement.text(at: 4), minimumBalance: statement.optionalInteger(at: 5),
                maximumBalance: statement.optionalInteger(at: 6)),
            transactionCount: statement.integer(at: 1))
    }
}

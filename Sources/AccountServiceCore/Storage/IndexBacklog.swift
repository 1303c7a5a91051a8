import Foundation

/// The committed transactions that SQLite's two index tables do not hold yet, in memory, by id and by account.
///
/// A commit writes its transactions to `transactions` only: a row appended at the end of the table. Their
/// entries in `transaction_ids` (keyed by the client's random id) and `transactions_by_account` (keyed by
/// account, one tail per account) would each put a random B-tree page into every posting, and SQLite writes a
/// whole page to its log each time a commit changes it; so they wait here and go into the tables many at a time,
/// where one page written carries many entries. Each index is cut into ``sliceCount`` key ranges (by the first
/// hex digit of the id or account id), and one merge moves one slice of one index: a short write transaction
/// that still writes each of the slice's pages once for all its waiting entries.
///
/// The database says how far each slice has been merged (`index_progress`); this holds, per slice, the entries
/// of every published transaction beyond that point. A reader takes a slice's point and its entries together
/// under the store's lock, then reads the index table only up to that point: the merge commits the table
/// before it empties the slice here, so the two parts never miss nor repeat an entry.
struct IndexBacklog: Sendable {
    static let sliceCount = 16

    /// Per slice: `transaction_ids` holds every transaction with an id in the slice and a sequence up to here.
    private(set) var idsMergedThrough: [Int64]
    /// Per slice: `transactions_by_account` holds every transaction of the slice's accounts up to here.
    private(set) var accountsMergedThrough: [Int64]
    private var ids: [[TransactionID: LedgerEntry]]
    /// Each account's waiting entries in sequence order.
    private var accounts: [[AccountID: [LedgerEntry]]]
    private var accountEntryCounts: [Int]
    /// The last sequence appended: every transaction up to it is committed, and readable here or in the tables.
    private(set) var published: Int64

    init(idsMergedThrough: [Int64], accountsMergedThrough: [Int64], published: Int64) {
        precondition(idsMergedThrough.count == Self.sliceCount && accountsMergedThrough.count == Self.sliceCount)
        self.idsMergedThrough = idsMergedThrough
        self.accountsMergedThrough = accountsMergedThrough
        self.published = published
        ids = Array(repeating: [:], count: Self.sliceCount)
        accounts = Array(repeating: [:], count: Self.sliceCount)
        accountEntryCounts = Array(repeating: 0, count: Self.sliceCount)
    }

    static func slice(of uuid: UUID) -> Int { Int(uuid.uuid.0 >> 4) }

    /// How many entries wait, in both indexes.
    var count: Int { ids.reduce(0) { $0 + $1.count } + accountEntryCounts.reduce(0, +) }

    /// Takes committed transactions, in sequence order, beyond ``published``; an entry a slice already holds
    /// (when loading the database's unmerged tail) is not taken for that slice.
    mutating func append(_ entries: some Sequence<LedgerEntry>) {
        for entry in entries {
            let idSlice = Self.slice(of: entry.transaction.id.uuid)
            if entry.sequence > idsMergedThrough[idSlice] { ids[idSlice][entry.transaction.id] = entry }
            let account = entry.transaction.accountID
            let accountSlice = Self.slice(of: account.uuid)
            if entry.sequence > accountsMergedThrough[accountSlice] {
                accounts[accountSlice][account, default: []].append(entry)
                accountEntryCounts[accountSlice] += 1
            }
            published = max(published, entry.sequence)
        }
    }

    /// The waiting transaction with this id, if it waits for `transaction_ids`.
    func entry(_ id: TransactionID) -> LedgerEntry? {
        ids[Self.slice(of: id.uuid)][id]
    }

    /// The account's entries that `transactions_by_account` does not hold yet (in sequence order), and the
    /// sequence through which it holds them all.
    func tail(of account: AccountID) -> (entries: [LedgerEntry], mergedThrough: Int64) {
        let slice = Self.slice(of: account.uuid)
        return (accounts[slice][account] ?? [], accountsMergedThrough[slice])
    }

    /// One index slice's waiting entries, to merge.
    enum Slice {
        case ids(slice: Int, [TransactionID: LedgerEntry])
        case accounts(slice: Int, [AccountID: [LedgerEntry]])
    }

    /// The slice with the most waiting entries, nil when none waits.
    var fullestSlice: Slice? {
        let idSlice = ids.indices.max { ids[$0].count < ids[$1].count }!
        let accountSlice = accountEntryCounts.indices.max { accountEntryCounts[$0] < accountEntryCounts[$1] }!
        if ids[idSlice].count >= accountEntryCounts[accountSlice] {
            return ids[idSlice].isEmpty ? nil : .ids(slice: idSlice, ids[idSlice])
        }
        return .accounts(slice: accountSlice, accounts[accountSlice])
    }

    /// The slice's entries are in its table now, with every transaction up to `through`: they stop waiting.
    mutating func merged(_ slice: Slice, through: Int64) {
        switch slice {
        case .ids(let index, _):
            ids[index] = [:]
            idsMergedThrough[index] = through
        case .accounts(let index, _):
            accounts[index] = [:]
            accountEntryCounts[index] = 0
            accountsMergedThrough[index] = through
        }
    }
}

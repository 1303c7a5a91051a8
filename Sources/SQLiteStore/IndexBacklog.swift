import AccountLedger
import Foundation

/// The committed transactions that SQLite's two index tables do not hold yet, in memory, by id and by account.
///
/// A commit writes its transactions to `transactions` only: a row appended at the end of the table. Their
/// entries in `transaction_ids` (keyed by the client's random id) and `transactions_by_account` (keyed by
/// account, one tail per account) would each put a random B-tree page into every posting, and SQLite writes a
/// whole page to its log each time a commit changes it; so they wait here and go into the tables many at a time,
/// where one page written carries many entries. Each index is cut into ``sliceCount`` slices (by a hex digit of
/// the id or account id, see ``slice(of:)-(TransactionID)``), and one merge moves the oldest waiting entries of
/// one slice of one index: a short write transaction that still writes each of the slice's pages once for all of
/// its entries.
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
    /// Per slice: the waiting entries in sequence order, and by id.
    private var idsInOrder: [[LedgerEntry]]
    private var ids: [[TransactionID: LedgerEntry]]
    /// Per slice: the waiting entries in sequence order, and each account's in sequence order.
    private var accountsInOrder: [[LedgerEntry]]
    private var accounts: [[AccountID: [LedgerEntry]]]
    /// The last sequence appended: every transaction up to it is committed, and readable here or in the tables.
    private(set) var published: Int64

    init(idsMergedThrough: [Int64], accountsMergedThrough: [Int64], published: Int64) {
        precondition(idsMergedThrough.count == Self.sliceCount && accountsMergedThrough.count == Self.sliceCount)
        self.idsMergedThrough = idsMergedThrough
        self.accountsMergedThrough = accountsMergedThrough
        self.published = published
        idsInOrder = Array(repeating: [], count: Self.sliceCount)
        ids = Array(repeating: [:], count: Self.sliceCount)
        accountsInOrder = Array(repeating: [], count: Self.sliceCount)
        accounts = Array(repeating: [:], count: Self.sliceCount)
    }

    /// An id's slice is its first hex digit: a range of keys, so each slice has pages of its own, and random ids
    /// spread evenly. Ids that share a prefix (time-ordered ones) fall in one slice, where they append.
    static func slice(of id: TransactionID) -> Int { Int(id.uuid.uuid.0 >> 4) }

    /// An account's slice is its last hex digit. What a merge writes are the tails of the slice's accounts, a page
    /// each wherever the account sits; the last digit spreads accounts whose ids share a prefix (numbered ones)
    /// over every slice, where the first digit would put all of them into one.
    static func slice(of account: AccountID) -> Int { Int(account.uuid.uuid.15 & 0x0F) }

    /// How many entries wait, in both indexes.
    var count: Int { idsInOrder.reduce(0) { $0 + $1.count } + accountsInOrder.reduce(0) { $0 + $1.count } }

    /// Takes committed transactions, in sequence order, beyond ``published``; an entry a slice already holds
    /// (when loading the database's unmerged tail) is not taken for that slice.
    mutating func append(_ entries: some Sequence<LedgerEntry>) {
        for entry in entries {
            let idSlice = Self.slice(of: entry.transaction.id)
            if entry.sequence > idsMergedThrough[idSlice] {
                idsInOrder[idSlice].append(entry)
                ids[idSlice][entry.transaction.id] = entry
            }
            let account = entry.transaction.accountID
            let accountSlice = Self.slice(of: account)
            if entry.sequence > accountsMergedThrough[accountSlice] {
                accountsInOrder[accountSlice].append(entry)
                accounts[accountSlice][account, default: []].append(entry)
            }
            published = max(published, entry.sequence)
        }
    }

    /// The waiting transaction with this id, if it waits for `transaction_ids`.
    func entry(_ id: TransactionID) -> LedgerEntry? {
        ids[Self.slice(of: id)][id]
    }

    /// The account's entries that `transactions_by_account` does not hold yet (in sequence order), and the
    /// sequence through which it holds them all.
    func tail(of account: AccountID) -> (entries: [LedgerEntry], mergedThrough: Int64) {
        let slice = Self.slice(of: account)
        return (accounts[slice][account] ?? [], accountsMergedThrough[slice])
    }

    /// The oldest waiting entries of one slice of one index, to merge; the slice is merged through `through`
    /// once they are in its table.
    struct Merge {
        /// Each index, named by its table (as `index_progress` names it).
        enum Index: String {
            case ids = "transaction_ids"
            case accounts = "transactions_by_account"
        }
        let index: Index
        let slice: Int
        /// In sequence order.
        let entries: ArraySlice<LedgerEntry>
        let through: Int64
    }

    /// The oldest entries, at most `limit`, of the slice with the most waiting entries; nil when none waits.
    /// Taking the oldest keeps "merged through a sequence" true of the slice when it is taken in part.
    func fullestSlice(limit: Int) -> Merge? {
        let idSlice = idsInOrder.indices.max { idsInOrder[$0].count < idsInOrder[$1].count }!
        let accountSlice = accountsInOrder.indices.max { accountsInOrder[$0].count < accountsInOrder[$1].count }!
        let (index, slice, waiting) =
            idsInOrder[idSlice].count >= accountsInOrder[accountSlice].count
            ? (Merge.Index.ids, idSlice, idsInOrder[idSlice]) : (.accounts, accountSlice, accountsInOrder[accountSlice])
        guard !waiting.isEmpty else { return nil }
        let taken = waiting.prefix(limit)
        return Merge(
            index: index, slice: slice, entries: taken,
            through: taken.count == waiting.count ? published : taken.last!.sequence)
    }

    /// The merge's entries are in their table, with every transaction of the slice up to its `through`: they
    /// stop waiting.
    mutating func merged(_ merge: Merge) {
        let slice = merge.slice
        switch merge.index {
        case .ids:
            idsInOrder[slice].removeFirst(merge.entries.count)
            for entry in merge.entries { ids[slice][entry.transaction.id] = nil }
            idsMergedThrough[slice] = merge.through
        case .accounts:
            accountsInOrder[slice].removeFirst(merge.entries.count)
            var taken: [AccountID: Int] = [:]
            for entry in merge.entries { taken[entry.transaction.accountID, default: 0] += 1 }
            for (account, count) in taken {
                accounts[slice][account]!.removeFirst(count)
                if accounts[slice][account]!.isEmpty { accounts[slice][account] = nil }
            }
            accountsMergedThrough[slice] = merge.through
        }
    }
}

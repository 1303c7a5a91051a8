import AccountLedger
import GRDB

extension SQLiteLedgerStore {
    public func transaction(_ id: TransactionID) async throws -> LedgerEntry? {
        if let waiting = backlog.withLock({ $0.entry(id) }) { return waiting }
        return try read(indexes) { db in
            let statement = try db.cachedStatement(sql: SQL.transactionByID)
            statement.bind(.uuid(id.uuid))
            return try statement.firstRow(in: db, LedgerEntry.init(row:))
        }
    }

    public func resolution(of hold: TransactionID) async throws -> LedgerEntry? {
        try read(pool) { db in
            let statement = try db.cachedStatement(sql: SQL.resolutionOfHold)
            statement.bind(.uuid(hold.uuid))
            return try statement.firstRow(in: db, LedgerEntry.init(row:))
        }
    }

    public func expiredHolds(at instant: Timestamp, limit: Int) async throws -> [TransactionID] {
        try read(pool) { db in
            let statement = try db.cachedStatement(sql: SQL.expiredHolds)
            statement.bind(.integer(instant.millisecondsSince1970), .integer(Int64(limit)))
            return try statement.rows(in: db) { TransactionID($0.uuid(at: 0)) }
        }
    }

    public func balance(of account: AccountID, at instant: Timestamp) async throws -> Int64? {
        let tail = backlog.withLock { $0.tail(of: account) }
        await interleaving?.pause(at: .readTookBacklog)
        if let last = tail.entries.last(where: { $0.createdAt <= instant }) { return last.balanceAfter }
        return try read(indexes) { db in
            try Int64.fetchOne(
                db.cachedStatement(sql: SQL.balanceAtInstant),
                arguments: [account.uuid, instant.millisecondsSince1970, tail.mergedThrough])
        }
    }

    /// The waiting entries below `before`, newest first, then the table's from where they end.
    public func statement(of account: AccountID, before: Int64?, limit: Int) async throws -> [LedgerEntry] {
        let tail = backlog.withLock { $0.tail(of: account) }
        await interleaving?.pause(at: .readTookBacklog)
        let before = before ?? .max
        var entries = Array(tail.entries.reversed().lazy.filter { $0.sequence < before }.prefix(limit))
        guard entries.count < limit else { return entries }
        entries += try read(indexes) { db in
            let page = try db.cachedStatement(sql: SQL.statementPage)
            page.bind(
                .uuid(account.uuid), .integer(min(before, tail.mergedThrough + 1)),
                .integer(Int64(limit - entries.count)))
            return try page.rows(in: db, LedgerEntry.init(row:))
        }
        return entries
    }

    public func transactions(after: Int64, limit: Int) async throws -> [LedgerEntry] {
        let published = backlog.withLock { $0.published }
        return try read(pool) { db in
            let page = try db.cachedStatement(sql: SQL.feedPage)
            page.bind(.integer(after), .integer(Int64(limit)), .integer(published))
            return try page.rows(in: db, LedgerEntry.init(row:))
        }
    }

    public func balance(of account: AccountID) async throws -> Int64? {
        try read(pool) { db in
            try Int64.fetchOne(db.cachedStatement(sql: SQL.balanceByID), arguments: [account.uuid])
        }
    }

    public func transactionVolume() async throws -> TransactionVolume {
        try read(pool) { db in
            let rows = try Row.fetchAll(db.cachedStatement(sql: SQL.maxTransactionVolume))
            let maxVolume: Int64 = rows.first?["transaction_count"] ?? 0
            return TransactionVolume(maxVolume: maxVolume, accounts: rows.map { AccountID($0["id"]) })
        }
    }

    public func account(_ id: AccountID) async throws -> Account? {
        try read(pool) { db in
            let statement = try db.cachedStatement(sql: SQL.accountByID)
            statement.bind(.uuid(id.uuid))
            return try statement.firstRow(in: db, Account.init(row:))
        }
    }

    public func accounts(after: AccountID?, limit: Int, filter: MetadataFilter?) async throws -> [Account] {
        try read(pool) { db in
            let statement: Statement
            if let filter {
                statement = try db.cachedStatement(sql: SQL.accountsWithMember)
                statement.bind(
                    .text(filter.key), .text(filter.value), .idOrStart(after?.uuid), .integer(Int64(limit)))
            } else {
                statement = try db.cachedStatement(sql: SQL.accountsPage)
                statement.bind(.idOrStart(after?.uuid), .integer(Int64(limit)))
            }
            return try statement.rows(in: db, Account.init(row:))
        }
    }

    /// Runs read statements on the calling thread, on a reader connection of `pool` (the ledger's, or the index
    /// file's).
    ///
    /// Every read of the ledger is a single SELECT, which SQLite already runs atomically on one snapshot, and it
    /// sees every commit that completed before it started, so the explicit read transaction of
    /// `DatabasePool.read` would only add two statements. Running it here rather than on the reader's dispatch
    /// queue saves two thread switches per request, which cost far more than the index lookup itself
    /// (docs/performance.md, "Why the code is shaped so"). The pool is sized
    /// so that this never waits for a connection (see ``LedgerDatabase/open(path:durability:)``).
    private func read<T>(_ pool: DatabasePool, _ statement: (Database) throws -> T) throws -> T {
        try pool.unsafeRead(statement)
    }
}

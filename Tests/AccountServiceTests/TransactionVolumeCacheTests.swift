import Foundation
import Hummingbird
import HummingbirdTesting
import Synchronization
import TestSupport
import Testing

@testable import AccountHTTP
@testable import AccountLedger
@testable import PostgresStore
@testable import SQLiteStore

/// The max-volume answer is kept, encoded, until a commit: polling it costs one query per commit at most, and a
/// commit's effect shows in the next answer. A store that cannot vouch for every commit is asked every time.
@Suite(.timeLimit(.minutes(3))) struct TransactionVolumeCacheTests {
    /// The SQLite store, counting its max-volume queries; `soleWriter` says what it claims.
    final class CountingStore: ForwardingStore {
        let inner: SQLiteLedgerStore
        let soleWriter: Bool
        let queries = Atomic<Int>(0)

        init(_ inner: SQLiteLedgerStore, soleWriter: Bool) {
            self.inner = inner
            self.soleWriter = soleWriter
        }

        var isSoleWriter: Bool { soleWriter }
        func transactionVolume() async throws -> TransactionVolume {
            queries.add(1, ordering: .relaxed)
            return try await inner.transactionVolume()
        }
    }

    @Test(arguments: [true, false]) func theAnswerIsReadOncePerCommit(soleWriter: Bool) async throws {
        try await withTemporaryDatabase { path in
            let store = CountingStore(
                try SQLiteLedgerStore(pool: LedgerDatabase.open(path: path)), soleWriter: soleWriter)
            let ledger = Ledger(store: store)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await ledger.run() }
                defer { group.cancelAll() }
                try await Application(router: buildRouter(ledger: ledger)).test(.router) { client in
                    let (first, second) = (newID(), newID())
                    try await client.postAmount(transactionID: newID(), accountID: first, amount: 1)
                    for _ in 0..<3 {
                        #expect(try await client.transactionVolume() == VolumeBody(maxVolume: 1, accounts: [first]))
                    }
                    #expect(store.queries.load(ordering: .relaxed) == (soleWriter ? 1 : 3))
                    try await client.postAmount(transactionID: newID(), accountID: second, amount: 1)
                    for _ in 0..<3 {
                        #expect(
                            try await client.transactionVolume()
                                == VolumeBody(maxVolume: 1, accounts: [first, second].sorted()))
                    }
                    #expect(store.queries.load(ordering: .relaxed) == (soleWriter ? 2 : 6))
                }
            }
        }
    }
}

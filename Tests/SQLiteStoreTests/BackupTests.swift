import Foundation
import TestSupport
import Testing

@testable import AccountLedger
@testable import PostgresStore
@testable import SQLiteStore

/// `account-service backup`: a consistent copy while the service writes.
@Suite(.timeLimit(.minutes(3))) struct BackupTests {
    @Test func aBackupTakenUnderWriteLoadPassesTheCheck() async throws {
        try await withLedger { ledger, path async throws in
            let accounts = (0..<5).map { _ in AccountID(UUID()) }
            let backup = path + ".backup"
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<8 {
                    group.addTask {
                        for round in 0..<150 {
                            let transfer = Batch(
                                [
                                    Transaction(
                                        id: TransactionID(UUID()), accountID: accounts[(writer + round) % 5], amount: -7
                                    ),
                                    Transaction(
                                        id: TransactionID(UUID()), accountID: accounts[(writer + round + 1) % 5],
                                        amount: 7),
                                ], balanced: true)
                            _ = try await ledger.post(transfer)
                        }
                    }
                }
                // Taken once some transfers have committed, while the writers go on.
                while try await ledger.store.transactions(after: 0, limit: 200).count < 200 {
                    try await Task.sleep(for: .milliseconds(1))
                }
                try Backup.run(path: path, to: backup)
                try await group.waitForAll()
            }
            let report = try ConsistencyCheck.run(path: backup)
            #expect(report.isConsistent)
            #expect(report.transactions >= 200 && report.transactions < 8 * 150 * 2)
            #expect(report.transactions.isMultiple(of: 2), "a transfer is copied whole or not at all")
            // The copy is a working database: the sum of the transfers' balances is zero there too.
            let copy = try SQLiteLedgerStore(pool: try LedgerDatabase.open(path: backup))
            var sum: Int64 = 0
            for account in accounts { sum += try await copy.balance(of: account) ?? 0 }
            #expect(sum == 0)
        }
    }

    @Test func aBackupRefusesToOverwriteAndNamesAMissingDatabase() async throws {
        try await withTemporaryDatabase { path in
            let existing = path + ".existing"
            try Data("keep me".utf8).write(to: URL(fileURLWithPath: existing))
            #expect(throws: BackupError.self) { try Backup.run(path: path, to: existing) }
            #expect(try String(contentsOfFile: existing, encoding: .utf8) == "keep me")
            let error = #expect(throws: BackupError.self) {
                try Backup.run(path: path + ".missing", to: path + ".b")
            }
            #expect(error?.description.contains("does not exist") == true)
            #expect(!FileManager.default.fileExists(atPath: path + ".b"))
        }
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import ServiceLifecycle
import TestSupport
import Testing

@testable import AccountHTTP
@testable import AccountLedger
@testable import PostgresStore
@testable import SQLiteStore

/// Faults of the service itself, as a client sees them: 500 when the store fails, 503 once the ledger has shut
/// down; both are problems, and neither says more than a client can use.
@Suite(.timeLimit(.minutes(3))) struct FaultTests {

    @Test func aFailingStoreAnswers500WithoutDetails() async throws {
        try await withLedger(store: FailingStore()) { ledger, _ async throws in
            try await Application(router: buildRouter(ledger: ledger)).test(.router) { client in
                let paths = [
                    "/balance/a40bcc03-6f39-418c-ad0b-97e14f522ec1",
                    "/transaction/7943f961-a733-43cf-ba3d-905a5856f6da",
                    "/max_transaction_volume",
                ]
                for path in paths {
                    let problem = try await client.get(path).problem(.internalServerError)
                    #expect(!problem.detail.contains("DiskFailureError"))
                }
                // Not ready while the database fails; still alive.
                try await client.get("/ready").problem(.serviceUnavailable)
                #expect(try await client.get("/ping").status == .ok)
                let posted = try await client.postAmount(
                    transactionID: newID(), accountID: "a40bcc03-6f39-418c-ad0b-97e14f522ec1", amount: 7)
                let problem = try posted.problem(.internalServerError)
                #expect(problem.type == "about:blank")
                #expect(!problem.detail.contains("DiskFailureError"))
            }
        }
    }

    @Test func aPostAfterGracefulShutdownAnswers503() async throws {
        try await withTemporaryDatabase { path in
            let ledger = Ledger(store: try SQLiteLedgerStore(pool: try LedgerDatabase.open(path: path)))
            let group = ServiceGroup(services: [ledger], logger: Logger(label: "test"))
            let running = Task { try await group.run() }
            let account = newID()
            try await Application(router: buildRouter(ledger: ledger)).test(.router) { client in
                #expect(
                    try await client.postAmount(transactionID: newID(), accountID: account, amount: 7).status == .ok)
                #expect(try await client.get("/ready").status == .ok)
                await group.triggerGracefulShutdown()
                try await running.value
                try await client.get("/ready").problem(.serviceUnavailable)

                let problem = try await client.postAmount(transactionID: newID(), accountID: account, amount: 1)
                    .problem(.serviceUnavailable)
                #expect(problem.detail.contains("retry"))
                // Reads still answer while the process finishes.
                #expect(try await client.balance(account) == 7)
            }
        }
    }
}

import Foundation
import HTTPTypes
import HummingbirdTesting
import Synchronization
import TestSupport
import Testing

@testable import AccountLedger

/// Whether the limit has changed, and how many debits were sent before.
private final class Progress: Sendable {
    let changed = Atomic<Bool>(false)
    let sentBefore = Atomic<Int>(0)
}

/// Limits are checked inside the commit: concurrent debits can never take an account below its minimum together,
/// and a limit changed while debits run applies to every commit after the change.
@Suite(.timeLimit(.minutes(3))) struct LimitConcurrencyTests {
    /// 512 debits on one account (minimum 0) from a balance of 1,000, asking for about ten times that, sent 8 at
    /// a time: the balance ends at 0 or above, and is exactly 1,000 less the accepted debits, each applied once.
    /// (The test client keeps 8 connections to the server, and a request's 15 s includes its wait for one: more
    /// callers than that only queued in the client, and under the whole suite's load one waited past 15 s.)
    @Test(arguments: StoreKind.all) func concurrentDebitsNeverTakeAnAccountBelowItsMinimum(
        store: StoreKind
    ) async throws {
        try await withApp(.ahc(), store: store) { client async throws in
            let account = newID()
            try await client.configuredAccount(account, #"{"minimum_balance":0}"#, status: .created)
            #expect(
                try await client.postAmount(transactionID: newID(), accountID: account, amount: 1_000).status == .ok)
            let debits = (0..<512).map { Int64($0 % 37 + 1) }
            let outcomes = try await concurrently(debits, width: 8) { amount in
                let response = try await client.postAmount(transactionID: newID(), accountID: account, amount: -amount)
                if response.status == .unprocessableContent {
                    #expect(try response.decode(ProblemBody.self).type.hasSuffix(":insufficient-funds"))
                } else {
                    #expect(response.status == .ok, "\(String(buffer: response.body))")
                }
                return response.status == .ok ? amount : 0
            }
            let accepted = outcomes.filter { $0 > 0 }
            let balance = try await client.balance(account)
            #expect(balance >= 0)
            #expect(balance == 1_000 - accepted.reduce(0, +))
            #expect(!accepted.isEmpty && accepted.count < debits.count)
            let document = try await client.account(account)
            #expect(document.transaction_count == Int64(accepted.count) + 1)
        }
    }

    /// Debits of 1 run on 16 clients from 1,000,000 while the minimum is raised to 999,500: every debit sent
    /// after the change was answered leaves the balance at or above it, and the debits stop exactly there.
    @Test(arguments: StoreKind.all) func aLimitChangedWhileDebitsRunAppliesToEveryCommitAfterIt(
        store: StoreKind
    ) async throws {
        try await withApp(.ahc(), store: store) { client async throws in
            let account = newID()
            let minimum: Int64 = 999_500
            #expect(
                try await client.postAmount(transactionID: newID(), accountID: account, amount: 1_000_000).status == .ok
            )
            let progress = Progress()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<16 {
                    group.addTask {
                        // Bounded, so that a broken rule fails the test rather than debiting for ever.
                        for _ in 0..<1_000 {
                            let afterChange = progress.changed.load(ordering: .acquiring)
                            if !afterChange { progress.sentBefore.add(1, ordering: .relaxed) }
                            let response = try await client.postAmount(
                                transactionID: newID(), accountID: account, amount: -1)
                            if response.status == .ok {
                                let record = try response.decode(RecordBody.self)
                                if afterChange { #expect(record.balance_after >= minimum) }
                            } else {
                                try response.problem(.unprocessableContent)
                                #expect(afterChange, "refused before any limit was set")
                                return
                            }
                        }
                        Issue.record("a client was never refused")
                    }
                }
                try await waitUntil { progress.sentBefore.load(ordering: .relaxed) >= 50 }
                try await client.configuredAccount(account, #"{"minimum_balance":\#(minimum)}"#)
                progress.changed.store(true, ordering: .releasing)
                try await group.waitForAll()
            }
            #expect(progress.sentBefore.load(ordering: .relaxed) < 500)
            #expect(try await client.balance(account) == minimum)
        }
    }
}

import Foundation
import Testing

@testable import AccountLedger

/// The rules of holds, as `Ledger.plan` applies them to a snapshot: a hold reserves in the pending sums, a post or
/// a void resolves it once (in the same commit or a later one), a refused batch undoes the holds it made and
/// resolved, and expiry is the ledger's alone once the hold's time has come.
@Suite struct HoldRuleTests {
    let account = AccountID(UUID())
    let now = Timestamp(millisecondsSince1970: 1_800_000_000_000)

    func posting(_ amount: Int64) -> Transaction {
        Transaction(id: TransactionID(UUID()), accountID: account, amount: amount)
    }

    func resolve(_ hold: Transaction, _ action: Resolution.Action) -> Batch.Item {
        .resolution(Resolution(id: TransactionID(UUID()), hold: hold.id, action: action))
    }

    func plan(
        _ batches: [Batch], holds: [Hold] = [], state: AccountState = AccountState(balance: 100), at: Timestamp? = nil
    )
        -> CommitPlan
    {
        let snapshot = LedgerSnapshot(
            accounts: [account: state],
            holds: Dictionary(uniqueKeysWithValues: holds.map { ($0.entry.transaction.id, $0) }),
            lastSequence: 7)
        return Ledger.plan(batches, on: snapshot, now: at ?? now)
    }

    func refusals(_ outcome: Result<[PostingOutcome], LedgerError>) -> [LedgerError] {
        guard case .failure(.batchRefused(let refused)) = outcome else { return [] }
        return refused.map(\.reason)
    }

    /// A hold recorded earlier, open.
    func openHold(_ amount: Int64, expiresAt: Timestamp? = nil) -> Hold {
        let transaction = Transaction(
            id: TransactionID(UUID()), accountID: account, amount: amount, role: .hold(expiresAt: expiresAt))
        return Hold(
            entry: LedgerEntry(transaction: transaction, sequence: 3, createdAt: now, balanceAfter: 100),
            resolution: nil)
    }

    @Test func aHoldAndItsPostInOneCommitMoveOnlyWhatIsPosted() {
        let hold = posting(-50)
        let plan = plan([Batch([hold], pending: true, timeout: 60), Batch(items: [resolve(hold, .post(amount: -20))])])
        #expect(
            plan.created.map(\.transaction.role) == [
                .hold(expiresAt: Timestamp(millisecondsSince1970: now.millisecondsSince1970 + 60_000)),
                .post(hold: hold.id),
            ])
        #expect(plan.created.map(\.balanceAfter) == [100, 80])
        #expect(
            plan.accounts == [
                AccountChange(account: account, previousBalance: 100, balance: 80, addedTransactions: 1)
            ])
        #expect(plan.resolutions.map(\.hold) == [hold.id])
        #expect(
            plan.resolutions.first?.expiresAt == Timestamp(millisecondsSince1970: now.millisecondsSince1970 + 60_000))
    }

    /// A refused batch undoes the hold it made: a later batch of the commit cannot resolve it.
    @Test func aRefusedBatchTakesItsHoldsWithIt() {
        let hold = posting(-5)
        let (large, overflowing) = (posting(.max), posting(1))
        let plan = plan([
            Batch([hold, large, overflowing], pending: true), Batch(items: [resolve(hold, .void)]),
        ])
        #expect(
            refusals(plan.outcomes[0]) == [
                .balanceOutOfRange(
                    Transaction(id: overflowing.id, accountID: account, amount: 1, role: .hold(expiresAt: nil)))
            ])
        #expect(refusals(plan.outcomes[1]) == [.unknownHold(hold.id)])
        #expect(plan.created.isEmpty && plan.accounts.isEmpty && plan.resolutions.isEmpty)
    }

    /// A refused batch also undoes its resolutions: the hold is open again for the next batch.
    @Test func aRefusedBatchReopensTheHoldsItResolved() {
        let hold = openHold(-30)
        let state = AccountState(balance: 100, pendingDebits: -30)
        let plan = plan(
            [
                Batch(items: [
                    .resolution(Resolution(id: TransactionID(UUID()), hold: hold.entry.transaction.id, action: .void)),
                    .posting(posting(.max)),
                ]),
                Batch(items: [
                    .resolution(
                        Resolution(
                            id: TransactionID(UUID()), hold: hold.entry.transaction.id, action: .post(amount: nil)))
                ]),
            ], holds: [hold], state: state)
        #expect(refusals(plan.outcomes[0]).count == 1)
        #expect(plan.created.map(\.transaction.amount) == [-30])
        #expect(plan.accounts.map(\.balance) == [70] && plan.accounts.map(\.pendingDebits) == [0])
    }

    /// A client may resolve a hold until its expiry, not at it; the ledger's expiry only from it.
    @Test func expiryBelongsToTheLedgerFromTheHoldsTime() {
        let expiresAt = Timestamp(millisecondsSince1970: now.millisecondsSince1970 + 1000)
        let hold = openHold(40, expiresAt: expiresAt)
        let state = AccountState(balance: 100, pendingCredits: 40)
        let id = hold.entry.transaction.id
        let early = plan([Batch(items: [.resolution(.expiry(of: id))])], holds: [hold], state: state)
        #expect(refusals(early.outcomes[0]) == [.holdNotExpired(id, expiresAt: expiresAt)])
        let late = plan(
            [Batch(items: [.resolution(Resolution(id: TransactionID(UUID()), hold: id, action: .void))])],
            holds: [hold],
            state: state, at: expiresAt)
        #expect(refusals(late.outcomes[0]) == [.holdExpired(id, expiresAt: expiresAt)])
        let expired = plan([Batch(items: [.resolution(.expiry(of: id))])], holds: [hold], state: state, at: expiresAt)
        #expect(expired.created.map(\.transaction.role) == [.void(hold: id, expired: true)])
        #expect(expired.created.map(\.transaction.id) == [Resolution.expiry(of: id).id])
        #expect(expired.accounts.map(\.pendingCredits) == [0] && expired.accounts.map(\.balance) == [100])
        // Once voided by the expiry, a client's resolution is told it expired.
        let voided = Hold(entry: hold.entry, resolution: expired.created[0])
        let after = plan(
            [Batch(items: [.resolution(Resolution(id: TransactionID(UUID()), hold: id, action: .post(amount: nil)))])],
            holds: [voided], state: AccountState(balance: 100), at: expiresAt)
        #expect(refusals(after.outcomes[0]) == [.holdExpired(id, expiresAt: expiresAt)])
        // The expiry's own void again is a replay.
        #expect(
            plan([Batch(items: [.resolution(.expiry(of: id))])], holds: [voided], at: expiresAt).created.isEmpty)
    }

    /// The ids of an expiry's voids are derived from the hold's: the same every time, a version 8 UUID, and a
    /// new one for each attempt.
    @Test func expiryIDsAreDerivedFromTheHold() {
        let hold = TransactionID(UUID())
        let ids = (0..<4).map { Resolution.expiry(of: hold, attempt: $0).id }
        #expect(Set(ids).count == 4 && !ids.contains(hold))
        #expect(ids == (0..<4).map { Resolution.expiry(of: hold, attempt: $0).id })
        for id in ids {
            #expect(id.uuid.uuid.6 >> 4 == 8 && id.uuid.uuid.8 >> 6 == 2, "\(id)")
        }
        #expect(Resolution.expiry(of: TransactionID(UUID())).id != ids[0])
    }

    /// A hold whose amount would take a pending sum out of 64 bits is refused.
    @Test func pendingSumsStayWithin64Bits() {
        let plan = plan([Batch([posting(.min)], pending: true)], state: AccountState(balance: 0, pendingDebits: -1))
        #expect(refusals(plan.outcomes[0]).count == 1)
    }
}

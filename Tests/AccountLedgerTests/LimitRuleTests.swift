import Foundation
import Testing

@testable import AccountLedger

/// The balance limits, as the rules (`Ledger.plan`) apply them to a snapshot: a posting that lowers a balance is
/// refused when the balance and the pending debits after it would be below the minimum, one that raises it when
/// the balance and the pending credits after it would be above the maximum; given the items before it, and never
/// when it moves the balance toward its allowed range.
@Suite struct LimitRuleTests {
    let account = AccountID(UUID())
    let now = Timestamp(millisecondsSince1970: 1_800_000_000_000)

    func posting(_ amount: Int64, on account: AccountID? = nil) -> Transaction {
        Transaction(id: TransactionID(UUID()), accountID: account ?? self.account, amount: amount)
    }

    func plan(_ batches: [[Transaction]], on state: AccountState) -> CommitPlan {
        Ledger.plan(
            batches.map { Batch($0) }, on: LedgerSnapshot(accounts: [account: state], lastSequence: 7), now: now)
    }

    /// The reason of the only refused item of a batch's outcome, or nil when the batch was accepted.
    func refusal(_ outcome: Result<[PostingOutcome], LedgerError>) -> LedgerError? {
        guard case .failure(.batchRefused(let refused)) = outcome else { return nil }
        #expect(refused.count == 1)
        return refused.first?.reason
    }

    @Test func aDebitBelowTheMinimumIsRefusedNamingTheMinimumAndTheResult() {
        let debit = posting(-11)
        let plan = plan([[debit]], on: AccountState(balance: 10, rules: AccountRules(minimumBalance: 0)))
        #expect(refusal(plan.outcomes[0]) == .insufficientFunds(debit, minimum: 0, resulting: -1))
        #expect(plan.created.isEmpty)
        #expect(plan.accounts.isEmpty)
        let exact = self.plan([[posting(-10)]], on: AccountState(balance: 10, rules: AccountRules(minimumBalance: 0)))
        #expect(exact.created.map(\.balanceAfter) == [0])
    }

    /// An overdraft limit is a negative minimum.
    @Test func anOverdraftLimitLetsTheBalanceGoDownToIt() {
        let rules = AccountRules(minimumBalance: -5000)
        #expect(plan([[posting(-5000)]], on: AccountState(balance: 0, rules: rules)).created.count == 1)
        let over = posting(-5001)
        #expect(
            refusal(plan([[over]], on: AccountState(balance: 0, rules: rules)).outcomes[0])
                == .insufficientFunds(over, minimum: -5000, resulting: -5001))
    }

    /// Funds reserved by holds are not available: the pending debits count against the minimum, the pending credits
    /// against the maximum.
    @Test func pendingSumsCountAgainstTheLimits() {
        let state = AccountState(
            balance: 100, pendingDebits: -30, pendingCredits: 40,
            rules: AccountRules(minimumBalance: 0, maximumBalance: 200))
        #expect(plan([[posting(-70)]], on: state).created.count == 1)
        let debit = posting(-71)
        #expect(refusal(plan([[debit]], on: state).outcomes[0]) == .insufficientFunds(debit, minimum: 0, resulting: -1))
        #expect(plan([[posting(60)]], on: state).created.count == 1)
        let credit = posting(61)
        #expect(
            refusal(plan([[credit]], on: state).outcomes[0]) == .limitExceeded(credit, maximum: 200, resulting: 201))
    }

    /// A limit tightened below (or above) a balance never traps the account: what moves it back is accepted.
    @Test func aPostingTowardTheAllowedRangeIsNeverRefused() {
        let above = AccountState(balance: 150, rules: AccountRules(minimumBalance: 0, maximumBalance: 100))
        #expect(plan([[posting(-10)]], on: above).created.map(\.balanceAfter) == [140])
        let below = AccountState(balance: -10, rules: AccountRules(minimumBalance: 0, maximumBalance: 100))
        #expect(plan([[posting(5)]], on: below).created.map(\.balanceAfter) == [-5])
        // But not past the other side.
        let overshoot = posting(-200)
        #expect(
            refusal(plan([[overshoot]], on: above).outcomes[0])
                == .insufficientFunds(overshoot, minimum: 0, resulting: -50))
    }

    /// Both limits at the balance lock the account: nothing moves it, a zero amount still records.
    @Test func bothLimitsAtTheBalanceLockTheAccount() {
        let locked = AccountState(balance: 42, rules: AccountRules(minimumBalance: 42, maximumBalance: 42))
        #expect(refusal(plan([[posting(-1)]], on: locked).outcomes[0]) != nil)
        #expect(refusal(plan([[posting(1)]], on: locked).outcomes[0]) != nil)
        #expect(plan([[posting(0)]], on: locked).created.count == 1)
    }

    /// Each item sees the ones before it; a refused batch changes nothing, and a batch after it in the same commit
    /// sees the balance as if it had not been.
    @Test func itemsSeeTheOnesBeforeThemAndARefusedBatchDisturbsNoOther() {
        let state = AccountState(balance: 10, rules: AccountRules(minimumBalance: 0))
        let (first, second, alone) = (posting(-6), posting(-6), posting(-6))
        let plan = plan([[first, second], [alone]], on: state)
        guard case .failure(.batchRefused(let refused)) = plan.outcomes[0] else {
            Issue.record("the first batch was accepted")
            return
        }
        #expect(refused.map(\.index) == [1])
        #expect(refused[0].reason == .insufficientFunds(second, minimum: 0, resulting: -2))
        #expect(plan.created.map(\.transaction) == [alone])
        #expect(plan.created.map(\.balanceAfter) == [4])
        #expect(plan.created.map(\.sequence) == [8])
        #expect(
            plan.accounts == [AccountChange(account: account, previousBalance: 10, balance: 4, addedTransactions: 1)])
    }

    /// Accounts without rules (every account a posting opened) are limited only by the 64-bit range.
    @Test func anAccountWithoutRulesTakesAnyAmountInRange() {
        let other = AccountID(UUID())
        let plan = Ledger.plan(
            [Batch([posting(.min, on: other), posting(-1_000_000, on: account)])],
            on: LedgerSnapshot(accounts: [account: AccountState(balance: 0)]), now: now)
        #expect(plan.created.map(\.balanceAfter) == [.min, -1_000_000])
    }
}

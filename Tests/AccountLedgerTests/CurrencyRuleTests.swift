import Foundation
import Testing

@testable import AccountLedger

/// Currencies, as the rules apply them: an item that names a currency must name its account's; a balanced batch
/// sums to zero in each currency, the accounts without one forming one group.
@Suite struct CurrencyRuleTests {
    let usd = AccountID(UUID())
    let eur = AccountID(UUID())
    let plain = AccountID(UUID())
    let now = Timestamp(millisecondsSince1970: 1_800_000_000_000)

    var snapshot: LedgerSnapshot {
        LedgerSnapshot(accounts: [
            usd: AccountState(balance: 100, rules: AccountRules(currency: "USD")),
            eur: AccountState(balance: 100, rules: AccountRules(currency: "EUR")),
            plain: AccountState(balance: 100),
        ])
    }

    func posting(_ account: AccountID, _ amount: Int64) -> Transaction {
        Transaction(id: TransactionID(UUID()), accountID: account, amount: amount)
    }

    @Test func anItemNamingAnotherCurrencyThanItsAccountsIsRefused() {
        let (right, wrong, none, new) = (
            posting(usd, 5), posting(eur, 5), posting(plain, 5), posting(AccountID(UUID()), 5)
        )
        let plan = Ledger.plan(
            [
                Batch([right], currencies: [0: "USD"]), Batch([wrong], currencies: [0: "USD"]),
                Batch([none], currencies: [0: "USD"]), Batch([new], currencies: [0: "USD"]), Batch([none]),
            ], on: snapshot, now: now)
        #expect(plan.created.map(\.transaction) == [right, none])
        guard case .failure(.batchRefused(let refused)) = plan.outcomes[1] else {
            Issue.record("a posting naming USD on an EUR account was accepted")
            return
        }
        #expect(refused[0].reason == .currencyMismatch(wrong, requested: "USD", account: "EUR"))
        guard case .failure(.batchRefused(let second)) = plan.outcomes[2],
            case .failure(.batchRefused(let third)) = plan.outcomes[3]
        else {
            Issue.record("a posting naming USD on an account without a currency was accepted")
            return
        }
        #expect(second[0].reason == .currencyMismatch(none, requested: "USD", account: nil))
        #expect(third[0].reason == .currencyMismatch(new, requested: "USD", account: nil))
    }

    @Test func aBalancedBatchSumsToZeroInEachCurrency() {
        let balanced = Batch([posting(usd, -5), posting(eur, 5)], balanced: true)
        let plan = Ledger.plan([balanced], on: snapshot, now: now)
        #expect(plan.outcomes[0] == .failure(.unbalanced(sum: -5, currency: "USD")))
        #expect(plan.created.isEmpty)

        let twoCurrencies = Batch(
            [
                posting(usd, -5), posting(eur, 7), posting(usd, 5), posting(eur, -7), posting(plain, 1),
                posting(AccountID(UUID()), -1),
            ],
            balanced: true)
        #expect(Ledger.plan([twoCurrencies], on: snapshot, now: now).created.count == 6)

        let plainOnly = Batch([posting(plain, 3), posting(AccountID(UUID()), -2)], balanced: true)
        #expect(
            Ledger.plan([plainOnly], on: snapshot, now: now).outcomes[0] == .failure(.unbalanced(sum: 1, currency: nil))
        )
    }
}

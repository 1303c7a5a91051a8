import Foundation
import Testing

@testable import AccountLedger

/// The rule for accounts' settings (`Ledger.configurations`): pure, on the accounts as the store holds them.
@Suite struct ConfigurationRuleTests {
    let account = AccountID(UUID())
    let now = Timestamp(millisecondsSince1970: 7_000)

    func settings(
        _ currency: String? = nil, minimum: Int64? = nil, _ members: [(String, String)] = []
    ) -> AccountSettings {
        AccountSettings(
            rules: AccountRules(currency: currency, minimumBalance: minimum),
            metadata: try! Metadata.validated(members, field: "metadata").get())
    }

    @Test func configurationsInOneWriteSeeTheOnesBeforeThem() throws {
        let decisions = Ledger.configurations(
            [
                (account, settings("USD")), (account, settings("USD", minimum: 0)),
                (account, settings("USD", minimum: 0)),
            ],
            on: [:], now: now)
        let plans = try decisions.map { try $0.get() }
        #expect(plans.map(\.outcome) == [.opened, .configured, .configured])
        #expect(plans[0].previous == nil && plans[0].account.createdAt == now)
        #expect(plans[1].previous == plans[0].account && plans[1].settings != nil)
        // The third repeats the second: nothing to write.
        #expect(plans[2].settings == nil && plans[2].account == plans[1].account)
    }

    @Test func aRefusedConfigurationLeavesTheOthers() throws {
        let other = AccountID(UUID())
        let used = Account(
            id: account, state: AccountState(balance: 5, rules: AccountRules(currency: "EUR"), transactionCount: 1),
            metadata: .empty, createdAt: now)
        let decisions = Ledger.configurations(
            [(account, settings("USD")), (other, settings("USD")), (account, settings("EUR", minimum: 0))],
            on: [account: used], now: now)
        #expect(throws: LedgerError.currencyFixed(account, currency: "EUR", requested: "USD")) {
            try decisions[0].get()
        }
        #expect(try decisions[1].get().outcome == .opened)
        let kept = try decisions[2].get()
        #expect(
            kept.previous == used && kept.account.state.rules.minimumBalance == 0 && kept.account.state.balance == 5)
    }

    /// An account without transactions may still change its currency; metadata changes alone are written.
    @Test func currencyChangesUntilTheFirstTransaction() throws {
        let fresh = Account(
            id: account, state: AccountState(balance: 0, rules: AccountRules(currency: "EUR")), metadata: .empty,
            createdAt: now)
        #expect(
            try Ledger.configurations([(account, settings("USD"))], on: [account: fresh], now: now)[0].get().settings
                != nil)
        let members = settings("EUR", [("a", "1")])
        let plan = try Ledger.configurations([(account, members)], on: [account: fresh], now: now)[0].get()
        #expect(plan.settings == members && plan.account.metadata == members.metadata)
    }
}

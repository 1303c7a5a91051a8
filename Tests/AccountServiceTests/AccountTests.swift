import Foundation
import HTTPTypes
import HummingbirdTesting
import TestSupport
import Testing

@testable import AccountHTTP
@testable import AccountLedger

/// Accounts opened and configured explicitly (PUT /accounts/{id}), their document, and the rules they carry into
/// every commit: balance limits and currencies; metadata on accounts and transactions.
@Suite(.timeLimit(.minutes(3))) struct AccountTests {
    @Test(arguments: StoreKind.all) func anAccountOpenedByPutExistsWithNoTransactions(store: StoreKind) async throws {
        try await withApp(store: store) { client async throws in
            let account = newID()
            let settings = #"{"currency":"USD","minimum_balance":0,"metadata":{"owner":"u-17","tier":"gold"}}"#
            let opened = try await client.configuredAccount(account, settings, status: .created)
            #expect(opened.account_id == account && opened.currency == "USD")
            #expect(opened.minimum_balance == 0 && opened.maximum_balance == nil)
            #expect(opened.metadata == ["owner": "u-17", "tier": "gold"])
            #expect(opened.balance == 0 && opened.available_balance == 0 && opened.transaction_count == 0)
            #expect(opened.pending_debits == 0 && opened.pending_credits == 0)
            #expect(Timestamp(rfc3339: opened.created_at) != nil)
            #expect(try await client.account(account) == opened)
            // Repeating the same PUT changes nothing.
            #expect(try await client.configuredAccount(account, settings, status: .ok) == opened)
            #expect(try await client.balance(account) == 0)
            let statement = try await client.get("/accounts/\(account)/transactions").decode(StatementBody.self)
            #expect(statement.transactions.isEmpty && statement.next == nil)
            #expect(try await client.transactionVolume() == VolumeBody(maxVolume: 0, accounts: []))
            try await client.get("/balance/\(account)?at=2100-01-01T00:00:00Z").problem(.notFound)

            let posted = try await client.postAmount(transactionID: newID(), accountID: account, amount: 30)
            #expect(posted.status == .ok)
            let after = try await client.account(account)
            #expect(after.balance == 30 && after.available_balance == 30 && after.transaction_count == 1)
            #expect(after.created_at == opened.created_at)
            #expect(try await client.transactionVolume() == VolumeBody(maxVolume: 1, accounts: [account]))
        }
    }

    @Test(arguments: StoreKind.all) func anAccountOpenedByAPostingHasNoRules(store: StoreKind) async throws {
        try await withApp(store: store) { client async throws in
            let account = newID()
            let record = try await client.postAmount(transactionID: newID(), accountID: account, amount: -7)
                .decode(RecordBody.self)
            let document = try await client.account(account)
            #expect(document.currency == nil && document.minimum_balance == nil && document.maximum_balance == nil)
            #expect(document.metadata.isEmpty && document.balance == -7 && document.transaction_count == 1)
            #expect(document.created_at == record.created_at)
            try await client.get("/accounts/\(newID())").problem(.notFound)
            try await client.get("/accounts/not-a-uuid").problem(.badRequest)
            // PUT sets the settings whole: an omitted member takes its default.
            try await client.configuredAccount(account, #"{"maximum_balance":100,"metadata":{"a":"1"}}"#)
            let reset = try await client.configuredAccount(account, "{}")
            #expect(reset.maximum_balance == nil && reset.metadata.isEmpty && reset.balance == -7)
        }
    }

    @Test(
        arguments: [
            (#"{"currency":"usd"}"#, "currency 'usd' is not a currency code"),
            (#"{"currency":"1USD"}"#, "currency '1USD' is not a currency code"),
            (#"{"currency":"ABCDEFGHIJKLMNOPQ"}"#, "is not a currency code"),
            (#"{"currency":7}"#, "currency must be a string"),
            (#"{"minimum_balance":10,"maximum_balance":5}"#, "minimum_balance 10 is above maximum_balance 5"),
            (#"{"minimum_balance":1.5}"#, "minimum_balance '1.5' must be an integer"),
            (#"{"maximum_balance":"5"}"#, "maximum_balance must be an integer or null"),
            (#"{"metadata":[]}"#, "metadata must be an object"),
            (#"{"metadata":{"owner":5}}"#, "metadata.owner: the value must be a string"),
            (#"{"metadata":{"":"x"}}"#, "metadata: a key is empty"),
            (#"{"metadata":{"a":"1","a":"2"}}"#, "metadata.a: the key is given twice"),
            (#"{"metadata":{"a":"\u0000"}}"#, "metadata.a: the value holds U+0000"),
            (
                #"{"metadata":{"owner":"\#(String(repeating: "é", count: 257))"}}"#,
                "metadata.owner: value longer than 256 characters"
            ),
            (
                #"{"metadata":{"\#(String(repeating: "k", count: 65))":"x"}}"#,
                "metadata.\(String(repeating: "k", count: 64))…: key longer than 64 characters"
            ),
            (
                #"{"metadata":{\#((0..<33).map { "\"k\($0)\":\"v\"" }.joined(separator: ","))}}"#,
                "metadata: holds 33 members; at most 32 are allowed"
            ),
            (#"{"currency":"USD","currency":"EUR"}"#, "The body has currency twice"),
            ("[]", "The body must be a JSON object"),
        ])
    func malformedSettingsAreRefusedNamingTheField(_ body: String, _ expected: String) async throws {
        try await withApp { client async throws in
            let account = newID()
            let problem = try await client.putAccount(account, body).problem(.badRequest)
            #expect(problem.detail.contains(expected), "\(problem.detail)")
            try await client.get("/accounts/\(account)").problem(.notFound)
        }
    }

    /// The longest allowed metadata (counted in characters, not bytes) is accepted and returned exactly, and keys
    /// are compared byte for byte.
    @Test func metadataAtItsBoundsIsKeptExactly() async throws {
        try await withApp { client async throws in
            var members: [String: String] = [:]
            for index in 0..<32 {
                let key = String(format: "%02d", index) + String(repeating: "é", count: 62)
                members[key] =
                    index % 2 == 0
                    ? String(repeating: "\u{1F600}", count: 256) : String(repeating: "\"\\\n", count: 85) + "x"
            }
            let body = String(decoding: try JSONEncoder().encode(["metadata": members]), as: UTF8.self)
            let account = newID()
            let opened = try await client.configuredAccount(account, body, status: .created)
            #expect(opened.metadata == members)
            #expect(try await client.account(account).metadata == members)
            // "é" as one scalar and as two are two keys (Swift's String would call them equal): both are kept.
            let response = try await client.putAccount(account, #"{"metadata":{"\u00e9":"1","e\u0301":"2"}}"#)
            #expect(response.status == .ok)
            let bytes = Data(buffer: response.body)
            #expect(bytes.range(of: Data("\"\u{E9}\":\"1\"".utf8)) != nil)
            #expect(bytes.range(of: Data("\"e\u{301}\":\"2\"".utf8)) != nil)
        }
    }

    @Test(arguments: StoreKind.all) func theCurrencyIsFixedOnceTheAccountHasATransaction(store: StoreKind) async throws
    {
        try await withApp(store: store) { client async throws in
            let account = newID()
            try await client.configuredAccount(account, #"{"currency":"USD"}"#, status: .created)
            // No transaction yet: the currency may still change.
            try await client.configuredAccount(account, #"{"currency":"EUR"}"#)
            #expect(try await client.postAmount(transactionID: newID(), accountID: account, amount: 5).status == .ok)
            let problem = try await client.putAccount(account, #"{"currency":"USD","minimum_balance":0}"#)
                .problem(.unprocessableContent)
            #expect(problem.type.hasSuffix(":currency-fixed") && problem.detail.contains(account))
            let unchanged = try await client.account(account)
            #expect(unchanged.currency == "EUR" && unchanged.minimum_balance == nil)
            // The same currency with other settings is fine.
            #expect(
                try await client.configuredAccount(account, #"{"currency":"EUR","minimum_balance":0}"#).minimum_balance
                    == 0)
            // An account opened by a posting has no currency, and keeps none.
            let legacy = newID()
            _ = try await client.postAmount(transactionID: newID(), accountID: legacy, amount: 1)
            try await client.putAccount(legacy, #"{"currency":"USD"}"#).problem(.unprocessableContent)
        }
    }

    /// The limit rule over HTTP: an overdraft limit (minimum -5000), and a locked account (both limits at its
    /// balance), with refusals naming the account, the limit and the amount that would have resulted.
    @Test(arguments: StoreKind.all) func limitsRefuseWhatWouldBreakThemAndNothingElse(store: StoreKind) async throws {
        try await withApp(store: store) { client async throws in
            let account = newID()
            try await client.configuredAccount(account, #"{"minimum_balance":-5000}"#, status: .created)
            #expect(
                try await client.postAmount(transactionID: newID(), accountID: account, amount: -4000).status == .ok)
            let refused = try await client.postAmount(transactionID: newID(), accountID: account, amount: -1001)
            let problem = try refused.problem(.unprocessableContent)
            #expect(problem.type.hasSuffix(":insufficient-funds"))
            #expect(
                problem.detail.contains(account) && problem.detail.contains("-5001") && problem.detail.contains("-5000")
            )
            #expect(
                try await client.postAmount(transactionID: newID(), accountID: account, amount: -1000).status == .ok)
            #expect(try await client.balance(account) == -5000)

            // Locked: both limits at the balance. Nothing moves it either way.
            try await client.configuredAccount(account, #"{"minimum_balance":-5000,"maximum_balance":-5000}"#)
            let debit = try await client.postAmount(transactionID: newID(), accountID: account, amount: -1)
            #expect(try debit.problem(.unprocessableContent).type.hasSuffix(":insufficient-funds"))
            let credit = try await client.postAmount(transactionID: newID(), accountID: account, amount: 1)
            let exceeded = try credit.problem(.unprocessableContent)
            #expect(exceeded.type.hasSuffix(":limit-exceeded") && exceeded.detail.contains("-4999"))
            // A limit tightened below the balance only refuses what moves away from the range.
            try await client.configuredAccount(account, #"{"minimum_balance":0}"#)
            #expect(try await client.postAmount(transactionID: newID(), accountID: account, amount: 100).status == .ok)
            #expect(try await client.account(account).balance == -4900)
        }
    }

    /// In a batch, each refused item is listed with its rule; the limit counts the items before it.
    @Test(arguments: StoreKind.all) func aBatchBreakingLimitsListsEveryRefusedItem(store: StoreKind) async throws {
        try await withApp(store: store) { client async throws in
            let (wallet, capped, other) = (newID(), newID(), newID())
            try await client.configuredAccount(wallet, #"{"minimum_balance":0}"#, status: .created)
            try await client.configuredAccount(capped, #"{"maximum_balance":10}"#, status: .created)
            let problem = try await client.refusedBatch([
                BatchItem(wallet, 5), BatchItem(wallet, -5), BatchItem(wallet, -1), BatchItem(capped, 11),
                BatchItem(other, 3),
            ])
            #expect(problem.errors?.map(\.index) == [2, 3])
            #expect(problem.errors?[0].type.hasSuffix(":insufficient-funds") == true)
            #expect(problem.errors?[1].type.hasSuffix(":limit-exceeded") == true)
            try await client.expectNoAccount(other)
            #expect(try await client.balance(wallet) == 0)
            #expect(try await client.acceptedBatch([BatchItem(wallet, 5), BatchItem(wallet, -5)]).count == 2)
        }
    }

    @Test(arguments: StoreKind.all) func postingsNamingACurrencyAreChecked(store: StoreKind) async throws {
        try await withApp(store: store) { client async throws in
            let (usdA, usdB, eurA, eurB, none) = (newID(), newID(), newID(), newID(), newID())
            for (account, currency) in [(usdA, "USD"), (usdB, "USD"), (eurA, "EUR"), (eurB, "EUR")] {
                try await client.configuredAccount(account, #"{"currency":"\#(currency)"}"#, status: .created)
            }
            let body = #"{"account_id":"\#(usdA)","amount":10,"currency":"USD"}"#
            #expect(try await client.postAmount(transactionID: newID(), body: body).status == .ok)
            let wrong = #"{"account_id":"\#(usdA)","amount":10,"currency":"EUR"}"#
            let mismatch = try await client.postAmount(transactionID: newID(), body: wrong)
                .problem(.unprocessableContent)
            #expect(mismatch.type.hasSuffix(":currency-mismatch") && mismatch.detail.contains("USD"))
            let noCurrency = #"{"account_id":"\#(none)","amount":10,"currency":"USD"}"#
            try await client.postAmount(transactionID: newID(), body: noCurrency).problem(.unprocessableContent)
            try await client.expectNoAccount(none)
            try await client.postAmount(
                transactionID: newID(), body: #"{"account_id":"\#(usdA)","amount":1,"currency":"usd"}"#
            )
            .problem(.badRequest)

            // Balanced per currency: USD and EUR each sum to zero.
            let transfer = [
                BatchItem(usdA, -4, currency: "USD"), BatchItem(usdB, 4), BatchItem(eurA, -3), BatchItem(eurB, 3),
            ]
            #expect(try await client.acceptedBatch(transfer, balanced: true).count == 4)
            // Across currencies the sum is zero, but not within each.
            let crossed = try await client.refusedBatch([BatchItem(usdA, -4), BatchItem(eurB, 4)], balanced: true)
            #expect(crossed.type.hasSuffix(":unbalanced") && crossed.detail.contains("USD"))
            let items = try await client.refusedBatch([BatchItem(usdA, 1, currency: "EUR"), BatchItem(eurA, 1)])
            #expect(items.errors?.map(\.index) == [0])
        }
    }

    @Test(arguments: StoreKind.all) func transactionMetadataIsKeptReturnedAndComparedByIdempotency(
        store: StoreKind
    ) async throws {
        try await withApp(store: store) { client async throws in
            let (account, id) = (newID(), newID())
            let body = #"{"account_id":"\#(account)","amount":5,"metadata":{"order":"o-1","channel":"web"}}"#
            let posted = try await client.postAmount(transactionID: id, body: body).decode(RecordBody.self)
            #expect(posted.metadata == ["order": "o-1", "channel": "web"])
            // The same members in another order are the same payload: a replay.
            let reordered = #"{"metadata":{"channel":"web","order":"o-1"},"amount":5,"account_id":"\#(account)"}"#
            let replay = try await client.postAmount(transactionID: id, body: reordered)
            #expect(replay.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            #expect(try replay.decode(RecordBody.self) == posted)
            let other = #"{"account_id":"\#(account)","amount":5,"metadata":{"order":"o-2","channel":"web"}}"#
            let conflict = try await client.postAmount(transactionID: id, body: other).problem(.unprocessableContent)
            #expect(conflict.type.hasSuffix(":idempotency-conflict") && conflict.detail.contains("metadata differs"))
            let none = try await client.postAmount(transactionID: id, accountID: account, amount: 5)
            try none.problem(.unprocessableContent)

            #expect(try await client.get("/transaction/\(id)").decode(RecordBody.self) == posted)
            let statement = try await client.get("/accounts/\(account)/transactions").decode(StatementBody.self)
            #expect(statement.transactions == [posted])
            let feed = try await client.get("/transactions").decode(FeedBody.self)
            #expect(feed.transactions == [posted])
            let batch = try await client.acceptedBatch([
                BatchItem(account, 1, metadata: ["k": "v"]), BatchItem(account, 2),
            ])
            #expect(batch.map(\.metadata) == [["k": "v"], [:]])
            let page = try await client.get("/accounts/\(account)/transactions").decode(StatementBody.self)
            #expect(page.transactions.map(\.metadata) == [[:], ["k": "v"], ["order": "o-1", "channel": "web"]])
        }
    }

    /// GET /accounts pages in id order, and with one metadata filter lists exactly the accounts holding it, as
    /// their settings change.
    @Test(arguments: StoreKind.all) func accountsAreListedInPagesAndFilteredByOneMember(store: StoreKind) async throws {
        try await withApp(store: store) { client async throws in
            let accounts = (0..<7).map { _ in newID() }.sorted()
            let key = "team & co=1"
            let value = "gold/α +x"
            for (index, account) in accounts.enumerated() {
                let metadata = index % 2 == 0 ? #"{"\#(key)":"\#(value)","n":"\#(index)"}"# : #"{"n":"\#(index)"}"#
                try await client.configuredAccount(account, #"{"metadata":\#(metadata)}"#, status: .created)
            }
            var listed: [String] = []
            var next: String? = "/accounts?limit=3"
            while let page = next {
                let response = try await client.get(page)
                let body = try response.decode(AccountListBody.self)
                #expect(body.accounts.count <= 3)
                listed += body.accounts.map(\.account_id)
                next = body.next
                #expect(response.headers[HTTPField.Name("Link")!] == body.next.map { "<\($0)>; rel=\"next\"" })
            }
            #expect(listed == accounts)

            let encodedKey = key.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let encodedValue = value.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            func filtered(limit: Int) async throws -> [String] {
                var found: [String] = []
                var next: String? = "/accounts?limit=\(limit)&metadata.\(encodedKey)=\(encodedValue)"
                while let page = next {
                    let body = try await client.get(page).decode(AccountListBody.self)
                    found += body.accounts.map(\.account_id)
                    next = body.next
                }
                return found
            }
            let gold = accounts.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)
            #expect(try await filtered(limit: 1) == gold)
            #expect(try await filtered(limit: 100) == gold)
            // A member that changes leaves the filter; one that is added enters it.
            try await client.configuredAccount(accounts[0], #"{"metadata":{"n":"0"}}"#)
            try await client.configuredAccount(accounts[1], #"{"metadata":{"\#(key)":"\#(value)"}}"#)
            #expect(try await filtered(limit: 2) == [accounts[1]] + gold.dropFirst())
            let none = try await client.get("/accounts?metadata.n=none").decode(AccountListBody.self)
            #expect(none.accounts.isEmpty && none.next == nil)

            try await client.get("/accounts?metadata.a=1&metadata.b=2").problem(.badRequest)
            try await client.get("/accounts?after=nope").problem(.badRequest)
            try await client.get("/accounts?limit=0").problem(.badRequest)
            try await client.get("/accounts?metadata.=x").problem(.badRequest)
            try await client.get("/accounts?metadata.a=%zz").problem(.badRequest)
            let last = try await client.get("/accounts?after=\(accounts.last!)").decode(AccountListBody.self)
            #expect(last.accounts.isEmpty && last.next == nil)
        }
    }
}

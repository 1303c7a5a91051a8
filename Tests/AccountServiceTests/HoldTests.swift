import Foundation
import HTTPTypes
import HummingbirdTesting
import TestSupport
import Testing

@testable import AccountHTTP
@testable import AccountLedger

/// Holds (two-phase postings): pending batches reserve funds in the accounts' pending sums, a post or a void
/// resolves each hold once, and the service voids the holds that expire.
@Suite(.timeLimit(.minutes(3))) struct HoldTests {
    /// The card payment of docs/api.md: hold 50, post 42, the rest released.
    @Test(arguments: StoreKind.all) func aCardPaymentHoldsThenPostsLess(store: StoreKind) async throws {
        try await withApp(store: store) { client async throws in
            let (card, merchant) = (newID(), newID())
            try await client.configuredAccount(card, #"{"currency":"EUR","minimum_balance":0}"#, status: .created)
            try await client.postAmount(transactionID: newID(), accountID: card, amount: 100)
            let hold = newID()
            let held = try await client.accepted(
                #"{"pending":true,"transactions":[{"transaction_id":"\#(hold)","account_id":"\#(card)","amount":-50}]}"#
            )
            #expect(held[0].status == "pending" && held[0].amount == -50 && held[0].balance_after == 100)
            #expect(held[0].expires_at == nil && held[0].pending_id == nil && !held[0].replayed)
            var document = try await client.account(card)
            #expect(document.balance == 100 && document.pending_debits == -50 && document.available_balance == 50)
            #expect(document.transaction_count == 1)
            #expect(try await client.holdRecord(hold).hold_state == "pending")

            // The hold counts against the minimum: 60 more would take the available balance below 0.
            let refused = try await client.refused(
                #"{"transactions":[{"transaction_id":"\#(newID())","account_id":"\#(card)","amount":-60}]}"#)
            #expect(refused.errors?.map(\.type) == [Problem.type("insufficient-funds")])

            let post = newID()
            let postBody =
                #"{"transactions":[{"transaction_id":"\#(post)","pending_id":"\#(hold)","action":"post","amount":-42},"#
                + #"{"transaction_id":"\#(newID())","account_id":"\#(merchant)","amount":42}]}"#
            let posted = try await client.accepted(postBody)
            #expect(posted[0].status == "posted" && posted[0].pending_id == hold && posted[0].account_id == card)
            #expect(posted[0].amount == -42 && posted[0].balance_after == 58)
            document = try await client.account(card)
            #expect(document.balance == 58 && document.pending_debits == 0 && document.available_balance == 58)
            #expect(document.transaction_count == 2)
            #expect(try await client.holdRecord(hold).hold_state == "posted")
            // The same request again replays it; another resolution of the hold is refused.
            #expect(try await client.accepted(postBody).allSatisfy(\.replayed))
            let again = try await client.refused(
                #"{"transactions":[{"transaction_id":"\#(newID())","pending_id":"\#(hold)","action":"void"}]}"#)
            #expect(again.errors?.map(\.type) == [Problem.type("hold-resolved")])
            #expect(try await client.balance(card) == 58)

            // The statement lists the hold and its post, newest first; max volume counts posted records only.
            let statement = try await client.get("/accounts/\(card)/transactions").decode(StatementBody.self)
            #expect(statement.transactions.map(\.status) == ["posted", "pending", "posted"])
            #expect(try await client.transactionVolume().maxVolume == 2)
        }
    }

    /// The escrow of docs/api.md: a balanced pending transfer, then a balanced post of both legs; a void of both
    /// legs balances too, and a post of one leg alone does not.
    @Test(arguments: StoreKind.all) func anEscrowIsABalancedHoldPostedWhole(store: StoreKind) async throws {
        try await withApp(store: store) { client async throws in
            let (buyer, seller) = (newID(), newID())
            let (debit, credit) = (newID(), newID())
            try await client.accepted(
                #"{"pending":true,"balanced":true,"transactions":["#
                    + #"{"transaction_id":"\#(debit)","account_id":"\#(buyer)","amount":-300},"#
                    + #"{"transaction_id":"\#(credit)","account_id":"\#(seller)","amount":300}]}"#)
            #expect(try await client.account(seller).pending_credits == 300)
            let oneLeg = try await client.postBatch(
                body: #"{"balanced":true,"transactions":["#
                    + #"{"transaction_id":"\#(newID())","pending_id":"\#(debit)","action":"post"}]}"#)
            #expect(try oneLeg.problem(.unprocessableContent).type == Problem.type("unbalanced"))
            let posted = try await client.accepted(
                #"{"balanced":true,"transactions":["#
                    + #"{"transaction_id":"\#(newID())","pending_id":"\#(debit)","action":"post"},"#
                    + #"{"transaction_id":"\#(newID())","pending_id":"\#(credit)","action":"post"}]}"#)
            #expect(posted.map(\.amount) == [-300, 300])
            #expect(try await client.balance(buyer) == -300)
            #expect(try await client.balance(seller) == 300)
            let sellerDocument = try await client.account(seller)
            #expect(sellerDocument.pending_credits == 0 && sellerDocument.transaction_count == 1)

            // Voided: nothing moves.
            let (debit2, credit2) = (newID(), newID())
            try await client.accepted(
                #"{"pending":true,"balanced":true,"transactions":["#
                    + #"{"transaction_id":"\#(debit2)","account_id":"\#(buyer)","amount":-5},"#
                    + #"{"transaction_id":"\#(credit2)","account_id":"\#(seller)","amount":5}]}"#)
            let voided = try await client.accepted(
                #"{"balanced":true,"transactions":["#
                    + #"{"transaction_id":"\#(newID())","pending_id":"\#(debit2)","action":"void"},"#
                    + #"{"transaction_id":"\#(newID())","pending_id":"\#(credit2)","action":"void"}]}"#)
            #expect(voided.map(\.status) == ["voided", "voided"] && voided.map(\.amount) == [-5, 5])
            #expect(voided.allSatisfy { $0.reason == nil })
            #expect(try await client.balance(buyer) == -300)
            #expect(try await client.account(buyer).pending_debits == 0)
            #expect(try await client.holdRecord(debit2).hold_state == "voided")
        }
    }

    @Test(arguments: StoreKind.all) func resolutionsTheHoldRefuses(store: StoreKind) async throws {
        try await withApp(store: store) { client async throws in
            let account = newID()
            let hold = newID()
            try await client.accepted(
                #"{"pending":true,"transactions":[{"transaction_id":"\#(hold)","account_id":"\#(account)","amount":-50}]}"#
            )
            for (amount, why) in [(-51, "more than held"), (10, "the other sign"), (0, "nothing")] {
                let refused = try await client.refused(
                    #"{"transactions":[{"transaction_id":"\#(newID())","pending_id":"\#(hold)","action":"post","amount":\#(amount)}]}"#
                )
                #expect(refused.errors?.map(\.type) == [Problem.type("invalid-resolution")], "\(why)")
            }
            // A posting is not a hold, nor is an id that names nothing.
            let posting = newID()
            try await client.postAmount(transactionID: posting, accountID: account, amount: 1)
            for unknown in [posting, newID()] {
                let refused = try await client.refused(
                    #"{"transactions":[{"transaction_id":"\#(newID())","pending_id":"\#(unknown)","action":"void"}]}"#)
                #expect(refused.errors?.map(\.type) == [Problem.type("unknown-hold")])
            }
            // A refused batch changes nothing: its valid post is undone with it.
            let refused = try await client.refused(
                #"{"transactions":[{"transaction_id":"\#(newID())","pending_id":"\#(hold)","action":"post"},"#
                    + #"{"transaction_id":"\#(newID())","pending_id":"\#(newID())","action":"void"}]}"#)
            #expect(refused.errors?.map(\.index) == [1])
            #expect(try await client.holdRecord(hold).hold_state == "pending")
            #expect(try await client.account(account).pending_debits == -50)
            // A resolution id reused with another action conflicts.
            let void = newID()
            try await client.accepted(
                #"{"transactions":[{"transaction_id":"\#(void)","pending_id":"\#(hold)","action":"void"}]}"#)
            let conflict = try await client.refused(
                #"{"transactions":[{"transaction_id":"\#(void)","pending_id":"\#(hold)","action":"post"}]}"#)
            #expect(conflict.errors?.map(\.type) == [Problem.type("idempotency-conflict")])
        }
    }

    @Test(
        arguments: [
            (#""timeout":5,"transactions":[ITEM]"#, "timeout is for holds"),
            (#""pending":true,"timeout":0,"transactions":[ITEM]"#, "timeout must be a whole number of seconds"),
            (#""pending":true,"timeout":31536001,"transactions":[ITEM]"#, "timeout must be a whole number"),
            (#""pending":true,"timeout":1.5,"transactions":[ITEM]"#, "timeout must be a whole number"),
            (#""pending":"yes","transactions":[ITEM]"#, "pending must be true or false"),
            (#""pending":true,"transactions":[RESOLUTION]"#, "a pending batch holds only new holds"),
            (#""transactions":[{"transaction_id":"ID","pending_id":"ID"}]"#, "has no action"),
            (#""transactions":[{"transaction_id":"ID","pending_id":"ID","action":"cancel"}]"#, "action must be"),
            (#""transactions":[{"transaction_id":"ID","pending_id":"ID","action":"void","amount":5}]"#, "no amount"),
            (
                #""transactions":[{"transaction_id":"ID","account_id":"ID","amount":5,"action":"void"}]"#,
                "no pending_id"
            ),
            (
                #""transactions":[{"transaction_id":"ID","pending_id":"ID","action":"void","account_id":"ID"}]"#,
                "it has no account_id"
            ),
            (#""transactions":[{"transaction_id":"ID","pending_id":"x","action":"void"}]"#, "is not a UUID"),
        ])
    func holdRequestsThatAreNotValid(body: String, detail: String) async throws {
        try await withApp { client async throws in
            let item = #"{"transaction_id":"\#(newID())","account_id":"\#(newID())","amount":5}"#
            let resolution = #"{"transaction_id":"\#(newID())","pending_id":"\#(newID())","action":"void"}"#
            let json =
                "{"
                + body.replacingOccurrences(of: "ITEM", with: item)
                .replacingOccurrences(of: "RESOLUTION", with: resolution)
                .replacingOccurrences(of: "\"ID\"", with: "\"\(newID())\"") + "}"
            let problem = try await client.postBatch(body: json).problem(.badRequest)
            #expect(problem.detail.contains(detail), "\(problem.detail)")
        }
        try await withApp { client async throws in
            let response = try await client.postAmount(
                transactionID: newID(), body: #"{"account_id":"\#(newID())","amount":5,"pending_id":"\#(newID())"}"#)
            #expect(try response.problem(.badRequest).detail.contains("POST /transactions"))
        }
    }

    /// A hold with a timeout expires at its commit time plus the timeout; the service voids it within about a
    /// second after, and a resolution from then on is refused as expired.
    @Test(arguments: StoreKind.all) func aHoldExpiresByItself(store: StoreKind) async throws {
        try await withApp(store: store) { client async throws in
            let (account, hold, other) = (newID(), newID(), newID())
            // One that lives an hour, posted at once.
            let long = try await client.accepted(
                #"{"pending":true,"timeout":3600,"transactions":["#
                    + #"{"transaction_id":"\#(other)","account_id":"\#(account)","amount":-5}]}"#)
            let longExpiry = try #require(long[0].expires_at.flatMap(Timestamp.init(rfc3339:)))
            #expect(
                try longExpiry.millisecondsSince1970
                    - #require(Timestamp(rfc3339: long[0].created_at)).millisecondsSince1970 == 3_600_000)
            try await client.accepted(
                #"{"transactions":[{"transaction_id":"\#(newID())","pending_id":"\#(other)","action":"post"}]}"#)
            let held = try await client.accepted(
                #"{"pending":true,"timeout":1,"transactions":["#
                    + #"{"transaction_id":"\#(hold)","account_id":"\#(account)","amount":25}]}"#)
            let createdAt = try #require(Timestamp(rfc3339: held[0].created_at))
            let expiresAt = try #require(held[0].expires_at.flatMap(Timestamp.init(rfc3339:)))
            #expect(expiresAt.millisecondsSince1970 - createdAt.millisecondsSince1970 == 1000)
            var feed: FeedBody
            repeat {
                try await Task.sleep(for: .milliseconds(100))
                feed = try await client.get("/transactions?after=0").decode(FeedBody.self)
            } while feed.transactions.count < 4
            let void = try #require(feed.transactions.last)
            #expect(void.status == "voided" && void.reason == "expired" && void.pending_id == hold && void.amount == 25)
            #expect(try #require(Timestamp(rfc3339: void.created_at)) >= expiresAt)
            #expect(try await client.holdRecord(hold).hold_state == "expired")
            let document = try await client.account(account)
            #expect(document.pending_credits == 0 && document.pending_debits == 0 && document.balance == -5)
            let late = try await client.refused(
                #"{"transactions":[{"transaction_id":"\#(newID())","pending_id":"\#(hold)","action":"post"}]}"#)
            #expect(late.errors?.map(\.type) == [Problem.type("hold-expired")])
            // Nothing more happens to it.
            try await Task.sleep(for: .milliseconds(600))
            #expect(try await client.get("/transactions?after=0").decode(FeedBody.self).transactions.count == 4)
        }
    }

    /// Many clients post and void one hold at once: exactly one resolution is recorded.
    @Test(arguments: StoreKind.all) func racingResolutionsResolveAHoldOnce(store: StoreKind) async throws {
        try await withApp(.ahc(), store: store) { client async throws in
            let account = newID()
            for _ in 0..<5 {
                let hold = newID()
                try await client.accepted(
                    #"{"pending":true,"transactions":[{"transaction_id":"\#(hold)","account_id":"\#(account)","amount":-3}]}"#
                )
                let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                    for index in 0..<16 {
                        let action = index.isMultiple(of: 2) ? "post" : "void"
                        let body =
                            #"{"transactions":[{"transaction_id":"\#(newID())","pending_id":"\#(hold)","action":"\#(action)"}]}"#
                        group.addTask { try await client.postBatch(body: body).status }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(statuses.filter { $0 == .ok }.count == 1)
                #expect(statuses.filter { $0 == .unprocessableContent }.count == 15)
            }
            let document = try await client.account(account)
            #expect(document.pending_debits == 0)
            let statement = try await client.get("/accounts/\(account)/transactions").decode(StatementBody.self)
            #expect(statement.transactions.count == 10)
            #expect(document.balance == -3 * Int64(statement.transactions.filter { $0.status == "posted" }.count))
        }
    }

    /// Holds reserve: two holds together cannot take an account below its minimum, and a void gives the room
    /// back.
    @Test(arguments: StoreKind.all) func holdsCountAgainstLimits(store: StoreKind) async throws {
        try await withApp(store: store) { client async throws in
            let account = newID()
            try await client.configuredAccount(
                account, #"{"minimum_balance":-100,"maximum_balance":100}"#, status: .created)
            let first = newID()
            try await client.accepted(
                #"{"pending":true,"transactions":[{"transaction_id":"\#(first)","account_id":"\#(account)","amount":-70}]}"#
            )
            let second = try await client.refused(
                #"{"pending":true,"transactions":[{"transaction_id":"\#(newID())","account_id":"\#(account)","amount":-40}]}"#
            )
            #expect(second.errors?.map(\.type) == [Problem.type("insufficient-funds")])
            let credit = try await client.refused(
                #"{"pending":true,"transactions":[{"transaction_id":"\#(newID())","account_id":"\#(account)","amount":101}]}"#
            )
            #expect(credit.errors?.map(\.type) == [Problem.type("limit-exceeded")])
            try await client.accepted(
                #"{"transactions":[{"transaction_id":"\#(newID())","pending_id":"\#(first)","action":"void"}]}"#)
            try await client.accepted(
                #"{"pending":true,"transactions":[{"transaction_id":"\#(newID())","account_id":"\#(account)","amount":-40}]}"#
            )
            // The currency of an account with an open hold is fixed.
            let problem = try await client.putAccount(account, #"{"currency":"USD"}"#).problem(.unprocessableContent)
            #expect(problem.type == Problem.type("currency-fixed"))
        }
    }
}

extension TestClientProtocol {
    /// The records of a POST /transactions body that must be accepted.
    @discardableResult
    fileprivate func accepted(
        _ body: String, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> [BatchResultBody.Record] {
        let response = try await postBatch(body: body)
        try #require(response.status == .ok, "\(String(buffer: response.body))", sourceLocation: sourceLocation)
        return try response.decode(BatchResultBody.self).transactions
    }

    /// The refusal (422) of a POST /transactions body.
    fileprivate func refused(
        _ body: String, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> BatchProblemBody {
        let response = try await postBatch(body: body)
        try response.problem(.unprocessableContent, sourceLocation: sourceLocation)
        return try response.decode(BatchProblemBody.self)
    }

    /// GET /transaction/{id} of a hold.
    fileprivate func holdRecord(
        _ id: String, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> RecordBody {
        let response = try await get("/transaction/\(id)")
        try #require(response.status == .ok, "\(String(buffer: response.body))", sourceLocation: sourceLocation)
        return try response.decode(RecordBody.self)
    }
}

import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import PropertyBased
import Synchronization
import TestSupport
import Testing

@testable import AccountHTTP
@testable import AccountLedger
@testable import AccountServiceApp
@testable import PostgresStore
@testable import SQLiteStore

/// Generated POST /amount and POST /transactions requests, valid and not: none answers 5xx or crashes the
/// process, and only the valid ones write anything. One test at a time: together they kept both cores of a CI
/// machine busy for two minutes, and the suite's other tests, starved, ran past their deadlines.
@Suite(.serialized) struct FuzzTests {
    /// A generated request, and what the service must answer to it.
    struct Case: Sendable, CustomStringConvertible {
        enum Expectation: Sendable { case accepted, refused, tooLarge }
        var contentType: String? = "application/json"
        var transactionID: String?
        var body: [UInt8]
        var expectation: Expectation
        var description: String {
            "\(expectation) Content-Type: \(contentType ?? "-") Transaction-Id: \(transactionID ?? "-") "
                + String(decoding: body.prefix(300), as: UTF8.self)
        }
    }

    /// Builds one case from a seed: PropertyBased chooses the seeds (and reports a failing one), plain Swift
    /// chooses the rest, so every case can be rebuilt from its seed.
    static func make(seed: UInt64) -> Case {
        var random = SplitMix64(seed: seed)
        let id = randomUUID(&random).uuidString.lowercased()
        let (members, space) = validMembers(&random)
        switch Int.random(in: 0..<10, using: &random) {
        case 0..<3:
            return Case(transactionID: id, body: Array(object(members, space).utf8), expectation: .accepted)
        case 3..<7:
            var request = Case(transactionID: id, body: Array(object(members, space).utf8), expectation: .refused)
            mutations.randomElement(using: &random)!(&request, members, space)
            return request
        case 7..<9:
            let garbage = (0..<Int.random(in: 0...400, using: &random)).map { _ in
                UInt8.random(in: 0...255, using: &random)
            }
            return Case(transactionID: id, body: garbage, expectation: .refused)
        default:
            let padding =
                "\"padding\":\"" + String(repeating: "x", count: Int.random(in: 65_537...200_000, using: &random))
                + "\""
            return Case(transactionID: id, body: Array(object(members + [padding], space).utf8), expectation: .tooLarge)
        }
    }

    /// The members of a valid body in one of many spellings: id case, spacing, member order, escaped names,
    /// an unknown member holding odd Unicode.
    static func validMembers(_ random: inout SplitMix64) -> (members: [String], space: String) {
        let id = randomUUID(&random).uuidString
        let space = ["", " ", "\n\t ", "  \r\n"].randomElement(using: &random)!
        let account = "\"account_id\"\(space):\(space)\"\(Bool.random(using: &random) ? id : id.lowercased())\""
        let name = Bool.random(using: &random) ? #""\u0061mount""# : #""amount""#
        let amount = "\(name)\(space):\(space)\(Int64.random(in: .min ... .max, using: &random))"
        let note = String(
            String.UnicodeScalarView(
                (0..<Int.random(in: 0...12, using: &random)).map { _ in
                    Unicode.Scalar(UInt32.random(in: 0...0xD7FF, using: &random)) ?? "?"
                } + (Bool.random(using: &random) ? ["\u{1F600}", "\u{10FFFF}", "\u{FEFF}"] : [])))
        var members = Bool.random(using: &random) ? [amount, account] : [account, amount]
        members.insert("\"note\":\(jsonString(note))", at: Int.random(in: 0...2, using: &random))
        if Int.random(in: 0..<3, using: &random) == 0 {
            members.insert(validMetadata(&random, space), at: Int.random(in: 0...members.count, using: &random))
        }
        return (members, space)
    }

    /// A valid `metadata` member: 0 to 4 members of any text but U+0000, within the bounds in characters.
    static func validMetadata(_ random: inout SplitMix64, _ space: String) -> String {
        func text(_ lengths: ClosedRange<Int>, _ random: inout SplitMix64) -> String {
            String(
                String.UnicodeScalarView(
                    (0..<Int.random(in: lengths, using: &random)).map { _ in
                        Unicode.Scalar(UInt32.random(in: 1...0x10FFFF, using: &random)) ?? "\u{1F600}"
                    }))
        }
        var keys: Set<[UInt8]> = []
        var members: [String] = []
        for _ in 0..<Int.random(in: 0...4, using: &random) {
            let key = Bool.random(using: &random) ? text(1...64, &random) : "k\(members.count)"
            guard keys.insert(Array(key.utf8)).inserted else { continue }
            members.append("\(jsonString(key))\(space):\(space)\(jsonString(text(0...256, &random)))")
        }
        return "\"metadata\"\(space):\(space)" + object(members, space)
    }

    /// A UUID drawn from `random`, so that it too is rebuilt from the seed.
    static func randomUUID(_ random: inout SplitMix64) -> UUID {
        var uuid = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)).uuid
        withUnsafeMutableBytes(of: &uuid) { for i in $0.indices { $0[i] = UInt8.random(in: 0...255, using: &random) } }
        return UUID(uuid: uuid)
    }

    /// Any Unicode text as a JSON string literal, escaped by Foundation rather than by the code under test.
    static func jsonString(_ text: String) -> String {
        String(decoding: try! JSONEncoder().encode(text), as: UTF8.self)
    }

    static func object(_ members: [String], _ space: String) -> String {
        "{\(space)" + members.joined(separator: ",\(space)") + "\(space)}"
    }

    /// One change to a valid request that makes it invalid, whichever spelling the valid one has (members are
    /// found by `contains`, which sees both `"amount"` and its escaped form `"\u0061mount"`).
    static let mutations: [@Sendable (inout Case, [String], String) -> Void] = [
        // Metadata and currency members that are wrong (400, naming the member).
        { c, m, s in c.body = Array(object(m + [#""metadata":{"a":1}"#], s).utf8) },
        { c, m, s in c.body = Array(object(m + [#""metadata":["a"]"#], s).utf8) },
        { c, m, s in c.body = Array(object(m + [#""metadata":{"":"x"}"#], s).utf8) },
        { c, m, s in
            c.body = Array(object(m + ["\"metadata\":{\"\(String(repeating: "é", count: 65))\":\"x\"}"], s).utf8)
        },
        { c, m, s in
            c.body = Array(object(m + ["\"metadata\":{\"a\":\"\(String(repeating: "x", count: 257))\"}"], s).utf8)
        },
        { c, m, s in
            c.body = Array(
                object(m + ["\"metadata\":{" + (0...32).map { "\"k\($0)\":\"v\"" }.joined(separator: ",") + "}"], s)
                    .utf8)
        },
        { c, m, s in c.body = Array(object(m + [#""metadata":{"a":"\u0000"}"#], s).utf8) },
        { c, m, s in c.body = Array(object(m + [#""currency":"usd""#], s).utf8) },
        { c, m, s in c.body = Array(object(m + [#""currency":5"#], s).utf8) },
        { c, m, s in c.body = Array(object(m.map { $0.contains("mount\"") ? #""amount":"7""# : $0 }, s).utf8) },
        { c, m, s in c.body = Array(object(m.filter { !$0.contains("account_id") }, s).utf8) },
        { c, m, s in c.body = Array(object(m.filter { !$0.contains("mount\"") }, s).utf8) },
        { c, m, s in c.body = Array(object(m + [m.first { $0.contains("account_id") }!], s).utf8) },
        { c, m, s in c.body = Array(object(m + [#""amount":1.5"#], s).utf8) },
        { c, m, s in
            c.body = Array(object(m.map { $0.contains("account_id") ? #""account_id":"not-a-uuid""# : $0 }, s).utf8)
        },
        { c, m, s in c.body = Array(object(m.map { $0.contains("account_id") ? #""account_id":12"# : $0 }, s).utf8) },
        { c, m, s in
            c.body = Array(object(m.map { $0.contains("mount\"") ? #""amount":92233720368547758070"# : $0 }, s).utf8)
        },
        { c, m, s in c.body = Array(object(m.map { $0.contains("mount\"") ? #""amount":-7e2"# : $0 }, s).utf8) },
        { c, m, s in c.body = Array(object(m.map { $0.contains("mount\"") ? #""amount":7.0"# : $0 }, s).utf8) },
        { c, m, s in c.body = Array(object(m.map { $0.contains("mount\"") ? #""amount":null"# : $0 }, s).utf8) },
        { c, m, s in c.body = Array(object(m.map { $0.contains("mount\"") ? #""amount":true"# : $0 }, s).utf8) },
        { c, m, s in
            c.body = Array(
                object(m + ["\"deep\":" + String(repeating: "[", count: 40) + String(repeating: "]", count: 40)], s)
                    .utf8)
        },
        { c, m, s in c.body = Array(object(m + ["\"deep\":" + String(repeating: "{\"a\":", count: 5000)], s).utf8) },
        { c, m, s in c.body = Array("[\(object(m, s))]".utf8) },
        { c, m, s in c.body = Array((object(m, s) + ",").utf8) },
        { c, m, s in c.body = Array(object(m, s).utf8.dropLast(1 + m.count % 5)) },
        { c, m, s in c.body = Array(object(m, s).utf8) + [0xFF] },
        { c, m, s in c.body = [0xEF, 0xBB, 0xBF] + Array(object(m, s).utf8) },
        { c, _, _ in c.body = [] },
        { c, _, _ in c.contentType = nil },
        { c, _, _ in c.contentType = "text/plain" },
        { c, _, _ in c.contentType = "application/xml; charset=utf-8" },
        { c, _, _ in c.transactionID = nil },
        { c, _, _ in c.transactionID = "1234" },
        { c, _, _ in c.transactionID = c.transactionID! + "0" },
        { c, _, _ in c.transactionID = "\u{1F600}" },
        // Well formed, but the new account has no currency: 422.
        { c, m, s in c.body = Array(object(m + [#""currency":"USD""#], s).utf8) },
    ]

    static let caseCount = 4_000

    /// A generated batch: valid items in many spellings, and perhaps one malformed item at a random index.
    struct BatchCase: Sendable, CustomStringConvertible {
        var body: [UInt8]
        var count: Int
        var malformedIndex: Int?
        var description: String {
            "malformed item: \(malformedIndex.map(String.init) ?? "none") "
                + String(decoding: body.prefix(600), as: UTF8.self)
        }
    }

    /// The mutations that leave the body valid JSON but make one item's member wrong: the problem must name
    /// the item.
    static let itemMutations = mutations[0..<21]

    static func makeBatch(seed: UInt64) -> BatchCase {
        var random = SplitMix64(seed: seed)
        let count = Int.random(in: 1...40, using: &random)
        let malformedIndex = Bool.random(using: &random) ? Int.random(in: 0..<count, using: &random) : nil
        let items = (0..<count).map { index in
            var (members, space) = validMembers(&random)
            let id = randomUUID(&random).uuidString
            members.insert(
                "\"transaction_id\"\(space):\(space)\"\(id)\"", at: Int.random(in: 0...members.count, using: &random))
            guard index == malformedIndex else { return object(members, space) }
            let choice = Int.random(in: 0..<(itemMutations.count + 3), using: &random)
            guard choice >= itemMutations.count else {
                var item = Case(body: [], expectation: .refused)
                itemMutations[choice](&item, members, space)
                return String(decoding: item.body, as: UTF8.self)
            }
            let others = members.filter { !$0.contains("transaction_id") }
            return object(
                others + [[], [#""transaction_id":"x""#], [#""transaction_id":5"#]][choice - itemMutations.count],
                space)
        }
        let balanced = Bool.random(using: &random) ? #","balanced":false"# : ""
        return BatchCase(
            body: Array(("{\"transactions\":[" + items.joined(separator: ",") + "]\(balanced)}").utf8), count: count,
            malformedIndex: malformedIndex)
    }

    static let batchCaseCount = 1_000

    @Test(.shrinking(false), .timeLimit(.minutes(5)), arguments: StoreKind.all)
    func generatedBatchesWithAMalformedItemAreRefusedNamingItAndWriteNothing(store: StoreKind) async throws {
        try await withTemporaryStore(store) { path in
            try await buildApplication(TestArguments(database: path)).test(.router) { client in
                var written = 0
                var refused = 0
                await propertyCheck(count: Self.batchCaseCount, input: Gen.uint64()) { seed in
                    let batch = Self.makeBatch(seed: seed)
                    let response = try await client.postBatch(body: String(decoding: batch.body, as: UTF8.self))
                    if let index = batch.malformedIndex {
                        let problem = try response.problem(.badRequest)
                        #expect(problem.detail.contains("transactions[\(index)]"), "\(batch) → \(problem.detail)")
                        refused += 1
                    } else {
                        #expect(response.status == .ok, "\(batch) → \(String(buffer: response.body))")
                        if response.status == .ok { written += batch.count }
                    }
                    #expect(try await Self.storedCount(client, expected: written) == written, "\(batch)")
                }
                #expect(refused > Self.batchCaseCount / 4 && written > Self.batchCaseCount * 5)
                let report = try await ConsistencyCheck.run(database: path)
                #expect(report.isConsistent)
            }
        }
    }

    /// How many transactions the store holds, read through the change feed (any store): sequences run from 1
    /// without a gap, so it is the last sequence. One page after `expected - 1`: that one, and nothing beyond.
    static func storedCount(_ client: some TestClientProtocol, expected: Int) async throws -> Int {
        let page = try await client.get("/transactions?after=\(max(0, expected - 1))&limit=2").decode(FeedBody.self)
        return Int(page.transactions.last?.sequence ?? Int64(max(0, expected - 1)))
    }

    /// Rebuilding from seeds, and no request can depend on the clock or on a random source of its own.
    @Test func aCaseIsAPureFunctionOfItsSeed() {
        for seed in [0, 1, 42, UInt64.max] as [UInt64] {
            let (first, second) = (Self.make(seed: seed), Self.make(seed: seed))
            #expect(first.description == second.description && first.body == second.body)
        }
    }

    // Shrinking is off: a case is built from its seed, so a "smaller" seed is just another case.
    @Test(.shrinking(false), .timeLimit(.minutes(5)), arguments: StoreKind.all)
    func generatedRequestsNeverFailTheServiceAndOnlyValidOnesWrite(store: StoreKind) async throws {
        try await withTemporaryStore(store) { path in
            try await buildApplication(TestArguments(database: path)).test(.router) { client in
                var written = 0
                await propertyCheck(count: Self.caseCount, input: Gen.uint64()) { seed in
                    let request = Self.make(seed: seed)
                    var headers = HTTPFields()
                    if let contentType = request.contentType { headers[.contentType] = contentType }
                    if let id = request.transactionID { headers[HTTPField.Name("Transaction-Id")!] = id }
                    let response = try await client.executeRequest(
                        uri: "/amount", method: .post, headers: headers, body: ByteBuffer(bytes: request.body))
                    #expect(response.status.code < 500, "\(request)")
                    switch request.expectation {
                    case .accepted:
                        #expect(response.status == .ok, "\(request) → \(String(buffer: response.body))")
                        if response.status == .ok { written += 1 }
                    case .refused:
                        #expect((400..<500).contains(response.status.code), "\(request)")
                        #expect(response.headers[.contentType] == "application/problem+json")
                    case .tooLarge:
                        #expect(response.status == .contentTooLarge, "\(request)")
                    }
                    #expect(try await Self.storedCount(client, expected: written) == written, "\(request)")
                }
                #expect(written > Self.caseCount / 5)
                let report = try await ConsistencyCheck.run(database: path)
                #expect(report.isConsistent)
            }
        }
    }

    /// A generated PUT /accounts/{id} body: valid settings (an expected document), or one broken member.
    static func makeSettings(
        seed: UInt64
    ) -> (body: String, valid: (currency: String?, minimum: Int64?, maximum: Int64?)?) {
        var random = SplitMix64(seed: seed)
        let space = ["", " ", "\n\t "].randomElement(using: &random)!
        let currency =
            Bool.random(using: &random)
            ? nil : ["USD", "EUR", "X", "POINTS_2", "ABCDEFGHIJKLMNOP"].randomElement(using: &random)!
        var limits = [Int64.random(in: .min ... .max, using: &random), Int64.random(in: -1000...1000, using: &random)]
        limits.sort()
        let minimum = Bool.random(using: &random) ? limits[0] : nil
        let maximum = Bool.random(using: &random) ? limits[1] : nil
        var members: [String] = []
        if let currency { members.append("\"currency\"\(space):\(space)\"\(currency)\"") }
        members.append("\"minimum_balance\"\(space):\(space)\(minimum.map(String.init) ?? "null")")
        if let maximum { members.append("\"maximum_balance\"\(space):\(space)\(maximum)") }
        members.append(validMetadata(&random, space))
        members.shuffle(using: &random)
        let broken = [
            #""currency":"us""#, #""currency":"1USD""#, #""currency":"ABCDEFGHIJKLMNOPQ""#, #""currency":true"#,
            #""minimum_balance":1.5"#, #""maximum_balance":"7""#, #""minimum_balance":92233720368547758070"#,
            #""metadata":{"a":[]}"#, #""metadata":"a""#, #""metadata":{"":"1"}"#,
            "\"minimum_balance\":\(limits[1] + 1),\"maximum_balance\":\(limits[1])",
        ]
        guard Int.random(in: 0..<3, using: &random) == 0 else {
            return (object(members, space), (currency, minimum, maximum))
        }
        let wrong = broken.randomElement(using: &random)!
        let name = wrong.split(separator: ":")[0]
        return (object(members.filter { !$0.hasPrefix(name) } + [wrong], space), nil)
    }

    /// Generated settings: every valid one is what the account then holds, every broken one is 400 and changes
    /// nothing.
    @Test(.shrinking(false), .timeLimit(.minutes(5)), arguments: StoreKind.all)
    func generatedSettingsAreKeptExactlyOrRefusedWhole(store: StoreKind) async throws {
        try await withTemporaryStore(store) { path in
            try await buildApplication(TestArguments(database: path)).test(.router) { client in
                let account = newID()
                var current: AccountBody?
                await propertyCheck(count: 300, input: Gen.uint64()) { seed in
                    let (body, valid) = Self.makeSettings(seed: seed)
                    let response = try await client.putAccount(account, body)
                    if let valid {
                        #expect(
                            response.status == (current == nil ? .created : .ok),
                            "\(body) → \(String(buffer: response.body))")
                        let document = try response.decode(AccountBody.self)
                        #expect(document.currency == valid.currency, "\(body)")
                        #expect(document.minimum_balance == valid.minimum && document.maximum_balance == valid.maximum)
                        let sent = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
                        #expect(document.metadata == sent?["metadata"] as? [String: String], "\(body)")
                        current = document
                    } else {
                        try response.problem(.badRequest)
                    }
                    if let current {
                        #expect(try await client.account(account) == current, "\(body)")
                    } else {
                        try await client.get("/accounts/\(account)").problem(.notFound)
                    }
                }
                #expect(current != nil)
                let report = try await ConsistencyCheck.run(database: path)
                #expect(report.isConsistent)
            }
        }
    }

    /// One generated step on holds: a pending batch, or a resolution of a hold (known, resolved already, not a
    /// hold, or unknown) with a random action and amount (none, part, all, more, the other sign, zero).
    enum HoldStep: Sendable, CustomStringConvertible {
        case hold(amounts: [Int64])
        case resolve(target: Int, action: String, amount: Int64?)

        var description: String {
            switch self {
            case .hold(let amounts): "hold \(amounts)"
            case .resolve(let target, let action, let amount): "\(action) #\(target) \(amount.map(String.init) ?? "-")"
            }
        }
    }

    static func makeHoldStep(seed: UInt64) -> HoldStep {
        var random = SplitMix64(seed: seed)
        if Int.random(in: 0..<3, using: &random) == 0 {
            return .hold(
                amounts: (0..<Int.random(in: 1...3, using: &random)).map { _ in
                    Int64.random(in: -100...100, using: &random)
                })
        }
        let amount: Int64? =
            switch Int.random(in: 0..<4, using: &random) {
            case 0: nil
            case 1: 0
            default: Int64.random(in: -120...120, using: &random)
            }
        return .resolve(
            target: Int.random(in: 0..<1000, using: &random), action: Bool.random(using: &random) ? "post" : "void",
            amount: amount)
    }

    /// Generated holds and resolutions on one account, against a model: each answer (200, or 422 of the right
    /// type, or 400 for a void with an amount) is the model's, and so are the balance and the pending sums after
    /// every step; `check` agrees at the end.
    @Test(.shrinking(false), .timeLimit(.minutes(5)), arguments: StoreKind.all)
    func generatedResolutionsResolveEachHoldOnceAsAModelDoes(store: StoreKind) async throws {
        try await withTemporaryStore(store) { path in
            try await buildApplication(TestArguments(database: path)).test(.router) { client in
                let account = newID()
                let posting = newID()
                try await client.postAmount(transactionID: posting, accountID: account, amount: 1000)
                struct Model {
                    var holds: [(id: String, amount: Int64, resolved: Bool)] = []
                    var balance: Int64 = 1000
                    var debits: Int64 = 0
                    var credits: Int64 = 0
                }
                let model = Mutex(Model())
                await propertyCheck(count: 300, input: Gen.uint64()) { seed in
                    let step = Self.makeHoldStep(seed: seed)
                    switch step {
                    case .hold(let amounts):
                        let ids = amounts.map { _ in newID() }
                        let items = zip(ids, amounts).map {
                            #"{"transaction_id":"\#($0)","account_id":"\#(account)","amount":\#($1)}"#
                        }
                        let response = try await client.postBatch(
                            body: #"{"pending":true,"transactions":[\#(items.joined(separator: ","))]}"#)
                        #expect(response.status == .ok, "\(step) → \(String(buffer: response.body))")
                        model.withLock { model in
                            for (id, amount) in zip(ids, amounts) {
                                model.holds.append((id, amount, false))
                                if amount < 0 { model.debits += amount } else { model.credits += amount }
                            }
                        }
                    case .resolve(let target, let action, let amount):
                        let (hold, expected): (String, String?) = model.withLock { model in
                            if action == "void", amount != nil { return (newID(), nil) }  // 400, whatever the hold
                            // Mostly holds that exist; sometimes the posting or an id that names nothing.
                            if model.holds.isEmpty || target >= 900 {
                                return (target.isMultiple(of: 2) ? posting : newID(), "unknown-hold")
                            }
                            let held = model.holds[target % model.holds.count]
                            if held.resolved { return (held.id, "hold-resolved") }
                            if action == "post" {
                                let posted = amount ?? held.amount
                                let valid =
                                    held.amount == 0
                                    ? posted == 0
                                    : posted != 0 && (posted < 0) == (held.amount < 0)
                                        && posted.magnitude <= held.amount.magnitude
                                if !valid { return (held.id, "invalid-resolution") }
                            }
                            return (held.id, "")
                        }
                        let amountMember = amount.map { #","amount":\#($0)"# } ?? ""
                        let response = try await client.postBatch(
                            body:
                                #"{"transactions":[{"transaction_id":"\#(newID())","pending_id":"\#(hold)","action":"\#(action)"\#(amountMember)}]}"#
                        )
                        switch expected {
                        case nil:
                            try response.problem(.badRequest)
                        case "":
                            #expect(response.status == .ok, "\(step) → \(String(buffer: response.body))")
                            model.withLock { model in
                                let index = model.holds.firstIndex { $0.id == hold }!
                                let held = model.holds[index].amount
                                model.holds[index].resolved = true
                                if held < 0 { model.debits -= held } else { model.credits -= held }
                                if action == "post" { model.balance += amount ?? held }
                            }
                        case let type?:
                            let problem = try response.decode(BatchProblemBody.self)
                            #expect(
                                problem.errors?.map(\.type) == [Problem.type(type)],
                                "\(step) → \(String(buffer: response.body))")
                        }
                    }
                    let document = try await client.account(account)
                    let expected = model.withLock { ($0.balance, $0.debits, $0.credits) }
                    #expect(
                        (document.balance, document.pending_debits, document.pending_credits) == expected, "\(step)")
                }
                let report = try await ConsistencyCheck.run(database: path)
                #expect(report.isConsistent, "\(report)")
            }
        }
    }
}

import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing

@testable import AccountHTTP
@testable import AccountLedger
@testable import PostgresStore

/// Bad input to POST /amount is refused with 400, 413 or 415 and an explanation, and writes nothing.
@Suite(.timeLimit(.minutes(3))) struct ValidationTests {
    static let account = "a40bcc03-6f39-418c-ad0b-97e14f522ec1"

    static let badBodies: [(String, String)] = [
        ("empty body", ""),
        ("not JSON", "account_id=\(account)&amount=7"),
        ("truncated JSON", #"{"account_id":"\#(account)","amount":7"#),
        ("trailing data", #"{"account_id":"\#(account)","amount":7} x"#),
        ("two objects", #"{"account_id":"\#(account)","amount":7}{}"#),
        ("array", #"[{"account_id":"\#(account)","amount":7}]"#),
        ("string", #""hello""#),
        ("null body", "null"),
        ("number body", "7"),
        ("missing account_id", #"{"amount":7}"#),
        ("missing amount", #"{"account_id":"\#(account)"}"#),
        ("account_id a number", #"{"account_id":10,"amount":7}"#),
        ("account_id null", #"{"account_id":null,"amount":7}"#),
        ("account_id not a UUID", #"{"account_id":"not-a-uuid","amount":7}"#),
        ("account_id with braces", #"{"account_id":"{\#(account)}","amount":7}"#),
        ("account_id without hyphens", #"{"account_id":"a40bcc036f39418cad0b97e14f522ec1","amount":7}"#),
        ("amount a string", #"{"account_id":"\#(account)","amount":"7"}"#),
        ("amount fractional", #"{"account_id":"\#(account)","amount":7.5}"#),
        ("amount with a zero fraction", #"{"account_id":"\#(account)","amount":7.0}"#),
        ("amount with an exponent", #"{"account_id":"\#(account)","amount":1e2}"#),
        ("amount null", #"{"account_id":"\#(account)","amount":null}"#),
        ("amount true", #"{"account_id":"\#(account)","amount":true}"#),
        ("amount an array", #"{"account_id":"\#(account)","amount":[7]}"#),
        ("amount above 64 bits", #"{"account_id":"\#(account)","amount":9223372036854775808}"#),
        ("amount below 64 bits", #"{"account_id":"\#(account)","amount":-9223372036854775809}"#),
        ("amount with a leading zero", #"{"account_id":"\#(account)","amount":07}"#),
        ("amount with a plus sign", #"{"account_id":"\#(account)","amount":+7}"#),
        ("amount NaN", #"{"account_id":"\#(account)","amount":NaN}"#),
        ("duplicate amount", #"{"account_id":"\#(account)","amount":7,"amount":8}"#),
        ("duplicate account_id", #"{"account_id":"\#(account)","account_id":"\#(account)","amount":7}"#),
        ("single quotes", "{'account_id':'\(account)','amount':7}"),
        ("unescaped control character", "{\"account_id\":\"\(account)\",\"amount\":7,\"note\":\"a\u{01}b\"}"),
        ("invalid escape", #"{"account_id":"\#(account)","amount":7,"note":"\q"}"#),
        ("lone surrogate", #"{"account_id":"\#(account)","amount":7,"note":"\ud800"}"#),
        ("deep nesting", #"{"account_id":"\#(account)","amount":7,"x":"# + String(repeating: "[", count: 10_000) + "}"),
    ]

    @Test(arguments: badBodies)
    func badBodyIsRefusedAndWritesNothing(_ name: String, _ body: String) async throws {
        try await withApp { client async throws in
            let transactionID = newID()
            let problem = try await client.postAmount(transactionID: transactionID, body: body).problem(.badRequest)
            #expect(problem.type == "tag:account-service,2026:invalid-request")
            #expect(try await client.get("/transaction/\(transactionID)").status == .notFound)
            #expect(try await client.transactionVolume() == VolumeBody(maxVolume: 0, accounts: []))
        }
    }

    @Test func invalidUTF8IsRefused() async throws {
        try await withApp { client async throws in
            var body = ByteBuffer(string: #"{"account_id":"\#(Self.account)","amount":7,"note":""#)
            body.writeBytes([0xC3, 0x28])
            body.writeString(#""}"#)
            let response = try await client.executeRequest(
                uri: "/amount", method: .post,
                headers: [.contentType: "application/json", HTTPField.Name("Transaction-Id")!: newID()], body: body)
            try response.problem(.badRequest)
            #expect(try await client.transactionVolume().maxVolume == 0)
        }
    }

    @Test(arguments: [nil, "", "not-a-uuid", "7943f961-a733-43cf-ba3d-905a5856f6d", "7943f961a73343cfba3d905a5856f6da"])
    func missingOrMalformedTransactionIDIsRefused(_ header: String?) async throws {
        try await withApp { client async throws in
            let response = try await client.postAmount(
                transactionID: header, body: #"{"account_id":"\#(Self.account)","amount":7}"#)
            try response.problem(.badRequest)
            try await client.expectNoAccount(Self.account)
        }
    }

    @Test(arguments: [
        nil, "application/xml", "text/plain", "application/x-www-form-urlencoded", "json", "application/jsonx",
    ])
    func otherContentTypesAreRefused(_ contentType: String?) async throws {
        try await withApp { client async throws in
            let response = try await client.postAmount(
                transactionID: newID(), contentType: contentType, body: #"{"account_id":"\#(Self.account)","amount":7}"#
            )
            try response.problem(.unsupportedMediaType)
            try await client.expectNoAccount(Self.account)
        }
    }

    @Test(arguments: ["application/json; charset=utf-8", "Application/JSON", "application/json;charset=UTF-8"])
    func jsonWithParametersOrAnyCaseIsAccepted(_ contentType: String) async throws {
        try await withApp { client async throws in
            let response = try await client.postAmount(
                transactionID: newID(), contentType: contentType, body: #"{"account_id":"\#(Self.account)","amount":7}"#
            )
            #expect(response.status == .ok)
            #expect(try await client.balance(Self.account) == 7)
        }
    }

    @Test func unknownFieldsAreIgnored() async throws {
        try await withApp { client async throws in
            let body = #"""
                { "note": "rent \"May\" \u00e9\ud83d\ude00", "tags": [1, 2.5e3, {"a": [true, false, null]}],
                  "account_id" : "\#(Self.account)", "amount" : -12, "nested": {"amount": "ignored"} }
                """#
            #expect(try await client.postAmount(transactionID: newID(), body: body).status == .ok)
            #expect(try await client.balance(Self.account) == -12)
        }
    }

    @Test func escapedMemberNamesAndValuesAreDecoded() async throws {
        try await withApp { client async throws in
            let body = #"{"\u0061ccount_id":"A40BCC03-6F39-418C-AD0B-97E14F522EC\u0031","amount":5}"#
            #expect(try await client.postAmount(transactionID: newID(), body: body).status == .ok)
            #expect(try await client.balance(Self.account) == 5)
        }
    }

    @Test func oversizedBodyIsRefusedWith413() async throws {
        try await withApp(.ahc()) { client async throws in
            let padding = String(repeating: " ", count: 200 * 1024)
            let response = try await client.postAmount(
                transactionID: newID(), body: #"{"account_id":"\#(Self.account)","amount":7}"# + padding)
            try response.problem(.contentTooLarge)
            try await client.expectNoAccount(Self.account)
        }
    }

    @Test func oversizedChunkedBodyIsRefusedWithoutReadingItAll() async throws {
        // No Content-Length: the limit must hold on the streamed body itself. The stream below never ends, so
        // this test can only finish if the reader stops at the limit.
        let chunk = ByteBuffer(repeating: UInt8(ascii: " "), count: 1024)
        let endless = AsyncStream<ByteBuffer> { continuation in
            for _ in 0..<1_000 { continuation.yield(chunk) }
        }
        let request = Request(
            head: HTTPRequest(
                method: .post, scheme: "http", authority: "localhost", path: "/amount",
                headerFields: [.contentType: "application/json", HTTPField.Name("Transaction-Id")!: newID()]),
            body: RequestBody(asyncSequence: endless))
        await #expect(throws: Problem.self) {
            do {
                _ = try await AmountRequest(request)
            } catch let problem as Problem {
                #expect(problem.status == .contentTooLarge)
                throw problem
            }
        }
    }

    @Test(arguments: [
        "/transaction/not-a-uuid", "/balance/not-a-uuid", "/balance/a40bcc03-6f39-418c-ad0b-97e14f522ec1x",
    ])
    func malformedPathIDsAreRefused(_ uri: String) async throws {
        try await withApp { client async throws in
            try await client.get(uri).problem(.badRequest)
        }
    }
}

import Foundation
import TestSupport
import Testing

@testable import AccountHTTP
@testable import AccountLedger
@testable import PostgresStore

/// The POST /amount body decoder and the identifier parser, without HTTP.
@Suite(.timeLimit(.minutes(3))) struct AmountRequestTests {
    static let account = "a40bcc03-6f39-418c-ad0b-97e14f522ec1"

    func decode(_ body: String) throws -> (AccountID, Int64) {
        let decoded = try decodeWhole(body)
        return (decoded.accountID, decoded.amount)
    }

    func decodeWhole(
        _ body: String
    ) throws -> (accountID: AccountID, amount: Int64, currency: String?, metadata: Metadata) {
        try Array(body.utf8).withUnsafeBytes { try AmountRequest.decodeBody($0) }
    }

    @Test(
        arguments: [
            ("0", 0), ("-0", 0), ("9223372036854775807", .max), ("-9223372036854775808", .min), ("-1", -1), ("42", 42),
        ] as [(String, Int64)])
    func integersAreReadExactly(_ literal: String, _ expected: Int64) throws {
        let (account, amount) = try decode(#"{"account_id":"\#(Self.account)","amount":\#(literal)}"#)
        #expect(account.description == Self.account)
        #expect(amount == expected)
    }

    @Test func whitespaceAnywhereJSONAllowsIt() throws {
        let (_, amount) = try decode(" \r\n\t{ \"amount\" :\n-5 ,\t\"account_id\"\r: \"\(Self.account)\" } \n")
        #expect(amount == -5)
    }

    @Test func theFirstProblemIsReported() throws {
        // Syntax errors win over content errors, so a broken body is reported as broken.
        #expect(
            throws: Problem.badRequest("The body is not valid JSON: expected ',' or '}' after a member (at byte 14).")
        ) {
            try decode(#"{"amount":"x" "account_id":1}"#)
        }
        #expect(throws: Problem.badRequest("account_id must be a string holding a UUID.")) {
            try decode(#"{"account_id":1,"amount":"x"}"#)
        }
        #expect(throws: Problem.badRequest("amount must be an integer; '7.0' has a fraction or an exponent.")) {
            try decode(#"{"account_id":"\#(Self.account)","amount":7.0}"#)
        }
    }

    /// The body object is one level; 31 more fit within the limit of 32.
    @Test func nestingIsBounded() throws {
        let shallow = String(repeating: "[", count: 31) + String(repeating: "]", count: 31)
        let (_, amount) = try decode(#"{"x":\#(shallow),"account_id":"\#(Self.account)","amount":1}"#)
        #expect(amount == 1)
        let deep = String(repeating: "[", count: 32) + String(repeating: "]", count: 32)
        #expect(throws: Problem.self) { try decode(#"{"x":\#(deep),"account_id":"\#(Self.account)","amount":1}"#) }
    }

    @Test func uuidsParseInEitherCaseAndPrintCanonically() throws {
        let upper = "A40BCC03-6F39-418C-AD0B-97E14F522EC1"
        #expect(AccountID(parsing: upper)?.description == Self.account)
        #expect(AccountID(parsing: upper) == AccountID(parsing: Self.account))
        #expect(AccountID(parsing: upper)?.uuid == UUID(uuidString: upper))
        for _ in 0..<100 {
            let uuid = UUID()
            #expect(TransactionID(parsing: uuid.uuidString)?.description == uuid.uuidString.lowercased())
            #expect(uuid.canonicalText == uuid.uuidString.lowercased())
        }
        let bad = [
            "", "a40bcc03-6f39-418c-ad0b-97e14f522ec", "a40bcc03-6f39-418c-ad0b-97e14f522ec1 ",
            "a40bcc03_6f39-418c-ad0b-97e14f522ec1", "g40bcc03-6f39-418c-ad0b-97e14f522ec1",
            "a40bcc036-f39-418c-ad0b-97e14f522ec1", "é40bcc03-6f39-418c-ad0b-97e14f522ec",
            "+40bcc03-6f39-418c-ad0b-97e14f522ec1", "a40bcc03-+f39-418c-ad0b-97e14f522ec1",
        ]
        for text in bad {
            #expect(AccountID(parsing: text) == nil, "\(text)")
        }
    }
}

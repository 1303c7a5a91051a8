import Foundation
import NIOCore
import TestSupport
import Testing

@testable import AccountHTTP
@testable import AccountLedger
@testable import PostgresStore

/// The service's one JSON writer: what it writes is JSON that any decoder reads back exactly.
@Suite(.timeLimit(.minutes(3))) struct JSONWriterTests {
    struct Decoded: Decodable, Equatable {
        let text: String
        let number: Int64
        let ids: [String]
        let nested: [[String: Int64]]
    }

    @Test(arguments: [
        "plain", "quote \" and backslash \\", "line\nfeed\ttab\rreturn", "\u{01}\u{1F}\u{7F}", "é😀/ and \u{2028}", "",
    ])
    func anyTextRoundTrips(_ text: String) throws {
        let id = AccountID(UUID())
        var json = JSONWriter()
        json.object { json in
            json.key("text")
            json.value(text)
            json.key("number")
            json.value(Int64.min)
            json.key("ids")
            json.array([id, id]) { json, id in json.value(id) }
            json.key("nested")
            json.array([1, 2] as [Int64]) { json, number in
                json.object { json in
                    json.key("n")
                    json.value(number)
                }
            }
        }
        let decoded = try JSONDecoder().decode(Decoded.self, from: Data(buffer: json.buffer))
        #expect(
            decoded
                == Decoded(
                    text: text, number: .min, ids: [id.description, id.description], nested: [["n": 1], ["n": 2]]))
    }
}

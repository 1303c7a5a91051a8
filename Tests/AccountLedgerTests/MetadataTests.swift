import Foundation
import TestSupport
import Testing

@testable import AccountLedger

/// Metadata's canonical form, the text the stores keep: one text per set of members, read back exactly.
@Suite struct MetadataTests {
    @Test func theCanonicalFormReadsBackExactly() throws {
        var random = SplitMix64(seed: 21)
        for _ in 0..<2_000 {
            var members: [(key: String, value: String)] = []
            var keys: Set<[UInt8]> = []
            for _ in 0..<Int.random(in: 0...6, using: &random) {
                func text(_ lengths: ClosedRange<Int>) -> String {
                    let pool: [Unicode.Scalar] = [
                        "\"", "\\", "\u{1}", "\n", "\u{1F}", "é", "e", "\u{301}", "\u{1F600}", "a", "{", "}", ":", ",",
                    ]
                    return String(
                        String.UnicodeScalarView(
                            (0..<Int.random(in: lengths, using: &random)).map { _ in
                                Bool.random(using: &random)
                                    ? pool.randomElement(using: &random)!
                                    : Unicode.Scalar(UInt32.random(in: 1...0xD7FF, using: &random))!
                            }))
                }
                let key = text(1...10)
                guard keys.insert(Array(key.utf8)).inserted else { continue }
                members.append((key, text(0...20)))
            }
            let metadata = try Metadata.validated(members, field: "metadata").get()
            let text = metadata.canonicalJSON
            #expect((text == nil) == members.isEmpty)
            let read = try #require(Metadata(canonicalJSON: text))
            #expect(read == metadata && read.canonicalJSON == text)
            // It is JSON, and JSON that another reader takes to the same members.
            if let text {
                let parsed = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String]
                #expect(parsed?.count == Set(members.map { $0.key }).count)
            }
            // The order the members were given in does not matter.
            let shuffled = try Metadata.validated(members.shuffled(using: &random), field: "metadata").get()
            #expect(shuffled.canonicalJSON == text)
        }
    }

    @Test func textThatIsNotTheCanonicalFormIsRefused() {
        for text in ["", "{", "{}x", #"{"a":1}"#, #"{"a":"1",}"#, #"{"a":"\q"}"#, #"{"a":"\u12"}"#, #"{"a" :"1"}"#] {
            #expect(Metadata(canonicalJSON: text) == nil, "\(text)")
        }
        #expect(Metadata(stored: #"{"a":1}"#)["unreadable"] == #"{"a":1}"#)
    }
}

import HTTPTypes
import HummingbirdTesting
import Testing

/// Known paths answer other methods with 405 and Allow; unknown paths 404; every error is a problem body.
@Suite struct RoutingTests {
    static let cases: [(String, HTTPRequest.Method, String)] = [
        ("/amount", .put, "POST"),
        ("/amount", .get, "POST"),
        ("/amount", .delete, "POST"),
        ("/amount", .patch, "POST"),
        ("/amount", HTTPRequest.Method("BREW")!, "POST"),
        ("/ping", .post, "GET, HEAD"),
        ("/balance/a40bcc03-6f39-418c-ad0b-97e14f522ec1", .post, "GET, HEAD"),
        ("/balance/anything", .delete, "GET, HEAD"),
        ("/transaction/7943f961-a733-43cf-ba3d-905a5856f6da", .put, "GET, HEAD"),
        ("/max_transaction_volume", .post, "GET, HEAD"),
    ]

    @Test(arguments: cases)
    func otherMethodOnAKnownPathIs405WithAllow(_ path: String, _ method: HTTPRequest.Method, _ allow: String) async throws {
        try await withApp { client async throws in
            let response = try await client.executeRequest(uri: path, method: method, headers: [:], body: nil)
            try response.problem(.methodNotAllowed)
            #expect(response.headers[.allow] == allow)
        }
    }

    @Test(arguments: ["/", "/amounts", "/balance", "/balance/", "/balance/a/b", "/transaction", "/max_transaction_volume/x", "/PING"])
    func unknownPathIs404(_ path: String) async throws {
        try await withApp { client async throws in
            try await client.get(path).problem(.notFound)
        }
    }

    @Test func pingAnswers200() async throws {
        try await withApp { client async throws in
            let get = try await client.get("/ping")
            let head = try await client.executeRequest(uri: "/ping", method: .head, headers: [:], body: nil)
            #expect(get.status == .ok && head.status == .ok)
        }
    }

    @Test func theOpenAPIDocumentIsServedAndNamesEveryRoute() async throws {
        try await withApp { client async throws in
            let response = try await client.get("/openapi.yaml")
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/yaml")
            let document = String(buffer: response.body)
            #expect(document.hasPrefix("openapi: 3."))
            for path in ["/ping:", "/amount:", "/transaction/{transaction_id}:", "/balance/{account_id}:", "/max_transaction_volume:", "/openapi.yaml:"] {
                #expect(document.contains("\n  \(path)\n"), "\(path)")
            }
        }
    }

    @Test func notFoundAccountAndTransactionAreProblems() async throws {
        try await withApp { client async throws in
            let missing = try await client.get("/balance/a40bcc03-6f39-418c-ad0b-97e14f522ec1").problem(.notFound)
            #expect(missing.detail.contains("a40bcc03-6f39-418c-ad0b-97e14f522ec1"))
            try await client.get("/transaction/7943f961-a733-43cf-ba3d-905a5856f6da").problem(.notFound)
        }
    }

    @Test func successBodiesAreJSON() async throws {
        try await withApp { client async throws in
            let account = newID()
            let posted = try await client.postAmount(transactionID: newID(), accountID: account, amount: 1)
            #expect(posted.headers[.contentType] == "application/json")
            #expect(try await client.get("/balance/\(account)").headers[.contentType] == "application/json")
            #expect(try await client.get("/max_transaction_volume").headers[.contentType] == "application/json")
        }
    }
}

import HTTPTypes
import HummingbirdTesting
import TestSupport
import Testing
import Yams

@testable import AccountHTTP
@testable import AccountLedger
@testable import PostgresStore
@testable import SQLiteStore

/// Known paths answer other methods with 405 and Allow; unknown paths 404; every error is a problem body.
@Suite(.timeLimit(.minutes(3))) struct RoutingTests {
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
    func otherMethodOnAKnownPathIs405WithAllow(
        _ path: String, _ method: HTTPRequest.Method, _ allow: String
    ) async throws {
        try await withApp { client async throws in
            let response = try await client.executeRequest(uri: path, method: method, headers: [:], body: nil)
            try response.problem(.methodNotAllowed)
            #expect(response.headers[.allow] == allow)
        }
    }

    @Test(arguments: [
        "/", "/amounts", "/balance", "/balance/", "/balance/a/b", "/transaction", "/max_transaction_volume/x", "/PING",
    ])
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

    /// The served document describes exactly the routes the router has: every path and method of one is in
    /// the other (HEAD, which the router answers for every GET, aside).
    @Test func theOpenAPIDocumentDescribesExactlyTheRouterRoutes() async throws {
        try await withApp { client async throws in
            let response = try await client.get("/openapi.yaml")
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/yaml")
            let document = try #require(try Yams.load(yaml: String(buffer: response.body)) as? [String: Any])
            #expect((document["openapi"] as? String)?.hasPrefix("3.") == true)
            let paths = try #require(document["paths"] as? [String: [String: Any]])
            let methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
            let documented = Set(
                paths.flatMap { path, item in
                    item.keys.filter(methods.contains).map { "\($0.uppercased()) \(path)" }
                })
            try await withTemporaryDatabase { path in
                let router = buildRouter(
                    ledger: Ledger(store: try SQLiteLedgerStore(pool: try LedgerDatabase.open(path: path))))
                let routed = Set(router.routes.filter { $0.method != .head }.map { "\($0.method) \($0.path)" })
                #expect(routed.subtracting(documented).isEmpty, "routes missing from openapi.yaml")
                #expect(documented.subtracting(routed).isEmpty, "documented operations the router does not have")
                #expect(routed.count >= 6)
            }
        }
    }

    @Test(arguments: StoreKind.all) func notFoundAccountAndTransactionAreProblems(store: StoreKind) async throws {
        try await withApp(store: store) { client async throws in
            let missing = try await client.get("/balance/a40bcc03-6f39-418c-ad0b-97e14f522ec1").problem(.notFound)
            #expect(missing.detail.contains("a40bcc03-6f39-418c-ad0b-97e14f522ec1"))
            try await client.get("/transaction/7943f961-a733-43cf-ba3d-905a5856f6da").problem(.notFound)
        }
    }

    /// Bodies are JSON, and the same bytes every time: members in a fixed order, ids in lower case.
    @Test(arguments: StoreKind.all) func successAndProblemBodiesAreJSONWithStableBytes(store: StoreKind) async throws {
        try await withApp(store: store) { client async throws in
            let account = "A40BCC03-6F39-418C-AD0B-97E14F522EC1"
            let id = "7943F961-A733-43CF-BA3D-905A5856F6DA"
            let posted = try await client.postAmount(transactionID: id, accountID: account, amount: -1)
            let (lowerAccount, lowerID) = (account.lowercased(), id.lowercased())
            #expect(posted.headers[.contentType] == "application/json")
            let record = try #require(
                String(buffer: posted.body).wholeMatch(
                    of:
                        /\{"transaction_id":"([^"]+)","account_id":"([^"]+)","amount":-1,"sequence":1,"created_at":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)","balance_after":-1,"status":"posted","metadata":\{\}\}/
                ))
            #expect(record.1 == lowerID && record.2 == lowerAccount)
            let balance = try await client.get("/balance/\(account)")
            #expect(balance.headers[.contentType] == "application/json")
            #expect(String(buffer: balance.body) == #"{"balance":-1}"#)
            let volume = try await client.get("/max_transaction_volume")
            #expect(volume.headers[.contentType] == "application/json")
            #expect(String(buffer: volume.body) == #"{"maxVolume":1,"accounts":["\#(lowerAccount)"]}"#)
            let problem = try await client.executeRequest(uri: "/amount", method: .put, headers: [:], body: nil)
            #expect(problem.headers[.contentType] == "application/problem+json")
            #expect(
                String(buffer: problem.body)
                    == #"{"type":"about:blank","title":"Method Not Allowed","status":405,"detail":"PUT is not allowed on /amount; use POST."}"#
            )
        }
    }
}

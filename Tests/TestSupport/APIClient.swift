import AccountHTTP
import AccountLedger
import AccountServiceApp
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import PostgresStore
import SQLiteStore
import Testing

/// An item of a POST /transactions body.
package struct BatchItem: Encodable {
    package let transaction_id: String
    package let account_id: String
    package let amount: Int64
    package let currency: String?
    package let metadata: [String: String]?

    package init(
        _ accountID: String, _ amount: Int64, id: String = newID(), currency: String? = nil,
        metadata: [String: String]? = nil
    ) {
        transaction_id = id
        account_id = accountID
        self.amount = amount
        self.currency = currency
        self.metadata = metadata
    }
}

/// A POST /transactions body.
package struct BatchBody: Encodable {
    package let transactions: [BatchItem]
    package let balanced: Bool?
}

package struct BatchResultBody: Decodable {
    /// A transaction record, and whether the item replayed it.
    @dynamicMemberLookup
    package struct Record: Decodable {
        package let record: RecordBody
        package let replayed: Bool

        package enum CodingKeys: CodingKey { case replayed }

        package init(from decoder: any Decoder) throws {
            record = try RecordBody(from: decoder)
            replayed = try decoder.container(keyedBy: CodingKeys.self).decode(Bool.self, forKey: .replayed)
        }

        package subscript<Value>(dynamicMember member: KeyPath<RecordBody, Value>) -> Value { record[keyPath: member] }
    }
    package let transactions: [Record]
}

package struct BatchProblemBody: Decodable {
    package struct Item: Decodable, Equatable {
        package let index: Int
        package let transaction_id: String
        package let type: String
        package let detail: String
    }
    package let type: String
    package let status: Int
    package let detail: String
    package let errors: [Item]?
}

extension TestClientProtocol {
    @discardableResult
    package func postBatch(_ items: [BatchItem], balanced: Bool? = nil) async throws -> TestResponse {
        return try await postBatch(
            body: String(
                decoding: JSONEncoder().encode(BatchBody(transactions: items, balanced: balanced)), as: UTF8.self))
    }

    @discardableResult
    package func postBatch(body: String, contentType: String? = "application/json") async throws -> TestResponse {
        var headers = HTTPFields()
        if let contentType { headers[.contentType] = contentType }
        return try await executeRequest(
            uri: "/transactions", method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    /// The records of a batch that must be accepted.
    package func acceptedBatch(
        _ items: [BatchItem], balanced: Bool? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> [BatchResultBody.Record] {
        let response = try await postBatch(items, balanced: balanced)
        try #require(response.status == .ok, "\(String(buffer: response.body))", sourceLocation: sourceLocation)
        return try response.decode(BatchResultBody.self).transactions
    }

    /// The refusal of a batch that must be refused with 422.
    package func refusedBatch(
        _ items: [BatchItem], balanced: Bool? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> BatchProblemBody {
        let response = try await postBatch(items, balanced: balanced)
        try response.problem(.unprocessableContent, sourceLocation: sourceLocation)
        return try response.decode(BatchProblemBody.self)
    }
}

package struct RecordBody: Decodable, Equatable {
    package let transaction_id: String
    package let account_id: String
    package let amount: Int64
    package let sequence: Int64
    package let created_at: String
    package let balance_after: Int64
    /// posted, pending (a hold) or voided.
    package let status: String
    /// A post's or void's hold.
    package let pending_id: String?
    /// A hold's expiry (absent on other records, null on a hold that never expires).
    package let expires_at: String?
    /// "expired" on the void the service makes when a hold expires.
    package let reason: String?
    /// GET /transaction/{id} of a hold only.
    package let hold_state: String?
    package let metadata: [String: String]
}

/// The account document (GET and PUT /accounts/{id}).
package struct AccountBody: Decodable, Equatable {
    package let account_id: String
    package let currency: String?
    package let minimum_balance: Int64?
    package let maximum_balance: Int64?
    package let metadata: [String: String]
    package let balance: Int64
    package let pending_debits: Int64
    package let pending_credits: Int64
    package let available_balance: Int64
    package let transaction_count: Int64
    package let created_at: String
}

package struct AccountListBody: Decodable {
    package let accounts: [AccountBody]
    package let next: String?
}

package struct StatementBody: Decodable {
    package let transactions: [RecordBody]
    package let next: String?
}

package struct FeedBody: Decodable {
    package let transactions: [RecordBody]
    package let next_after: Int64
}

extension TestClientProtocol {
    @discardableResult
    package func postAmount(transactionID: String, accountID: String, amount: Int64) async throws -> TestResponse {
        try await postAmount(
            transactionID: transactionID, body: #"{"account_id":"\#(accountID)","amount":\#(amount)}"#)
    }

    @discardableResult
    package func postAmount(
        transactionID: String?, contentType: String? = "application/json", body: String
    ) async throws -> TestResponse {
        var headers = HTTPFields()
        if let contentType { headers[.contentType] = contentType }
        if let transactionID { headers[HTTPField.Name("Transaction-Id")!] = transactionID }
        return try await executeRequest(uri: "/amount", method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    package func get(_ uri: String) async throws -> TestResponse {
        try await executeRequest(uri: uri, method: .get, headers: [:], body: nil)
    }

    /// PUT /accounts/{id} with a JSON body.
    @discardableResult
    package func putAccount(_ accountID: String, _ body: String) async throws -> TestResponse {
        try await executeRequest(
            uri: "/accounts/\(accountID)", method: .put, headers: [.contentType: "application/json"],
            body: ByteBuffer(string: body))
    }

    /// The account document after a PUT that must succeed with `status`.
    @discardableResult
    package func configuredAccount(
        _ accountID: String, _ body: String, status: HTTPResponse.Status = .ok,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> AccountBody {
        let response = try await putAccount(accountID, body)
        try #require(response.status == status, "\(String(buffer: response.body))", sourceLocation: sourceLocation)
        return try response.decode(AccountBody.self)
    }

    /// The account document; fails the test unless the answer is 200.
    package func account(
        _ accountID: String, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws
        -> AccountBody
    {
        let response = try await get("/accounts/\(accountID)")
        try #require(response.status == .ok, "\(String(buffer: response.body))", sourceLocation: sourceLocation)
        return try response.decode(AccountBody.self)
    }

    /// The account's balance; fails the test unless the answer is 200.
    package func balance(_ accountID: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Int64 {
        let response = try await get("/balance/\(accountID)")
        try #require(response.status == .ok, "\(String(buffer: response.body))", sourceLocation: sourceLocation)
        return try response.decode(BalanceBody.self).balance
    }

    /// Checks that the account does not exist: 404 with a problem body (a 500 is not "nothing was written").
    package func expectNoAccount(_ accountID: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await get("/balance/\(accountID)").problem(.notFound, sourceLocation: sourceLocation)
    }

    package func transactionVolume() async throws -> VolumeBody {
        let response = try await get("/max_transaction_volume")
        #expect(response.status == .ok)
        return try response.decode(VolumeBody.self)
    }
}

package struct TransactionBody: Decodable, Equatable {
    package let transaction_id: String
    package let account_id: String
    package let amount: Int64

    package init(transaction_id: String, account_id: String, amount: Int64) {
        self.transaction_id = transaction_id
        self.account_id = account_id
        self.amount = amount
    }
}

package struct BalanceBody: Decodable, Equatable {
    package let balance: Int64
}

package struct VolumeBody: Decodable, Equatable {
    package let maxVolume: Int64
    package let accounts: [String]

    package init(maxVolume: Int64, accounts: [String]) {
        self.maxVolume = maxVolume
        self.accounts = accounts
    }
}

package struct ProblemBody: Decodable, Equatable {
    package let type: String
    package let title: String
    package let status: Int
    package let detail: String
}

extension TestResponse {
    package func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(type, from: Data(buffer: body))
    }

    /// Checks that this is an RFC 9457 problem response with `status`, and returns its body.
    @discardableResult
    package func problem(
        _ status: HTTPResponse.Status, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> ProblemBody {
        #expect(self.status == status, "\(String(buffer: body))", sourceLocation: sourceLocation)
        #expect(headers[.contentType] == "application/problem+json", sourceLocation: sourceLocation)
        let problem = try decode(ProblemBody.self)
        #expect(problem.status == Int(status.code), sourceLocation: sourceLocation)
        #expect(!problem.detail.isEmpty, sourceLocation: sourceLocation)
        return problem
    }
}

/// A new random UUID in lower-case canonical form.
package func newID() -> String { UUID().uuidString.lowercased() }

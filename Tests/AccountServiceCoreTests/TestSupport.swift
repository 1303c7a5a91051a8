import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

@testable import AccountHTTP
@testable import AccountLedger
@testable import AccountServiceApp
@testable import PostgresStore
@testable import SQLiteStore

struct TestArguments: AppArguments {
    var hostname = "127.0.0.1"
    let port = 0
    let database: String
    var durability = Durability.full
    var logLevel: Logger.Level? = .warning
    var idleTimeout = ConnectionLimits.defaultIdleTimeout
    var maximumConnections: Int? = nil
    var maximumWaitingReads: Int? = nil
    var apiKeysPath: String? = nil
    var allowUnauthenticated = false
    var maximumBodyMemory = RequestBodies.defaultMemory
    var bodyTimeout = ConnectionLimits.defaultBodyTimeout
}

/// A directory of its own for one test's database files, removed afterwards.
func withTemporaryDatabase<T>(_ body: (_ path: String) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("account-service-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try await body(directory.appendingPathComponent("accounts.sqlite").path)
}

/// Runs `body` with a ledger on a fresh database of `kind` (or on `store` when given), stamped by `clock`, its
/// writer loop running as the application runs it. `body` gets the database's location (a path or a URL).
func withLedger(
    _ kind: StoreKind = .sqlite,
    store: (any LedgerStore)? = nil,
    clock: @escaping @Sendable () -> Timestamp = Timestamp.now,
    _ body: @escaping @Sendable (Ledger, _ location: String) async throws -> Void
) async throws {
    try await withTemporaryStore(kind) { location in
        try await withStore(at: location) { opened in
            let ledger = Ledger(store: store ?? opened, clock: clock)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await ledger.run() }
                defer { group.cancelAll() }
                try await body(ledger, location)
            }
        }
    }
}

/// Runs `body` for each of `inputs` concurrently, at most `width` at once, and returns the results in completion
/// order. A live test client has a few connections (AsyncHTTPClient's pool); hundreds of requests started at once
/// only queue for them, and one that waits longer than the pool's timeout on a busy machine fails.
func concurrently<Input: Sendable, Output: Sendable>(
    _ inputs: [Input], width: Int = 16, _ body: @escaping @Sendable (Input) async throws -> Output
) async throws -> [Output] {
    try await withThrowingTaskGroup(of: Output.self) { group in
        var pending = inputs.makeIterator()
        for _ in 0..<width {
            guard let input = pending.next() else { break }
            group.addTask { try await body(input) }
        }
        var results: [Output] = []
        while let result = try await group.next() {
            results.append(result)
            if let input = pending.next() { group.addTask { try await body(input) } }
        }
        return results
    }
}

/// Waits until `condition` holds. It sleeps between looks, so a test's time limit (which cancels the test)
/// ends the wait with CancellationError; a loop of `Task.yield()` would ignore the cancellation and spin on.
func waitUntil(_ condition: () -> Bool) async throws {
    while !condition() { try await Task.sleep(for: .milliseconds(1)) }
}

/// Runs `test` against the application built on `database` (a fresh database of `store` when nil), exactly as
/// the executable builds it: `.router` for in-process requests, `.ahc()` for a live server on real sockets.
func withApp(
    _ setup: TestingSetup = .router,
    store: StoreKind = .sqlite,
    database: String? = nil,
    _ test: @escaping @Sendable (any TestClientProtocol) async throws -> Void
) async throws {
    if let database {
        return try await buildApplication(TestArguments(database: database)).test(setup, test)
    }
    try await withTemporaryStore(store) { location in
        try await buildApplication(TestArguments(database: location)).test(setup, test)
    }
}

extension TestClientProtocol {
    @discardableResult
    func postAmount(transactionID: String, accountID: String, amount: Int64) async throws -> TestResponse {
        try await postAmount(
            transactionID: transactionID, body: #"{"account_id":"\#(accountID)","amount":\#(amount)}"#)
    }

    @discardableResult
    func postAmount(
        transactionID: String?, contentType: String? = "application/json", body: String
    ) async throws -> TestResponse {
        var headers = HTTPFields()
        if let contentType { headers[.contentType] = contentType }
        if let transactionID { headers[HTTPField.Name("Transaction-Id")!] = transactionID }
        return try await executeRequest(uri: "/amount", method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    func get(_ uri: String) async throws -> TestResponse {
        try await executeRequest(uri: uri, method: .get, headers: [:], body: nil)
    }

    /// The account's balance; fails the test unless the answer is 200.
    func balance(_ accountID: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Int64 {
        let response = try await get("/balance/\(accountID)")
        try #require(response.status == .ok, "\(String(buffer: response.body))", sourceLocation: sourceLocation)
        return try response.decode(BalanceBody.self).balance
    }

    /// Checks that the account does not exist: 404 with a problem body (a 500 is not "nothing was written").
    func expectNoAccount(_ accountID: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await get("/balance/\(accountID)").problem(.notFound, sourceLocation: sourceLocation)
    }

    func transactionVolume() async throws -> VolumeBody {
        let response = try await get("/max_transaction_volume")
        #expect(response.status == .ok)
        return try response.decode(VolumeBody.self)
    }
}

struct TransactionBody: Decodable, Equatable {
    let transaction_id: String
    let account_id: String
    let amount: Int64
}

struct BalanceBody: Decodable, Equatable {
    let balance: Int64
}

struct VolumeBody: Decodable, Equatable {
    let maxVolume: Int64
    let accounts: [String]
}

struct ProblemBody: Decodable, Equatable {
    let type: String
    let title: String
    let status: Int
    let detail: String
}

extension TestResponse {
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(type, from: Data(buffer: body))
    }

    /// Checks that this is an RFC 9457 problem response with `status`, and returns its body.
    @discardableResult
    func problem(_ status: HTTPResponse.Status, sourceLocation: SourceLocation = #_sourceLocation) throws -> ProblemBody
    {
        #expect(self.status == status, "\(String(buffer: body))", sourceLocation: sourceLocation)
        #expect(headers[.contentType] == "application/problem+json", sourceLocation: sourceLocation)
        let problem = try decode(ProblemBody.self)
        #expect(problem.status == Int(status.code), sourceLocation: sourceLocation)
        #expect(!problem.detail.isEmpty, sourceLocation: sourceLocation)
        return problem
    }
}

/// A new random UUID in lower-case canonical form.
func newID() -> String { UUID().uuidString.lowercased() }

extension PostingOutcome {
    /// The transaction, when this posting created it.
    var created: Transaction? {
        if case .created(let entry) = self { entry.transaction } else { nil }
    }

    /// The transaction, when this posting replayed it.
    var replayed: Transaction? {
        if case .replayed(let entry) = self { entry.transaction } else { nil }
    }
}

/// A store that hands every call to `inner`: a test double overrides the one or two it changes.
protocol ForwardingStore: LedgerStore {
    associatedtype Inner: LedgerStore
    var inner: Inner { get }
}

extension ForwardingStore {
    func commit(
        _ postings: [Transaction], decide: @escaping @Sendable (LedgerSnapshot) -> CommitPlan
    ) async throws -> CommitPlan { try await inner.commit(postings, decide: decide) }
    func transaction(_ id: TransactionID) async throws -> LedgerEntry? { try await inner.transaction(id) }
    func balance(of account: AccountID) async throws -> Int64? { try await inner.balance(of: account) }
    func balance(of account: AccountID, at instant: Timestamp) async throws -> Int64? {
        try await inner.balance(of: account, at: instant)
    }
    func statement(of account: AccountID, before: Int64?, limit: Int) async throws -> [LedgerEntry] {
        try await inner.statement(of: account, before: before, limit: limit)
    }
    func transactions(after: Int64, limit: Int) async throws -> [LedgerEntry] {
        try await inner.transactions(after: after, limit: limit)
    }
    func transactionVolume() async throws -> TransactionVolume { try await inner.transactionVolume() }
    var unavailability: StoreUnavailableError? { inner.unavailability }
    var isSoleWriter: Bool { inner.isSoleWriter }
    var deadline: Duration? { inner.deadline }
}

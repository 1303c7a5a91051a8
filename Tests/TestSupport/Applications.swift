import AccountHTTP
import AccountLedger
import AccountServiceApp
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PostgresStore
import SQLiteStore
import Testing

package struct TestArguments: AppArguments {
    package var hostname = "127.0.0.1"
    package let port = 0
    package let database: String
    package var durability = Durability.full
    package var logLevel: Logger.Level? = .warning
    package var idleTimeout = ConnectionLimits.defaultIdleTimeout
    package var maximumConnections: Int? = nil
    package var maximumWaitingReads: Int? = nil
    package var apiKeysPath: String? = nil
    package var allowUnauthenticated = false
    package var maximumBodyMemory = RequestBodies.defaultMemory
    package var bodyTimeout = ConnectionLimits.defaultBodyTimeout
    package var databaseTimeout = testDatabaseTimeout
    package var replicas: [String] = []
    package var replicaMaximumLag = PostgresReplicas.defaultMaximumLag

    package init(
        hostname: String = "127.0.0.1", database: String, durability: Durability = .full,
        logLevel: Logger.Level? = .warning, idleTimeout: Duration = ConnectionLimits.defaultIdleTimeout,
        maximumConnections: Int? = nil, maximumWaitingReads: Int? = nil, apiKeysPath: String? = nil,
        allowUnauthenticated: Bool = false, maximumBodyMemory: Int = RequestBodies.defaultMemory,
        bodyTimeout: Duration = ConnectionLimits.defaultBodyTimeout, databaseTimeout: Duration = testDatabaseTimeout,
        replicas: [String] = [], replicaMaximumLag: Duration = PostgresReplicas.defaultMaximumLag
    ) {
        self.hostname = hostname
        self.database = database
        self.durability = durability
        self.logLevel = logLevel
        self.idleTimeout = idleTimeout
        self.maximumConnections = maximumConnections
        self.maximumWaitingReads = maximumWaitingReads
        self.apiKeysPath = apiKeysPath
        self.allowUnauthenticated = allowUnauthenticated
        self.maximumBodyMemory = maximumBodyMemory
        self.bodyTimeout = bodyTimeout
        self.databaseTimeout = databaseTimeout
        self.replicas = replicas
        self.replicaMaximumLag = replicaMaximumLag
    }
}

/// The PostgreSQL store's deadline in the tests, but those of the deadline itself: the service's 5 s is for a
/// machine that serves, and the whole suite at once keeps both cores of a CI machine busy for minutes, so that a
/// request can wait more than 5 s for a thread (a 10,000-item batch was answered 503 so).
package let testDatabaseTimeout = Duration.seconds(60)

/// A directory of its own for one test's database files, removed afterwards.
package func withTemporaryDatabase<T>(_ body: (_ path: String) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("account-service-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try await body(directory.appendingPathComponent("accounts.sqlite").path)
}

/// Runs `body` with a ledger on a fresh database of `kind` (or on `store` when given), stamped by `clock`, its
/// writer loop running as the application runs it. `body` gets the database's location (a path or a URL).
package func withLedger(
    _ kind: StoreKind = .sqlite,
    store: (any LedgerStore)? = nil,
    clock: @escaping @Sendable () -> Timestamp = Timestamp.now,
    _ body: @escaping @Sendable (Ledger, _ location: String) async throws -> Void
) async throws {
    try await withTemporaryStore(kind) { location in
        try await withStore(at: location, replicas: try await replicas(of: kind, at: location)) { opened in
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
package func concurrently<Input: Sendable, Output: Sendable>(
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
package func waitUntil(_ condition: () -> Bool) async throws {
    while !condition() { try await Task.sleep(for: .milliseconds(1)) }
}

/// Runs `test` against the application built on `database` (a fresh database of `store` when nil), exactly as
/// the executable builds it: `.router` for in-process requests, `.ahc()` for a live server on real sockets.
package func withApp(
    _ setup: TestingSetup = .router,
    store: StoreKind = .sqlite,
    database: String? = nil,
    _ test: @escaping @Sendable (any TestClientProtocol) async throws -> Void
) async throws {
    if let database {
        return try await buildApplication(TestArguments(database: database)).test(setup, test)
    }
    try await withTemporaryStore(store) { location in
        try await buildApplication(
            TestArguments(database: location, replicas: try await replicas(of: store, at: location))
        ).test(setup, test)
    }
}

extension PostingOutcome {
    /// The transaction, when this posting created it.
    package var created: Transaction? {
        if case .created(let entry) = self { entry.transaction } else { nil }
    }

    /// The transaction, when this posting replayed it.
    package var replayed: Transaction? {
        if case .replayed(let entry) = self { entry.transaction } else { nil }
    }
}

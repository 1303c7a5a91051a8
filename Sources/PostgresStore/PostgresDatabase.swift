import AccountLedger
import Foundation
import Logging
import NIOSSL
import PostgresNIO
import ServiceLifecycle

/// Connects to the PostgreSQL database a `postgres://` URL names and prepares it for the service.
public enum PostgresDatabase {
    /// The most connections of one pool (the primary's, and each read replica's).
    static let poolConnections = 16

    /// The URL cannot be used; says why in one line.
    public struct InvalidURLError: Error, CustomStringConvertible {
        let url: String
        let reason: String
        public var description: String { "invalid PostgreSQL URL \(url): \(reason)" }
    }

    /// PostgreSQL could not be reached during start-up, however long it was retried.
    public struct UnreachableError: Error, CustomStringConvertible {
        let location: String
        let waited: Duration
        let lastError: String
        public var description: String {
            "cannot reach PostgreSQL at \(location) (tried for \(waited.components.seconds) s): \(lastError)"
        }
    }

    /// The server answered but refused the connection (a wrong password, a missing database).
    public struct RefusedError: Error, CustomStringConvertible {
        let location: String
        let reason: String
        public var description: String { "PostgreSQL at \(location) refused the connection: \(reason)" }
    }

    /// What a `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require]` URL names; a Unix
    /// socket folder may be given as `?host=/path`.
    struct Target {
        var host = "127.0.0.1"
        var port = 5432
        var socketFolder: String?
        var user = "postgres"
        var password: String?
        var database: String?
        var sslmode = "prefer"

        init(url text: String) throws {
            guard let url = URLComponents(string: text), ["postgres", "postgresql"].contains(url.scheme ?? "") else {
                throw InvalidURLError(url: redacted(text), reason: "expected postgres://user@host:port/database")
            }
            let query = Dictionary((url.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
            if let host = url.host, !host.isEmpty { self.host = host }
            if let port = url.port { self.port = port }
            if let folder = query["host"], folder.hasPrefix("/") { socketFolder = folder }
            if let user = url.user.flatMap({ $0.removingPercentEncoding }) { self.user = user }
            password = url.password.flatMap { $0.removingPercentEncoding }
            database = String(url.path.drop(while: { $0 == "/" })).removingPercentEncoding.flatMap {
                $0.isEmpty ? nil : $0
            }
            sslmode = query["sslmode"] ?? "prefer"
            guard ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"].contains(sslmode) else {
                throw InvalidURLError(url: redacted(text), reason: "unknown sslmode \(sslmode)")
            }
        }

        var socketPath: String? { socketFolder.map { "\($0)/.s.PGSQL.\(port)" } }

        /// host:port/database (the socket's folder for a Unix socket), without credentials: for logs and labels.
        var name: String { "\(socketFolder ?? host):\(port)/\(database ?? user)" }

        /// For the service's connection pool.
        var client: PostgresClient.Configuration {
            var configuration: PostgresClient.Configuration
            if let socketPath {
                configuration = .init(
                    unixSocketPath: socketPath, username: user, password: password, database: database)
            } else {
                let tls: PostgresClient.Configuration.TLS =
                    switch sslmode {
                    case "disable": .disable
                    case "allow", "prefer": .prefer(.makeClientConfiguration())
                    default: .require(.makeClientConfiguration())
                    }
                configuration = .init(
                    host: host, port: port, username: user, password: password, database: database, tls: tls)
            }
            // Sized for the group commit (one connection), the commit listener and the concurrent reads of one
            // instance; PostgreSQL's own default limit is 100 connections, shared by every instance.
            configuration.options.maximumConnections = PostgresDatabase.poolConnections
            configuration.options.connectTimeout = .seconds(5)
            // Every statement the store runs is planned once per connection and kept (prepared statements): its
            // plan does not depend on the values (index probes, arrays unnested for a commit), and planning
            // again for each commit was a third of the server's time for it. A plan is kept until autovacuum next
            // analyzes its tables, however much they grew: made on a new database, the commit's account update
            // scanned every account (a third of the server's time per transfer, and growing with the accounts).
            // Every statement here reads by index, so a sequential scan is never the plan wanted: off (it stays
            // possible where there is nothing else, as for the one-row ledger_head). Off, its penalty makes every
            // plan's cost look large enough to be compiled by JIT (half a second each): JIT off as well, which
            // these short statements never need.
            configuration.options.additionalStartupParameters = [
                ("plan_cache_mode", "force_generic_plan"), ("enable_seqscan", "off"), ("jit", "off"),
            ]
            return configuration
        }

        /// For one connection of its own (start-up and the migrations).
        func connection() throws -> PostgresConnection.Configuration {
            if let socketPath {
                return .init(unixSocketPath: socketPath, username: user, password: password, database: database)
            }
            let tls: PostgresConnection.Configuration.TLS =
                switch sslmode {
                case "disable": .disable
                case "allow", "prefer": .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
                default: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
                }
            return .init(host: host, port: port, username: user, password: password, database: database, tls: tls)
        }
    }

    /// The connection pool's configuration for the database `url` names.
    public static func configuration(url: String) throws -> PostgresClient.Configuration {
        try Target(url: url).client
    }

    /// Runs `body` with a connection pool to the database `url` names, running for as long as `body` does (for a
    /// command such as `check`; the service runs its pool as a service instead).
    public static func withClient<T: Sendable>(
        url: String, _ body: @escaping @Sendable (PostgresClient) async throws -> T
    ) async throws -> T {
        let client = PostgresClient(configuration: try configuration(url: url), backgroundLogger: quiet)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }

    /// The URL without its password, for log lines and messages.
    public static func redacted(_ text: String) -> String {
        guard var url = URLComponents(string: text), url.password != nil else { return text }
        url.password = "…"
        return url.string ?? text
    }

    /// Brings the schema up to date, on a connection of its own. While the server cannot be reached (it may be
    /// starting beside the service) it tries again after 0.25 s, then twice as long each time up to 5 s, for at
    /// most `patience`, with a log line each time. A server that answers but refuses (a wrong password, a missing
    /// database) fails at once.
    public static func prepare(
        url: String, logger: Logger, patience: Duration = .seconds(60)
    ) async throws {
        let connection = try await connect(url: url, logger: logger, patience: patience)
        let applied: [Int]
        do {
            applied = try await PostgresSchema.migrate(connection, logger: logger)
            try? await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
        if !applied.isEmpty {
            logger.notice(
                "Migrated the PostgreSQL schema", metadata: ["database": "\(redacted(url))", "versions": "\(applied)"])
        }
    }

    /// Connects once to the database `url` names and closes the connection: ``UnreachableError`` or ``RefusedError`` with
    /// the cause, within `patience`, rather than a pool that retries for a minute (for `check`).
    public static func probe(url: String, patience: Duration = .seconds(5)) async throws {
        try await connect(url: url, logger: quiet, patience: patience).close()
    }

    /// A connection of its own to the database `url` names, trying again while the server cannot be reached, as
    /// ``prepare(url:logger:patience:)`` says.
    private static func connect(url: String, logger: Logger, patience: Duration) async throws -> PostgresConnection {
        let configuration = try Target(url: url).connection()
        let started = ContinuousClock.now
        var delay = Duration.milliseconds(250)
        while true {
            do {
                return try await PostgresLedgerStore.within(min(patience, .seconds(10))) {
                    try await PostgresConnection.connect(configuration: configuration, id: 0, logger: quiet)
                }
            } catch let error where PostgresLedgerStore.isUnavailable(error) {
                let waited = ContinuousClock.now - started
                guard waited + delay <= patience else {
                    throw UnreachableError(
                        location: redacted(url), waited: waited, lastError: PostgresLedgerStore.reason(for: error))
                }
                logger.warning(
                    "PostgreSQL is not reachable yet; retrying",
                    metadata: [
                        "database": "\(redacted(url))", "retry_in_ms": "\(delay.nanoseconds / 1_000_000)",
                        "error": "\(PostgresLedgerStore.reason(for: error))",
                    ])
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            } catch {
                throw RefusedError(location: redacted(url), reason: PostgresLedgerStore.reason(for: error))
            }
        }
    }

    /// The client's own background logging (every failed reconnection attempt) is left out: the store's errors
    /// and ``prepare(url:logger:patience:)`` say what an operator needs.
    public static let quiet = Logger(label: "postgres", factory: { _ in SwiftLogNoOpLogHandler() })
}

/// Wakes this instance's waiting change-feed readers when any instance commits: it listens on the channel that
/// every commit notifies (``PostgresLedgerStore``), on a connection of its own, and listens again after the
/// connection is lost.
public struct PostgresCommitListener: Service {
    let client: PostgresClient
    let logger: Logger
    /// Called with the commit's last sequence (the notification's payload), or nil when it is not known.
    let onCommit: @Sendable (Int64?) -> Void

    public init(client: PostgresClient, logger: Logger, onCommit: @escaping @Sendable (Int64?) -> Void) {
        self.client = client
        self.logger = logger
        self.onCommit = onCommit
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var delay = Duration.milliseconds(100)
            while !Task.isCancelled {
                do {
                    try await client.withConnection { connection in
                        try await connection.listen(on: PostgresLedgerStore.commitChannel) { notifications in
                            // Something may have committed while no one listened.
                            onCommit(nil)
                            delay = .milliseconds(100)
                            for try await notification in notifications { onCommit(Int64(notification.payload)) }
                        }
                    }
                } catch {
                    if Task.isCancelled { return }
                    logger.debug("Listening for commits failed; retrying", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }
}

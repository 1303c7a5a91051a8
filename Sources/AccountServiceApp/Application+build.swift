import AccountHTTP
import AccountLedger
import Hummingbird
import Logging
import PostgresNIO
import PostgresStore
import SQLiteStore
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// What the application is built from; the command line provides it, and so do the tests.
public protocol AppArguments {
    var hostname: String { get }
    var port: Int { get }
    /// The SQLite database file, created and migrated when missing, or a PostgreSQL URL (``DatabaseLocation``).
    var database: String { get }
    var durability: Durability { get }
    var logLevel: Logger.Level? { get }
    /// How log lines are written; text unless given.
    var logFormat: LogFormat { get }
    /// How long a connection may stay idle, or stall mid-request, before it is closed.
    var idleTimeout: Duration { get }
    /// The most connections served at once; nil: ``ConnectionLimits/defaultMaximumConnections``.
    var maximumConnections: Int? { get }
    /// The most change-feed requests held (`wait`) at once; beyond that one is answered at once. Nil: a quarter
    /// of the connections (``ConnectionLimits/defaultMaximumWaitingReads(connections:)``).
    var maximumWaitingReads: Int? { get }
    /// The access keys file; when given, every request but the probes needs a key (``AccessControlMiddleware``).
    var apiKeysPath: String? { get }
    /// Serve an open API on an address other than loopback (without keys the service refuses to).
    var allowUnauthenticated: Bool { get }
    /// SQLite: how many index entries may wait in memory before merges start (``SQLiteLedgerStore``).
    var indexBacklog: Int { get }
    /// The most bytes the request bodies being read may take together (``RequestBodies``).
    var maximumBodyMemory: Int { get }
    /// The longest a request may take to arrive whole, from its head to its end (its body trickled, say).
    var bodyTimeout: Duration { get }
}

extension AppArguments {
    public var logFormat: LogFormat { .text }
    public var idleTimeout: Duration { ConnectionLimits.defaultIdleTimeout }
    public var maximumConnections: Int? { nil }
    public var maximumWaitingReads: Int? { nil }
    public var apiKeysPath: String? { nil }
    public var allowUnauthenticated: Bool { false }
    public var indexBacklog: Int { SQLiteLedgerStore.defaultBacklogLimit }
    public var maximumBodyMemory: Int { RequestBodies.defaultMemory }
    public var bodyTimeout: Duration { ConnectionLimits.defaultBodyTimeout }
}

/// The service would serve an open API beyond this machine without having been told to.
public struct UnauthenticatedListenError: Error, CustomStringConvertible {
    let hostname: String
    public var description: String {
        "refusing to listen on \(hostname) without access keys: give --api-keys FILE (see `account-service keys`), "
            + "or --allow-unauthenticated to serve an open API beyond this machine"
    }
}

/// The limits that keep slow or idle clients from pinning the service's descriptors.
public enum ConnectionLimits {
    /// Long enough for any client that is actually sending; a half-sent request is closed after it.
    public static let defaultIdleTimeout = Duration.seconds(30)
    /// Ample for a client that is sending: 8 MiB in 60 s is 140 KB/s.
    public static let defaultBodyTimeout = Duration.seconds(60)

    /// Below the process's descriptor limit (`ulimit -n`), with room for the database files, the log and the
    /// listening socket; at most 4,096.
    public static var defaultMaximumConnections: Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1_000 }
        return max(16, min(4_096, Int(clamping: limit.rlim_cur) - 64))
    }

    /// A quarter of `connections`, at least 1: held feed requests leave three quarters of the connections to
    /// every other request, however many clients park one (or park one and go away).
    public static func defaultMaximumWaitingReads(connections: Int) -> Int {
        max(1, connections / 4)
    }
}

/// Builds the application: the database, the ledger on top of it, and the HTTP routes on top of that.
/// The executable runs what this returns, and the tests call it too, so what is tested is what runs.
///
/// `logHandler` makes the log handler (the tests capture lines with it); by default, `--log-format` chooses.
public func buildApplication(
    _ arguments: some AppArguments, logHandler: (@Sendable (String) -> any LogHandler)? = nil
) async throws -> some ApplicationProtocol {
    let format = arguments.logFormat
    var logger = Logger(
        label: "account-service",
        factory: logHandler
            ?? { label in
                LogLineHandler(label: label, format: format)
            })
    logger.logLevel = arguments.logLevel ?? .notice
    let keys = try arguments.apiKeysPath.map { try AccessKeys(path: $0) }
    guard keys != nil || arguments.allowUnauthenticated || isLoopback(arguments.hostname) else {
        throw UnauthenticatedListenError(hostname: arguments.hostname)
    }
    let location = DatabaseLocation(arguments.database)
    let metrics = ServiceMetrics()
    let store: any LedgerStore
    /// What runs beside the HTTP server, in start order; a ServiceGroup stops its services in reverse order,
    /// after the HTTP server (which it adds last): the server finishes its requests, then the ledger commits what
    /// is queued, then the store finishes its work and closes the database.
    var services: [any Service] = [LogFlusher()]
    var postgresClient: PostgresClient?
    switch location {
    case .sqlite(let path):
        let pool = try LedgerDatabase.open(path: path, durability: arguments.durability)
        let sqlite = try SQLiteLedgerStore(
            pool: pool, backlogLimit: arguments.indexBacklog, metrics: metrics.factory, logger: logger)
        store = sqlite
        services.append(sqlite)
    case .postgres(let url):
        try await PostgresDatabase.prepare(url: url, logger: logger)
        let client = PostgresClient(
            configuration: try PostgresDatabase.configuration(url: url), backgroundLogger: PostgresDatabase.quiet)
        store = PostgresLedgerStore(client: client, logger: logger)
        services.append(client)
        postgresClient = client
    }
    let maximumConnections = arguments.maximumConnections ?? ConnectionLimits.defaultMaximumConnections
    let ledger = Ledger(
        store: store, metrics: metrics.factory,
        maximumWaitingReads: arguments.maximumWaitingReads
            ?? ConnectionLimits.defaultMaximumWaitingReads(connections: maximumConnections))
    if let postgresClient {
        services.append(
            PostgresCommitListener(client: postgresClient, logger: logger) { ledger.commitLandedElsewhere(through: $0) }
        )
    }
    services.append(ledger)
    // After the ledger, so that it stops before it: it posts the voids of expired holds to the ledger.
    services.append(HoldExpiry(ledger: ledger, logger: logger))
    services.append(HangUpHandler(keys: keys, logger: logger))
    return Application(
        router: buildRouter(
            ledger: ledger, metrics: metrics, keys: keys,
            bodies: RequestBodies(memory: arguments.maximumBodyMemory)),
        // The idle timeout also closes a connection whose request stalls: Hummingbird's connection handler counts
        // the time since the last request part read (a head not yet complete counts from the connection's start).
        server: .http1Connections(
            configuration: .init(idleTimeout: .nanoseconds(arguments.idleTimeout.nanoseconds)),
            bodyTimeout: arguments.bodyTimeout),
        configuration: .init(
            address: .hostname(arguments.hostname, port: arguments.port), serverName: nil,
            availableConnectionsDelegate: .maximum(maximumConnections, logger: logger)),
        services: services,
        // At notice, the default level, so that it shows without the per-request lines (info).
        onServerRunning: { [logger, keys, database = location.description, keysFile = arguments.apiKeysPath] channel in
            logger.notice(
                "Serving",
                metadata: [
                    "address": "\(channel.localAddress.map { "\($0)" } ?? "?")", "database": "\(database)",
                    "access_keys": "\(keysFile ?? "none")", "keys": "\(keys?.count ?? 0)",
                ])
        },
        logger: logger
    )
}

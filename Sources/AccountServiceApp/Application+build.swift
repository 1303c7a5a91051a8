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
    /// The most connections served at once (never more than the descriptor limit leaves, less
    /// ``ConnectionLimits/reservedDescriptors``); nil: 4,096.
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
    /// PostgreSQL: the longest a request waits for the database before it is answered 503.
    var databaseTimeout: Duration { get }
    /// PostgreSQL: streaming standbys' URLs, for the reads that may lag (``PostgresReplicas``).
    var replicas: [String] { get }
    /// PostgreSQL: a replica further behind than this is not read.
    var replicaMaximumLag: Duration { get }
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
    public var databaseTimeout: Duration { PostgresLedgerStore.defaultOperationTimeout }
    public var replicas: [String] { [] }
    public var replicaMaximumLag: Duration { PostgresReplicas.defaultMaximumLag }
}

/// The descriptor limit leaves too little room for connections beside the service's own descriptors.
public struct DescriptorLimitError: Error, CustomStringConvertible {
    let limit: Int
    let reserved: Int
    public var description: String {
        "the descriptor limit (ulimit -n) is \(limit): the service keeps \(reserved) "
            + "for its database and runtime and needs at least \(ConnectionLimits.minimumConnections) for "
            + "connections; raise it to \(reserved + ConnectionLimits.minimumConnections) or more"
    }
}

/// `--replica` was given for an SQLite database.
public struct ReplicasNeedPostgresError: Error, CustomStringConvertible {
    public var description: String {
        "--replica names PostgreSQL streaming standbys, and the database is an SQLite file: give --database a "
            + "postgres:// URL, or leave --replica out"
    }
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

    /// The descriptors kept for everything but client connections: the database's files or connections, the
    /// event loops, the runtime's timers and signals, the log. A process that runs out of descriptors does not
    /// just fail to accept: libdispatch (under GRDB's queues) ends it when it cannot open a /proc file of one of
    /// its threads (a flood past the limit ended the service with SIGILL), and its reads and commits would fail.
    /// So connections are capped below the limit by this much, whatever `--max-connections` asks for, and by
    /// each read replica's pool more (``reservedDescriptors(replicas:)``).
    public static let reservedDescriptors = 64

    /// The descriptors kept with `replicas` read replicas.
    public static func reservedDescriptors(replicas: Int) -> Int {
        reservedDescriptors + PostgresReplicas.descriptors(replicas: replicas)
    }
    /// The fewest connections the service starts with: below `reservedDescriptors` + this, it refuses to start.
    public static let minimumConnections = 16
    /// The largest default cap.
    public static let defaultMaximumConnectionsCeiling = 4_096

    /// The process's descriptor limit (`ulimit -n`), its soft value raised first to its hard one (at most
    /// 65,536), as most servers do: the soft default of 1,024 is a relic of `select`.
    public static func raisedDescriptorLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1_024 }
        let wanted = min(limit.rlim_max, 65_536)
        if limit.rlim_cur < wanted {
            var raised = limit
            raised.rlim_cur = wanted
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(clamping: limit.rlim_cur)
    }

    /// The connections served at once: `requested` (at most 4,096 when nil), but never more than the descriptor
    /// limit leaves beside `reserved`; throws when the limit leaves fewer than ``minimumConnections``.
    public static func maximumConnections(
        requested: Int?, descriptorLimit: Int, reserved: Int = reservedDescriptors
    ) throws -> Int {
        let room = descriptorLimit - reserved
        guard room >= minimumConnections else {
            throw DescriptorLimitError(limit: descriptorLimit, reserved: reserved)
        }
        return min(requested ?? defaultMaximumConnectionsCeiling, room)
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
    if case .sqlite = location, !arguments.replicas.isEmpty { throw ReplicasNeedPostgresError() }
    let descriptorLimit = ConnectionLimits.raisedDescriptorLimit()
    let reserved = ConnectionLimits.reservedDescriptors(replicas: arguments.replicas.count)
    let maximumConnections = try ConnectionLimits.maximumConnections(
        requested: arguments.maximumConnections, descriptorLimit: descriptorLimit, reserved: reserved)
    if let requested = arguments.maximumConnections, requested > maximumConnections {
        logger.warning(
            "--max-connections lowered to what the descriptor limit leaves",
            metadata: [
                "requested": "\(requested)", "connections": "\(maximumConnections)",
                "descriptor_limit": "\(descriptorLimit)", "reserved": "\(reserved)",
            ])
    }
    let metrics = ServiceMetrics()
    let store: any LedgerStore
    /// What runs beside the HTTP server, in start order; a ServiceGroup stops its services in reverse order,
    /// after the HTTP server (which it adds last): the server finishes its requests, then the ledger commits what
    /// is queued, then the store finishes its work and closes the database.
    var services: [any Service] = [LogFlusher()]
    var postgres: (client: PostgresClient, store: PostgresLedgerStore)?
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
        services.append(client)
        var replicas: PostgresReplicas?
        if !arguments.replicas.isEmpty {
            let set = try PostgresReplicas(
                urls: arguments.replicas, primary: client, maximumLag: arguments.replicaMaximumLag,
                metrics: metrics.factory, logger: logger)
            services.append(set)
            replicas = set
        }
        let postgresStore = PostgresLedgerStore(
            client: client, replicas: replicas, logger: logger, operationTimeout: arguments.databaseTimeout)
        store = postgresStore
        postgres = (client, postgresStore)
    }
    let ledger = Ledger(
        store: store, metrics: metrics.factory,
        maximumWaitingReads: arguments.maximumWaitingReads
            ?? ConnectionLimits.defaultMaximumWaitingReads(connections: maximumConnections))
    if let postgres {
        services.append(
            PostgresCommitListener(client: postgres.client, logger: logger) { sequence in
                if let sequence { postgres.store.commitLandedElsewhere(through: sequence) }
                ledger.commitLandedElsewhere(through: sequence)
            }
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

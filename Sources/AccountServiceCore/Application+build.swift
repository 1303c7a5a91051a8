import GRDB
import Hummingbird
import Logging

/// What the application is built from; the command line provides it, and so do the tests.
public protocol AppArguments {
    var hostname: String { get }
    var port: Int { get }
    /// The SQLite database file, created and migrated when missing.
    var databasePath: String { get }
    var durability: Durability { get }
    var logLevel: Logger.Level? { get }
    /// How log lines are written; text unless given.
    var logFormat: LogFormat { get }
}

extension AppArguments {
    public var logFormat: LogFormat { .text }
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
                switch format {
                case .text: StreamLogHandler.standardOutput(label: label)
                case .json: JSONLogHandler(label: label)
                }
            })
    logger.logLevel = arguments.logLevel ?? .info
    let pool = try LedgerDatabase.open(path: arguments.databasePath, durability: arguments.durability)
    let metrics = ServiceMetrics(databasePath: arguments.databasePath)
    let ledger = Ledger(store: SQLiteLedgerStore(pool: pool), metrics: metrics.factory)
    return Application(
        router: buildRouter(ledger: ledger, metrics: metrics),
        configuration: .init(address: .hostname(arguments.hostname, port: arguments.port), serverName: nil),
        // A ServiceGroup stops its services in reverse order, after the HTTP server (which it adds last):
        // the server finishes its requests, then the ledger commits what is queued, then the database closes.
        services: [DatabaseCloser(pool: pool, logger: logger), ledger],
        logger: logger
    )
}

/// The routes of the Account Management API.
func buildRouter(ledger: Ledger, metrics: ServiceMetrics = ServiceMetrics()) -> Router<BasicRequestContext> {
    let router = Router(options: .autoGenerateHeadEndpoints)
    router.add(middleware: RequestIDMiddleware())
    router.add(middleware: RequestLogMiddleware(level: .info))
    router.add(middleware: HTTPMetricsMiddleware(factory: metrics.factory))
    router.add(middleware: ProblemMiddleware())
    router.get("/ping") { _, _ in HTTPResponse.Status.ok }
    // Readiness, for a load balancer or an orchestrator: /ping says the process answers; this, that it can serve.
    router.get("/ready") { _, _ in
        guard await ledger.isReady() else {
            throw Problem(
                status: .serviceUnavailable,
                detail: "Not ready: the service is shutting down or its database does not answer; try another instance."
            )
        }
        return HTTPResponse.Status.ok
    }
    router.get("/openapi.yaml") { _, _ in OpenAPIDocument() }
    router.get("/metrics") { _, _ in MetricsResponse(text: metrics.scrape()) }
    TransactionController(ledger: ledger).addRoutes(to: router)
    AccountController(ledger: ledger).addRoutes(to: router)
    router.add(middleware: MethodNotAllowedMiddleware(routesOf: router, headForGet: true))
    return router
}

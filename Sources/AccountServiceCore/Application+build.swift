import GRDB
import HTTPTypes
import Hummingbird
import NIOCore
import Logging

/// What the application is built from; the command line provides it, and so do the tests.
public protocol AppArguments {
    var hostname: String { get }
    var port: Int { get }
    /// The SQLite database file, created and migrated when missing.
    var databasePath: String { get }
    var durability: Durability { get }
    var logLevel: Logger.Level? { get }
}

/// Builds the application: the database, the ledger on top of it, and the HTTP routes on top of that.
/// The executable runs what this returns, and the tests call it too, so what is tested is what runs.
public func buildApplication(_ arguments: some AppArguments) async throws -> some ApplicationProtocol {
    var logger = Logger(label: "account-service")
    logger.logLevel = arguments.logLevel ?? .info
    let pool = try LedgerDatabase.open(path: arguments.databasePath, durability: arguments.durability)
    let ledger = Ledger(store: SQLiteLedgerStore(pool: pool))
    return Application(
        router: buildRouter(ledger: ledger),
        configuration: .init(address: .hostname(arguments.hostname, port: arguments.port), serverName: nil),
        // A ServiceGroup stops its services in reverse order, after the HTTP server (which it adds last):
        // the server finishes its requests, then the group commit its postings, then the database closes.
        services: [DatabaseCloser(pool: pool, logger: logger), ledger.groupCommit],
        logger: logger
    )
}

/// The routes of the Account Management API.
func buildRouter(ledger: Ledger) -> Router<BasicRequestContext> {
    let router = Router(options: .autoGenerateHeadEndpoints)
    router.add(middleware: ProblemMiddleware())
    let routes = RouteTable(router: router)
    routes.on("/ping", method: .get) { _, _ in HTTPResponse.Status.ok }
    routes.on("/openapi.yaml", method: .get) { _, _ in OpenAPIDocument() }
    TransactionController(ledger: ledger).addRoutes(to: routes)
    AccountController(ledger: ledger).addRoutes(to: routes)
    router.add(middleware: routes.methodNotAllowedMiddleware())
    return router
}

import AccountLedger
import HTTPTypes
import Hummingbird

/// The routes of the Account Management API.
/// With `keys`, every route but the probes (GET /ping, GET /ready) needs an access key.
package func buildRouter(
    ledger: Ledger, metrics: ServiceMetrics = ServiceMetrics(), keys: AccessKeys? = nil,
    bodies: RequestBodies = RequestBodies()
) -> Router<BasicRequestContext> {
    let router = Router(options: .autoGenerateHeadEndpoints)
    router.add(middleware: RequestObservationMiddleware(level: .info, metrics: HTTPMetrics(factory: metrics.factory)))
    router.add(middleware: ProblemMiddleware())
    if let keys { router.add(middleware: AccessControlMiddleware(keys: keys)) }
    router.get("/ping") { _, _ in HTTPResponse.Status.ok }
    // Readiness, for a load balancer or an orchestrator: /ping says the process answers; this, that it can serve.
    router.get("/ready") { _, _ in
        if let reason = await ledger.unreadiness() {
            throw Problem(status: .serviceUnavailable, detail: "Not ready: \(reason); try another instance.")
        }
        return HTTPResponse.Status.ok
    }
    router.get("/openapi.yaml") { _, _ in OpenAPIDocument() }
    router.get("/metrics") { _, _ in MetricsResponse(text: metrics.scrape()) }
    for (path, asset) in ConsoleAsset.routes {
        router.get(RouterPath(path)) { _, _ in asset }
    }
    TransactionController(ledger: ledger, bodies: bodies).addRoutes(to: router)
    AccountController(ledger: ledger, bodies: bodies).addRoutes(to: router)
    router.add(middleware: MethodNotAllowedMiddleware(routesOf: router, headForGet: true))
    return router
}

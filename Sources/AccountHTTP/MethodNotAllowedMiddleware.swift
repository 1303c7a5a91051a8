import AccountLedger
import HTTPTypes
import Hummingbird

/// Answers 405 with an `Allow` header for a known path asked with another method (a Hummingbird router answers
/// 404 there), from the router's own list of routes.
///
/// Add it to the router after every route: a middleware added after the routes applies to the router's
/// not-found responder alone, so it only sees requests that no route answered.
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: [(path: RouterPath, allow: String)]

    /// The routes of `router` as registered so far; `headForGet` when the router answers HEAD for every GET
    /// (`autoGenerateHeadEndpoints`, whose HEAD routes are not in the list until the router is built).
    init(routesOf router: Router<Context>, headForGet: Bool) {
        var methods: [(path: RouterPath, methods: [HTTPRequest.Method])] = []
        for route in router.routes {
            let added = route.method == .get && headForGet ? [route.method, .head] : [route.method]
            if let index = methods.firstIndex(where: { $0.path == route.path }) {
                methods[index].methods += added
            } else {
                methods.append((route.path, added))
            }
        }
        routes = methods.map { ($0.path, $0.methods.map(\.rawValue).joined(separator: ", ")) }
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let segments = request.uri.path.split(separator: "/")
        guard
            let route = routes.first(where: { route in
                route.path.count == segments.count && zip(route.path, segments).allSatisfy { $0 ~= $1 }
            })
        else { return try await next(request, context) }
        var problem = Problem(
            status: .methodNotAllowed,
            detail: "\(request.method) is not allowed on \(route.path); use \(route.allow).")
        problem.headers[.allow] = route.allow
        throw problem
    }
}

import HTTPTypes
import Hummingbird
import NIOCore

/// Registers routes on a router and remembers which methods each path allows, so that a known path asked with
/// another method answers 405 with an `Allow` header (a Hummingbird router answers 404 there).
final class RouteTable<Context: RequestContext> {
    let router: Router<Context>
    private var allowed: [(path: RouterPath, methods: [HTTPRequest.Method])] = []

    init(router: Router<Context>) {
        self.router = router
    }

    func on(
        _ path: RouterPath,
        method: HTTPRequest.Method,
        use handler: @Sendable @escaping (Request, Context) async throws -> some ResponseGenerator
    ) {
        router.on(path, method: method, use: handler)
        var methods = [method]
        if method == .get { methods.append(.head) }  // the router answers HEAD for every GET route
        if let index = allowed.firstIndex(where: { $0.path == path }) {
            allowed[index].methods += methods
        } else {
            allowed.append((path, methods))
        }
    }

    /// The middleware that turns the router's 404 for a known path into 405. Add it after every route.
    func methodNotAllowedMiddleware() -> MethodNotAllowedMiddleware<Context> {
        MethodNotAllowedMiddleware(allowed: allowed)
    }
}

/// Only reached for requests that no route answered: a middleware added to a router after its routes applies
/// to its not-found responder alone.
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    let allowed: [(path: RouterPath, methods: [HTTPRequest.Method])]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let segments = request.uri.path.split(separator: "/")
        guard
            let route = allowed.first(where: { route in
                route.path.count == segments.count && zip(route.path, segments).allSatisfy { $0 ~= $1 }
            })
        else { return try await next(request, context) }
        let allow = route.methods.map(\.rawValue).joined(separator: ", ")
        var problem = Problem(
            status: .methodNotAllowed, detail: "\(request.method) is not allowed on \(route.path); use \(allow).")
        problem.headers[.allow] = allow
        throw problem
    }
}

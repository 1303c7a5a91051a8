import AccountLedger
import HTTPTypes
import Hummingbird
import Logging

/// Every request's id, log line and metrics, in one middleware (one frame and one pair of clock reads; three
/// middlewares cost more, docs/performance.md):
/// - **Request id:** a client's well-formed `X-Request-Id` names its request, otherwise Hummingbird's generated
///   id does. It is in the metadata (`hb.request.id`) of every log line the request causes, since they are all
///   written through `context.logger`, and it is echoed in the response's `X-Request-Id`.
/// - **One log line** after the request is answered, at `level`: method, route (the path's pattern, so no id
///   from the path), status and duration. Never a header, a body or a balance. Below the logger's level it
///   costs the comparison.
/// - **Metrics:** ``HTTPMetrics`` records the request by route, method and status.
struct RequestObservationMiddleware<Context: RequestContext>: RouterMiddleware {
    let level: Logger.Level
    let metrics: HTTPMetrics

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let started = ContinuousClock.now
        var context = context
        if let given = request.headers[.requestID], Self.isWellFormed(given) {
            context.logger[metadataKey: "hb.request.id"] = .string(given)
        }
        var response = try await next(request, context)
        response.headers[.requestID] = context.id
        let elapsed = ContinuousClock.now - started
        let route = context.endpointPath ?? "unknown"
        metrics.record(route: route, method: request.method, status: response.status.code, duration: elapsed)
        if context.logger.logLevel <= level {
            let microseconds: Int64 = elapsed.nanoseconds / 1000
            context.logger.log(
                level: level, "request",
                metadata: [
                    "http.method": .string(request.method.rawValue),
                    "http.route": .string(route),
                    "http.status": .stringConvertible(response.status.code),
                    "duration_us": .stringConvertible(microseconds),
                ])
        }
        return response
    }

    /// 1 to 128 characters of letters, digits and `-_.:`: what a proxy or a client generates, and nothing that
    /// could forge a log line or carry data.
    static func isWellFormed(_ id: String) -> Bool {
        (1...128).contains(id.utf8.count)
            && id.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                    UInt8(ascii: ":"):
                    true
                default: false
                }
            }
    }
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("X-Request-Id")!
}

import HTTPTypes
import Hummingbird
import Logging

/// Request ids: a client's well-formed `X-Request-Id` names its request, otherwise Hummingbird's generated id
/// does. The id is in the metadata (`hb.request.id`) of every log line the request causes, since they are all
/// written through `context.logger`, and it is echoed in the response's `X-Request-Id`.
struct RequestIDMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        if let given = request.headers[.requestID], Self.isWellFormed(given) {
            context.logger[metadataKey: "hb.request.id"] = .string(given)
        }
        var response = try await next(request, context)
        response.headers[.requestID] = context.id
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

/// One log line per request, after it is answered: method, route (the path's pattern, so no id from the path),
/// status and duration; the request id is in the logger's metadata. Never a header, a body or a balance.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The level of the lines; a level below the logger's costs nothing but the comparison.
    let level: Logger.Level

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard context.logger.logLevel <= level else { return try await next(request, context) }
        let started = ContinuousClock.now
        let response = try await next(request, context)
        let microseconds: Int64 = (ContinuousClock.now - started).nanoseconds / 1000
        context.logger.log(
            level: level, "request",
            metadata: [
                "http.method": .string(request.method.rawValue),
                "http.route": .string(context.endpointPath ?? "unknown"),
                "http.status": .stringConvertible(response.status.code),
                "duration_us": .stringConvertible(microseconds),
            ])
        return response
    }
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("X-Request-Id")!
}

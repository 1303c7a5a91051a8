import Dispatch
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// Checks `Authorization: Bearer <key>` when access keys are configured: a missing, malformed or unknown key
/// is 401 with `WWW-Authenticate: Bearer`; a `read` key on anything but GET (or HEAD) is 403. GET /ping needs
/// no key. The key itself is never logged or echoed.
///
/// hummingbird-auth's authenticator middleware is built around a request context that carries an identity,
/// which nothing here needs, and its `bearer` parser takes the scheme in one case only, where RFC 9110 makes it
/// case-insensitive; so the header is read here.
struct AccessControlMiddleware<Context: RequestContext>: RouterMiddleware {
    let keys: AccessKeys

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        if request.uri.path == "/ping" { return try await next(request, context) }
        guard let presented = Self.bearerToken(request.headers[.authorization]) else {
            throw Self.unauthorized(
                detail: "An access key is required: send Authorization: Bearer <key>.", challenge: "Bearer")
        }
        guard let key = keys.key(for: presented) else {
            throw Self.unauthorized(
                detail: "The access key is not valid (unknown, removed or mistyped).",
                challenge: #"Bearer error="invalid_token""#)
        }
        guard key.scope == .write || request.method == .get || request.method == .head else {
            throw Problem(
                status: .forbidden,
                detail: "The access key '\(key.name)' may only read; \(request.method) needs a key with scope write.")
        }
        return try await next(request, context)
    }

    /// The token of `Authorization: Bearer <token>` (the scheme in any case); nil for anything else.
    static func bearerToken(_ authorization: String?) -> String? {
        guard let authorization, authorization.utf8.count > 7,
            authorization.prefix(7).lowercased() == "bearer "
        else { return nil }
        let token = authorization.dropFirst(7).trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }

    static func unauthorized(detail: String, challenge: String) -> Problem {
        var problem = Problem(status: .unauthorized, detail: detail)
        problem.headers[.wwwAuthenticate] = challenge
        return problem
    }
}

/// Reads the keys file again on SIGHUP, so keys are rotated without a restart; a file that cannot be read
/// leaves the keys in use and is logged.
struct AccessKeyReloader: Service {
    let keys: AccessKeys
    let logger: Logger

    func run() async throws {
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP)
        source.setEventHandler { [keys, logger] in
            do {
                let count = try keys.reload()
                logger.notice("Access keys reloaded", metadata: ["keys": "\(count)", "path": "\(keys.path)"])
            } catch {
                logger.error("Access keys not reloaded; the previous keys stay", metadata: ["error": "\(error)"])
            }
        }
        source.resume()
        try? await gracefulShutdown()
        source.cancel()
    }
}

/// Whether `hostname` is a loopback address, reachable from this machine only.
func isLoopback(_ hostname: String) -> Bool {
    hostname == "localhost" || hostname == "::1" || hostname == "[::1]" || hostname.hasPrefix("127.")
}

import AccountLedger
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
/// is 401 with `WWW-Authenticate: Bearer`; a `read` key on anything but GET (or HEAD) is 403. The probes,
/// GET /ping and GET /ready, need no key: a load balancer's health check (haproxy's `option httpchk GET /ready`)
/// sends none, and they say nothing about the ledger. The key itself is never logged or echoed.
///
/// hummingbird-auth's authenticator middleware is built around a request context that carries an identity,
/// which nothing here needs, and its `bearer` parser takes the scheme in one case only, where RFC 9110 makes it
/// case-insensitive; so the header is read here.
struct AccessControlMiddleware<Context: RequestContext>: RouterMiddleware {
    let keys: AccessKeys

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        if AccessProbes.paths.contains(request.uri.path) { return try await next(request, context) }
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

/// The probes, and the console's page and assets (static; every request the console makes needs a key): the paths
/// served without a key, whatever the method (a method they do not have is 405 as ever).
enum AccessProbes {
    static let paths = Set(["/ping", "/ready"]).union(ConsoleAsset.paths)
}

/// SIGHUP, which a log rotation or an operator sends to a whole fleet: with access keys the keys file is read
/// again, so keys are rotated without a restart (a file that cannot be read leaves the keys in use and is
/// logged); without, it is ignored with a log line. Never the default action, which ends the process at once.
package struct HangUpHandler: Service {
    let keys: AccessKeys?
    let logger: Logger

    /// Ignores the signal's default action at once, while the application is built, not when the service group
    /// gets round to running this: a SIGHUP in between would end the process too.
    package init(keys: AccessKeys?, logger: Logger) {
        self.keys = keys
        self.logger = logger
        signal(SIGHUP, SIG_IGN)
    }

    package func run() async throws {
        let source = DispatchSource.makeSignalSource(signal: SIGHUP)
        source.setEventHandler { [keys, logger] in
            guard let keys else {
                logger.notice("SIGHUP ignored: the service has no access keys file to read again")
                return
            }
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

/// Whether `hostname` is a loopback address, reachable from this machine only: `localhost`, or a literal
/// address in 127.0.0.0/8 or ::1. A name is judged by what it is, never by how it starts (`127.evil.example`
/// is a name anyone can point anywhere), and no other name is resolved to judge it.
package func isLoopback(_ hostname: String) -> Bool {
    if hostname == "localhost" { return true }
    var literal = hostname
    if literal.hasPrefix("["), literal.hasSuffix("]") { literal = String(literal.dropFirst().dropLast()) }
    var ipv4 = in_addr()
    if inet_pton(AF_INET, literal, &ipv4) == 1 {
        return UInt32(bigEndian: ipv4.s_addr) >> 24 == 127
    }
    var ipv6 = in6_addr()
    if inet_pton(AF_INET6, literal, &ipv6) == 1 {
        let loopback = [UInt8](repeating: 0, count: 15) + [1]
        return withUnsafeBytes(of: &ipv6) { Array($0) } == loopback
    }
    return false
}

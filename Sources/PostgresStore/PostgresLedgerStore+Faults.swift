import AccountLedger
import Foundation
import Logging
import PostgresNIO

/// Which errors mean the database is unavailable (503, retry) rather than that a request failed, and the
/// bound on how long an operation may wait for it.
extension PostgresLedgerStore {
    /// Runs `operation` within ``operationTimeout`` (``within(_:_:)``).
    func available<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await Self.within(operationTimeout, operation)
    }

    /// Runs `operation`, turning a database that cannot be reached, or that does not answer within `timeout`,
    /// into ``StoreUnavailableError``. The answer comes at the timeout even if the operation goes on: a query already
    /// sent cannot be cancelled from here, and a task group would wait for it. (The pool keeps trying to connect,
    /// so the next operation finds the database as soon as it is back.)
    package static func within<T: Sendable>(
        _ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        do {
            return try await Deadline.within(
                timeout, else: StoreUnavailableError(reason: "PostgreSQL did not answer within \(timeout)"), operation)
        } catch let error as StoreUnavailableError {
            throw error
        } catch let error where isUnavailable(error) {
            throw StoreUnavailableError(reason: reason(for: error))
        }
    }

    /// What went wrong, in a line for an operator: the server's SQLSTATE and message, or the client's error code
    /// and the error under it (a refused connection, say). PSQLError's own description hides all of it, so that
    /// a query's values cannot leak into a log; neither does this.
    static func reason(for error: any Error) -> String {
        switch error {
        case let error as StoreUnavailableError:
            return error.reason
        case let error as PSQLError:
            if let server = error.serverInfo {
                return "PostgreSQL: \(server[.sqlState] ?? "?") \(server[.message] ?? "")"
            }
            return "\(error.code)" + (error.underlying.map { ": \($0)" } ?? "")
        default:
            return String(describing: error)
        }
    }

    /// The errors of a database that is down, restarting, unreachable or shedding load, rather than of a request:
    /// everything but what the server refused for a reason of its own, a row that does not decode, and a commit
    /// that found the database changed under it.
    static func isUnavailable(_ error: any Error) -> Bool {
        switch error {
        case is StoreUnavailableError:
            return true
        case let error as PSQLError where error.code == .server:
            // Class 08: connection exception; 57P01-03: the server is shutting down or starting;
            // class 53: insufficient resources (too many connections, disk full).
            let state = sqlState(of: error) ?? ""
            return state.hasPrefix("08") || state.hasPrefix("57P") || state.hasPrefix("53")
        case let error as PSQLError:
            return ![
                .tooManyParameters, .invalidCommandTag, .unexpectedBackendMessage, .messageDecodingFailure,
                .unsupportedAuthMechanism, .authMechanismRequiresPassword, .saslError,
            ].contains(error.code)
        case is PostgresDecodingError, is ConcurrentModificationError, is LedgerError:
            // A row that does not decode, a commit that found the database changed, a refusal of the rules.
            return false
        default:
            // The pool's own errors (its circuit breaker when the server stays unreachable), a cancelled request
            // and the channel's errors.
            return true
        }
    }

    /// The SQLSTATE of an error the server raised, if it is one.
    static func sqlState(of error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }
}

import AccountLedger
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1

/// Turns every error a route throws into an RFC 9457 problem response: the one place where errors meet
/// status codes. An error it does not know is a fault of the service: logged, and answered 500 without details.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return try problem(for: error, context: context).response(from: request, context: context)
        }
    }

    private func problem(for error: any Error, context: Context) -> Problem {
        switch error {
        case let problem as Problem:
            return problem
        case let error as LedgerError:
            return Problem(error)
        case let error as StoreUnavailableError where error.isDiskFull:
            context.logger.warning("Database unavailable", metadata: ["error": "\(error.reason)"])
            return Problem.unavailable(
                "The database's disk is full: writes are refused until space is freed; retry later "
                    + "(with the same Transaction-Id).", retryAfterSeconds: 5)
        case let error as StoreUnavailableError:
            context.logger.warning("Database unavailable", metadata: ["error": "\(error.reason)"])
            return Problem(
                status: .serviceUnavailable,
                detail: "The database does not answer; retry the request (with the same Transaction-Id for a write).")
        case let error as HTTPParserError:
            // The client's side of the exchange: a body cut short (the client went away, or the body timeout
            // closed the connection) or malformed; the answer most likely reaches no one.
            context.logger.info("Request could not be read", metadata: ["error": "\(error)"])
            return Problem(status: .badRequest, detail: "The request could not be read whole: \(error).")
        case let error as HTTPError where error.status == .notFound:
            return Problem(status: .notFound, detail: "There is no resource at this path.")
        case let error as any HTTPResponseError where error.status.kind == .clientError:
            return Problem(status: error.status, detail: error.status.reasonPhrase)
        default:
            context.logger.error("Request failed", metadata: ["error": "\(String(reflecting: error))"])
            return Problem(
                status: .internalServerError, detail: "The service failed to handle the request; it has been logged.")
        }
    }
}

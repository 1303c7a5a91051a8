import AccountLedger
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

/// Hummingbird's HTTP/1 channel, with what its request type cannot carry: the HTTP version (a connection that
/// the request does not keep alive is closed after its response, and a client that asks `Expect: 100-continue`
/// is told to go on at once rather than after its own timeout), whether the client has gone
/// (``ClientConnection``), and a bound on the time a request takes to arrive (``HTTP1RequestHeadHandler``).
struct HTTP1ConnectionChannel: ServerChildChannel {
    struct Value: ServerChildChannelValue {
        let http1: HTTP1Channel.Value
        let connection: ClientConnection
        var channel: any Channel { http1.channel }
    }

    let http1: HTTP1Channel
    /// The longest a request may take to arrive whole, from its head to its end.
    let bodyTimeout: Duration

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        http1.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let operations = channel.pipeline.syncOperations
            let decoder = try operations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            let handler = HTTP1RequestHeadHandler(
                gone: channel.eventLoop.makePromise(), bodyTimeout: .nanoseconds(bodyTimeout.nanoseconds))
            try operations.addHandler(handler, position: .after(decoder))
            return Value(http1: value, connection: ClientConnection(gone: handler.gone.futureResult))
        }
    }

    func handle(value: Value, logger: Logger) async {
        await ClientConnection.$current.withValue(value.connection) {
            await http1.handle(value: value.http1, logger: logger)
        }
    }
}

/// The connection of the request being handled, for a handler that holds its request for long (the change
/// feed's `wait`) and must stop when the client goes away, rather than keep a descriptor and a waiter for it.
struct ClientConnection: Sendable {
    /// Completes when the client has closed its side of the connection, or the connection is closed.
    let gone: EventLoopFuture<Void>

    /// Set for each connection's requests by ``HTTP1ConnectionChannel``; nil elsewhere (the router tests).
    @TaskLocal static var current: ClientConnection?

    /// `body`'s result; `body` is cancelled once the client of the current connection has gone, so that a held
    /// wait ends at once (its answer is then written to nobody).
    ///
    /// `body` runs in a task of its own that the connection's closing cancels: waiting on `gone` beside it in a
    /// task group would not do, since a future's `get()` ignores cancellation, so the group (and with it every
    /// response on a keep-alive connection) would wait for the connection to close.
    static func cancellingWhenGone<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        guard let gone = current?.gone else { return try await body() }
        let task = Task { try await body() }
        gone.whenComplete { _ in task.cancel() }
        return try await withTaskCancellationHandler {
            try await task.value
        } onCancel: {
            task.cancel()
        }
    }
}

extension HTTPServerBuilder {
    /// ``HTTP1ConnectionChannel`` with `configuration`, and `bodyTimeout` for a request to arrive whole.
    package static func http1Connections(
        configuration: HTTP1Channel.Configuration, bodyTimeout: Duration
    ) -> HTTPServerBuilder {
        .init { responder in
            HTTP1ConnectionChannel(
                http1: HTTP1Channel(responder: responder, configuration: configuration), bodyTimeout: bodyTimeout)
        }
    }
}

/// Reads each request head before it loses its version:
/// - an HTTP/1.0 request without `Connection: keep-alive` (or any request with `Connection: close`, in any case)
///   gets `Connection: close`, the one spelling on which Hummingbird closes the connection after the response,
///   instead of holding the connection open until the idle timeout;
/// - `Expect: 100-continue` on HTTP/1.1 is answered with `100 Continue`, so that curl and other clients send the
///   body at once instead of waiting a second for an answer that never came.
///
/// It closes the connection when a request has not arrived whole (its end) within `bodyTimeout` of its head: the
/// idle timeout, which every byte resets, does not cut a body trickled a byte a second. The timer is set only
/// when a read ends with a request still incomplete, so a request that arrives in one read (every GET, most
/// POSTs) costs none, and it runs on the connection's event loop.
///
/// It also completes `gone` when the client closes its side of the connection (the server allows half-closed
/// connections, so the channel itself stays open until a write fails) or the connection closes.
final class HTTP1RequestHeadHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let gone: EventLoopPromise<Void>
    let bodyTimeout: TimeAmount
    /// When the request being read began (its head arrived); nil between requests.
    private var requestStarted: NIODeadline?
    /// Closes the connection at `requestStarted + bodyTimeout`, once a read ended with the request incomplete.
    private var bodyDeadline: Scheduled<Void>?

    init(gone: EventLoopPromise<Void>, bodyTimeout: TimeAmount) {
        self.gone = gone
        self.bodyTimeout = bodyTimeout
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { gone.succeed() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        gone.succeed()
        stopBodyDeadline()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        gone.succeed()
        stopBodyDeadline()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            requestStarted = .now()
            let closes = !head.isKeepAlive
            let proceeds =
                head.version.major == 1 && head.version.minor >= 1 && head.headers.contains(name: "expect")
                && head.headers["expect"].contains(where: { $0.lowercased() == "100-continue" })
            // Most requests pass as they came, not unwrapped and wrapped again.
            guard closes || proceeds else { return context.fireChannelRead(data) }
            var changed = head
            if closes {
                changed.headers.replaceOrAdd(name: "connection", value: "close")
            }
            if proceeds {
                changed.headers.remove(name: "expect")
                let proceed = HTTPResponseHead(version: head.version, status: .continue)
                context.writeAndFlush(wrapOutboundOut(.head(proceed)), promise: nil)
            }
            context.fireChannelRead(wrapInboundOut(.head(changed)))
        case .end:
            requestStarted = nil
            stopBodyDeadline()
            context.fireChannelRead(data)
        case .body:
            context.fireChannelRead(data)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let requestStarted, bodyDeadline == nil {
            let loop = context.eventLoop.assumeIsolated()
            bodyDeadline = loop.scheduleTask(deadline: requestStarted + bodyTimeout) {
                context.close(promise: nil)
            }
        }
        context.fireChannelReadComplete()
    }

    private func stopBodyDeadline() {
        bodyDeadline?.cancel()
        bodyDeadline = nil
    }
}

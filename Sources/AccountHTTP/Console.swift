import HTTPTypes
import Hummingbird
import NIOCore

/// The operator's console (GET /console): a page, a style sheet and a script, embedded in the binary at build
/// time, that read and write only through the public API (docs/console.md). They are static and need no key; every
/// request the console makes does.
struct ConsoleAsset: ResponseGenerator {
    let body: ByteBuffer
    let contentType: String

    static let page = ConsoleAsset(bytes: PackageResources.console_html, contentType: "text/html; charset=utf-8")
    static let style = ConsoleAsset(bytes: PackageResources.console_css, contentType: "text/css; charset=utf-8")
    static let script = ConsoleAsset(
        bytes: PackageResources.console_js, contentType: "text/javascript; charset=utf-8")

    /// Where each is served.
    static let routes: [(path: String, asset: ConsoleAsset)] = [
        ("/console", page), ("/console/console.css", style), ("/console/console.js", script),
    ]
    static let paths = Set(routes.map(\.path))

    /// Only the console's own script and style, requests only to this service, no frames, no plugins, no inline
    /// script or style: metadata a client wrote can never run as script on the page, even if it reached the markup.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    init(bytes: [UInt8], contentType: String) {
        body = ByteBuffer(bytes: bytes)
        self.contentType = contentType
    }

    func response(from request: Request, context: some RequestContext) -> Response {
        var headers: HTTPFields = [
            .contentType: contentType, .contentLength: String(body.readableBytes),
            .contentSecurityPolicy: Self.contentSecurityPolicy, .cacheControl: "no-cache",
            .xContentTypeOptions: "nosniff", .referrerPolicy: "no-referrer",
        ]
        headers[.xFrameOptions] = "DENY"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }
}

extension HTTPField.Name {
    static let referrerPolicy = Self("Referrer-Policy")!
    static let xFrameOptions = Self("X-Frame-Options")!
}

import AccountLedger
import HTTPTypes
import Hummingbird
import NIOCore

/// GET /openapi.yaml: the service's OpenAPI document (openapi.yaml, embedded at build time).
struct OpenAPIDocument: ResponseGenerator {
    static let body = ByteBuffer(bytes: PackageResources.openapi_yaml)

    func response(from request: Request, context: some RequestContext) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "application/yaml", .contentLength: String(Self.body.readableBytes)],
            body: .init(byteBuffer: Self.body))
    }
}

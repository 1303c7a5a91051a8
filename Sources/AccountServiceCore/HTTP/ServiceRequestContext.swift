import Foundation
import Hummingbird

/// The request context of every route: Hummingbird's basic context, with one JSON encoder shared by success
/// and problem bodies.
public struct ServiceRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage

    public init(source: Source) {
        coreContext = .init(source: source)
    }

    /// One encoder for every request (its options never change, and encoding does not mutate it). Keys are
    /// sorted, so that a body is the same bytes every time (Foundation's order is otherwise unspecified), and
    /// slashes are written as they are, so that paths in problem details read `/amount`, not `\/amount`.
    public var responseEncoder: JSONEncoder { Self.encoder }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}

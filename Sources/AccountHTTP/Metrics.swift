import AccountLedger
import CoreMetrics
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Prometheus
import Synchronization

/// The service's metrics, in one Prometheus registry per application: the HTTP middleware's, the ledger's and the
/// store's (through swift-metrics, with ``factory``), and the process's gauges, read when GET /metrics is scraped.
/// Names and units follow Prometheus conventions (`_total` counters, `_seconds` and `_bytes` units).
public struct ServiceMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    /// The swift-metrics factory that records into ``registry``, with buckets sized for this service.
    public let factory: PrometheusMetricsFactory

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Requests take tenths of a millisecond to milliseconds; commits milliseconds to tens of them.
        let durations: [Duration] = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .seconds(1), .seconds(5),
        ]
        factory.durationHistogramBuckets = [
            "http_request_duration_seconds": durations, "ledger_commit_duration_seconds": durations,
        ]
        factory.valueHistogramBuckets = [
            "ledger_postings_per_commit": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 10000]
        ]
        self.factory = factory
    }

    /// The Prometheus text, after reading the process's gauges.
    func scrape() -> [UInt8] {
        registry.makeGauge(
            descriptor: .init(
                metricName: "process_resident_memory", unitName: "bytes", helpText: "Resident memory of the process.")
        )
        .set(Double(Self.residentBytes() ?? 0))
        registry.makeGauge(
            descriptor: .init(
                metricName: "process_open", unitName: "fds", helpText: "Open file descriptors of the process.")
        )
        .set(Double(Self.openDescriptors() ?? 0))
        return registry.emitToBuffer()
    }

    /// From /proc/self/statm: resident pages × page size.
    static func residentBytes() -> Int? {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = statm.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    static func openDescriptors() -> Int? {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")).map(\.count)
    }
}

/// Counts every request by route (the path's pattern), method and status (`http_requests_total`), and its
/// duration by route and method (`http_request_duration_seconds`). The metric objects are made once per
/// label set and kept, so a request costs a dictionary lookup and two updates.
final class HTTPMetrics: Sendable {
    struct Key: Hashable {
        let route: String
        let method: HTTPRequest.Method
        let status: Int
    }

    struct RouteMetrics: Sendable {
        let counter: CoreMetrics.Counter
        let timer: CoreMetrics.Timer
    }

    let factory: PrometheusMetricsFactory
    let metrics = Mutex<[Key: RouteMetrics]>([:])

    init(factory: PrometheusMetricsFactory) { self.factory = factory }

    func record(route: String, method: HTTPRequest.Method, status: Int, duration: Duration) {
        let key = Key(route: route, method: method, status: status)
        let made = metrics.withLock { metrics in
            if let known = metrics[key] { return known }
            let made = RouteMetrics(
                counter: CoreMetrics.Counter(
                    label: "http_requests_total",
                    dimensions: [("route", route), ("method", method.rawValue), ("status", String(status))],
                    factory: factory),
                timer: CoreMetrics.Timer(
                    label: "http_request_duration_seconds",
                    dimensions: [("route", route), ("method", method.rawValue)],
                    factory: factory))
            metrics[key] = made
            return made
        }
        made.counter.increment()
        made.timer.recordNanoseconds(duration.nanoseconds)
    }
}

/// GET /metrics: the Prometheus text format.
struct MetricsResponse: ResponseGenerator {
    let text: [UInt8]

    func response(from request: Request, context: some RequestContext) -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: text)))
    }
}

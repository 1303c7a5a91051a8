import AccountLedger
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How log lines are written: `text` (`2026-11-25T14:03:25.679Z info account-service: request key=value …`) or
/// `json`, one JSON object a line for log shippers.
public enum LogFormat: String, Sendable, CaseIterable {
    case text, json
}

/// Writes each log entry as one line, in either format: time (RFC 3339, UTC, milliseconds), level, label,
/// message, then the metadata's members in name order. A JSON line's members never repeat a name (metadata
/// named `time`, `level`, `label` or `message` is left out). Lines go to ``LogOutput``.
public struct LogLineHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let format: LogFormat
    let output: @Sendable (ByteBuffer, Logger.Level) -> Void

    /// - Parameter output: where each line goes, with its level; standard output through ``LogOutput`` by default.
    public init(
        label: String, format: LogFormat,
        output: @escaping @Sendable (ByteBuffer, Logger.Level) -> Void = LogOutput.standardOutput.write
    ) {
        self.label = label
        self.format = format
        self.output = output
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let given = event.metadata { merged.merge(given) { $1 } }
        let names = merged.keys.sorted()
        var json = JSONWriter(capacity: 256)
        switch format {
        case .json:
            json.object { json in
                json.key("time")
                json.value(Timestamp.now())
                json.key("level")
                json.value(event.level.rawValue)
                json.key("label")
                json.value(label)
                json.key("message")
                json.value(event.message.description)
                for name in names where name != "time" && name != "level" && name != "label" && name != "message" {
                    json.key(name)
                    Self.write(merged[name]!, to: &json)
                }
            }
        case .text:
            json.raw(reserving: 32) { $0.put(Timestamp.now()) }
            json.rawText(" \(event.level.rawValue) \(label): \(event.message)")
            for name in names { json.rawText(" \(name)=\(merged[name]!)") }
        }
        var line = json.buffer
        line.writeInteger(UInt8(ascii: "\n"))
        output(line, event.level)
    }

    private static func write(_ value: Logger.Metadata.Value, to json: inout JSONWriter) {
        switch value {
        case .string(let text): json.value(text)
        case .stringConvertible(let convertible): json.value(convertible.description)
        case .array(let values): json.array(values) { json, value in write(value, to: &json) }
        case .dictionary(let members):
            json.object { json in
                for (key, value) in members.sorted(by: { $0.key < $1.key }) {
                    json.key(key)
                    write(value, to: &json)
                }
            }
        }
    }
}

/// Standard output for log lines, buffered: a `write(2)` per line was a large share of GET /ping's cost with a
/// line per request (docs/performance.md). Lines collect in a buffer written out when it
/// passes 64 KiB, at once for a warning or worse, and by ``LogFlusher`` every 100 ms; so at most the last
/// 100 ms of info lines can be lost if the process is killed, never a problem's line. Lines are whole and in
/// order: they are appended, and written, under one lock.
public final class LogOutput: Sendable {
    public static let standardOutput = LogOutput(descriptor: 1)

    static let flushSize = 64 * 1024
    let descriptor: Int32
    private let pending = Mutex(ByteBuffer())

    init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    @Sendable public func write(_ line: ByteBuffer, level: Logger.Level) {
        pending.withLock { pending in
            pending.writeImmutableBuffer(line)
            if level >= .warning || pending.readableBytes >= Self.flushSize { drain(&pending) }
        }
    }

    public func flush() {
        pending.withLock { drain(&$0) }
    }

    private func drain(_ pending: inout ByteBuffer) {
        pending.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                guard written > 0 else { break }
                offset += written
            }
        }
        pending.clear()
    }
}

/// Writes buffered log lines out every 100 ms, and once more when the service stops.
public struct LogFlusher: Service {
    let output: LogOutput

    public init(output: LogOutput = .standardOutput) {
        self.output = output
    }

    public func run() async {
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: .milliseconds(100))
            output.flush()
        }
        output.flush()
    }
}

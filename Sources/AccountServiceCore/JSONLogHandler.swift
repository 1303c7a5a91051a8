import Logging
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// How log lines are written: `text`, swift-log's own lines, or `json`, one JSON object a line for log
/// shippers.
public enum LogFormat: String, Sendable, CaseIterable {
    case text, json
}

/// Writes each log entry as one JSON object on one line: `time` (RFC 3339, UTC, milliseconds), `level`,
/// `label`, `message`, then the metadata's members (a member named like one of those four is left out, so a
/// line never has a name twice). Written by the service's one ``JSONWriter``, with one `write(2)` a line, so
/// lines from concurrent requests never interleave.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let write: @Sendable (ByteBuffer) -> Void

    public init(label: String, write: @escaping @Sendable (ByteBuffer) -> Void = JSONLogHandler.standardOutput) {
        self.label = label
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let given = event.metadata { merged.merge(given) { $1 } }
        var json = JSONWriter(capacity: 256)
        json.object { json in
            json.key("time")
            json.value(Timestamp.now())
            json.key("level")
            json.value(event.level.rawValue)
            json.key("label")
            json.value(label)
            json.key("message")
            json.value(event.message.description)
            for (key, value) in merged.sorted(by: { $0.key < $1.key })
            where !["time", "level", "label", "message"].contains(key) {
                json.key(key)
                Self.write(value, to: &json)
            }
        }
        var line = json.buffer
        line.writeInteger(UInt8(ascii: "\n"))
        write(line)
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

    /// One `write(2)` to standard output.
    @Sendable public static func standardOutput(_ line: ByteBuffer) {
        line.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(1, bytes.baseAddress! + offset, bytes.count - offset)
                guard written > 0 else { return }
                offset += written
            }
        }
    }
}

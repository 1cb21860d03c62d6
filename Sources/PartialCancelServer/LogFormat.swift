import Foundation
import Logging

/// The server's log lines: one per event, as text (`TIME LEVEL label: message key=value …`) or as
/// one JSON object (`{"ts", "level", "logger", "message", …metadata}`), written whole.
///
/// Secrets never belong in a log line, and no code path puts a token, an API key or payment detail
/// there; as a second line of defence, metadata whose key names a secret (`token`, `api_key`,
/// `password`, `secret`, `card`, `authorization`) is written as `[redacted]`.
public struct PCancelLogHandler: LogHandler {
    public enum Format: String, Sendable, CaseIterable {
        case text
        case json
    }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let format: Format
    private let write: @Sendable (String) -> Void

    /// - Parameter write: receives each line, newline included (standard error by default).
    public init(label: String, format: Format, level: Logger.Level,
                write: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }) {
        self.label = label
        self.format = format
        self.logLevel = level
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { _, new in new } }
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        let time = Self.timestamp()
        switch format {
        case .text:
            let rendered = fields.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.value($0.key, $0.value))" }.joined(separator: " ")
            write("\(time) \(event.level) \(label): \(event.message)\(rendered.isEmpty ? "" : " " + rendered)\n")
        case .json:
            var object: [String: Any] = ["ts": time, "level": event.level.rawValue, "logger": label, "message": event.message.description]
            for (key, value) in fields where object[key] == nil { object[key] = Self.value(key, value) }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
            write(String(decoding: data, as: UTF8.self) + "\n")
        }
    }

    private static let secretWords = ["token", "api_key", "apikey", "password", "secret", "card", "authorization"]

    static func value(_ key: String, _ value: Logger.Metadata.Value) -> String {
        let lowered = key.lowercased()
        if secretWords.contains(where: { lowered.contains($0) }) { return "[redacted]" }
        return "\(value)"
    }

    private static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                      Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(now.tv_nsec / 1_000_000))
    }
}

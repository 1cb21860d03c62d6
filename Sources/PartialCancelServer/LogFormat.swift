import Foundation
import Logging

/// The server's log lines: one per event, as text (`TIME LEVEL label: message key=value …`) or as
/// one JSON object (`{"ts", "level", "logger", "message", …metadata}`), written whole.
///
/// Secrets never belong in a log line, and no code path puts a token, an API key or payment detail
/// there; as a second line of defence, metadata whose key names a secret (`token`, `api_key`,
/// `password`, `secret`, `card`, `authorization`) is written as `[redacted]`.
///
/// Many values come from clients (the Hello's client name, method names, ids, error texts), so
/// every one is escaped here, in the one place lines are made, and no call site can forget: in text
/// lines, control characters (C0 including newline, carriage return and tab, DEL, C1) and the
/// Unicode line and paragraph separators and bidirectional controls become `\n`, `\r`, `\t` or
/// `\u{XX}`, so one event is always one line; a metadata value is written in double quotes (with
/// `\"` and `\\` inside) when it is empty or holds a space, `=`, `"`, `\` or anything escaped, so a
/// value cannot pose as another `key=value`. The message, label and keys are escaped the same way
/// (`\` as `\\`), without quotes. JSON lines escape what JSON requires, and DEL, C1 and the same separators and controls too.
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
    public init(
        label: String,
        format: Format,
        level: Logger.Level,
        write: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }
    ) {
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
            let rendered = fields.sorted { $0.key < $1.key }
                .map { "\(LogEscaping.bare($0.key))=\(LogEscaping.quotedIfNeeded(Self.value($0.key, $0.value)))" }
                .joined(separator: " ")
            write(
                "\(time) \(event.level) \(LogEscaping.bare(label)): \(LogEscaping.bare(event.message.description))\(rendered.isEmpty ? "" : " " + rendered)\n"
            )
        case .json:
            var object: [String: Any] = [
                "ts": time, "level": event.level.rawValue, "logger": label, "message": event.message.description,
            ]
            for (key, value) in fields where object[key] == nil { object[key] = Self.value(key, value) }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
            write(LogEscaping.json(String(decoding: data, as: UTF8.self)) + "\n")
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
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
            Int(parts.tm_year) + 1900,
            Int(parts.tm_mon) + 1,
            Int(parts.tm_mday),
            Int(parts.tm_hour),
            Int(parts.tm_min),
            Int(parts.tm_sec),
            Int(now.tv_nsec / 1_000_000)
        )
    }
}

/// Escaping for log lines: what a client sent can neither break a line nor pose as another field.
enum LogEscaping {
    /// Characters written escaped: C0 controls (newline, carriage return, tab included), DEL, C1
    /// controls, the line and paragraph separators (U+2028, U+2029) and the bidirectional controls
    /// (U+200E, U+200F, U+202A…U+202E, U+2066…U+2069), which terminals and viewers act on.
    static func mustEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F, 0x2028, 0x2029, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    private static func append(_ scalar: Unicode.Scalar, to out: inout String) {
        switch scalar {
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default: out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
        }
    }

    /// `text` with every character of `mustEscape` escaped, and `\` as `\\` (so that an escape
    /// cannot be told from the same characters sent literally); nothing else changed.
    static func bare(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0 == "\\" || mustEscape($0) }) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            if scalar == "\\" {
                out += "\\\\"
            } else if mustEscape(scalar) {
                append(scalar, to: &out)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// A metadata value for a text line: as it is when it is a plain token; otherwise in double
    /// quotes, with `\` and `"` escaped as well as the characters of `mustEscape`.
    static func quotedIfNeeded(_ text: String) -> String {
        let plain =
            !text.isEmpty
            && !text.unicodeScalars.contains { scalar in
                scalar == " " || scalar == "=" || scalar == "\"" || scalar == "\\" || mustEscape(scalar)
            }
        if plain { return text }
        var out = "\""
        out.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default:
                if mustEscape(scalar) { append(scalar, to: &out) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }

    /// A serialised JSON object with DEL, C1 controls, separators and bidirectional controls also
    /// written as `\uXXXX` (JSON needs only C0 escaped; the rest may appear raw inside strings, and
    /// only inside strings, since the structure is ASCII).
    static func json(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value >= 0x7F && mustEscape($0) }) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            if scalar.value >= 0x7F && mustEscape(scalar) {
                let hex = String(scalar.value, radix: 16, uppercase: false)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

/// A status code, numerically gRPC's. A struct rather than an enum so that a code this version does
/// not know survives a round trip unchanged.
public struct StatusCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let ok = StatusCode(rawValue: 0)
    public static let cancelled = StatusCode(rawValue: 1)
    public static let unknown = StatusCode(rawValue: 2)
    public static let invalidArgument = StatusCode(rawValue: 3)
    public static let deadlineExceeded = StatusCode(rawValue: 4)
    public static let notFound = StatusCode(rawValue: 5)
    public static let alreadyExists = StatusCode(rawValue: 6)
    public static let permissionDenied = StatusCode(rawValue: 7)
    public static let resourceExhausted = StatusCode(rawValue: 8)
    public static let failedPrecondition = StatusCode(rawValue: 9)
    public static let aborted = StatusCode(rawValue: 10)
    public static let outOfRange = StatusCode(rawValue: 11)
    public static let unimplemented = StatusCode(rawValue: 12)
    public static let internalError = StatusCode(rawValue: 13)
    public static let unavailable = StatusCode(rawValue: 14)
    public static let dataLoss = StatusCode(rawValue: 15)
    public static let unauthenticated = StatusCode(rawValue: 16)

    private static let names: [UInt32: String] = [
        0: "OK", 1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED",
        5: "NOT_FOUND", 6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED",
        9: "FAILED_PRECONDITION", 10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED",
        13: "INTERNAL", 14: "UNAVAILABLE", 15: "DATA_LOSS", 16: "UNAUTHENTICATED",
    ]

    /// The canonical upper-case name, e.g. `RESOURCE_EXHAUSTED`; `CODE_<n>` for unknown codes.
    public var name: String { Self.names[rawValue] ?? "CODE_\(rawValue)" }
    public var description: String { name }
}

/// A machine-readable reason attached to a status: what went wrong, about what, and which rule or
/// limit decided it.
public struct Reason: Hashable, Sendable {
    /// Upper-case code, e.g. `FRAME_TOO_LARGE`, `LINE_NOT_FOUND`.
    public var code: String
    /// What the reason is about: a field path, a line id, a limit name. May be empty.
    public var subject: String
    /// Further detail, e.g. the rule that fired or the limit's value. May be empty.
    public var detail: String

    /// A reason with a code as it came off the wire; code that makes one uses `ReasonCode`.
    public init(rawCode code: String, subject: String = "", detail: String = "") {
        self.code = code
        self.subject = subject
        self.detail = detail
    }
}

/// The outcome of a call or the reason for a connection-level refusal.
public struct Status: Hashable, Sendable, CustomStringConvertible {
    public var code: StatusCode
    public var message: String
    public var reasons: [Reason]

    public init(_ code: StatusCode, _ message: String = "", reasons: [Reason] = []) {
        self.code = code
        self.message = message
        self.reasons = reasons
    }

    public static let ok = Status(.ok)
    public var isOK: Bool { code == .ok }

    public var description: String {
        var text = code.name
        if !message.isEmpty { text += ": \(message)" }
        for reason in reasons {
            text += " [\(reason.code)"
            if !reason.subject.isEmpty { text += " \(reason.subject)" }
            if !reason.detail.isEmpty { text += " (\(reason.detail))" }
            text += "]"
        }
        return text
    }
}

import PartialCancelWire

/// An error a handler throws to end a call with a specific status. The message is shown to the
/// caller, so it must never contain tokens, keys or payment details.
public struct RPCError: Error, Hashable, Sendable, CustomStringConvertible {
    public var code: StatusCode
    public var message: String
    public var reasons: [Reason]

    public init(_ code: StatusCode, _ message: String, reasons: [Reason] = []) {
        self.code = code
        self.message = message
        self.reasons = reasons
    }

    public init(_ code: StatusCode, _ message: String, reason: ReasonCode, subject: String = "", detail: String = "") {
        self.init(code, message, reasons: [Reason(reason, subject: subject, detail: detail)])
    }

    public var status: Status { Status(code, message, reasons: reasons) }
    public var description: String { status.description }
}

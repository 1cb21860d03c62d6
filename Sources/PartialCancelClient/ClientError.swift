import PartialCancelWire

/// A call or connection that did not succeed, as a status: the server's own status for a refused
/// call, or a client-side one (UNAVAILABLE for connection trouble, DEADLINE_EXCEEDED for a local
/// timeout, INTERNAL for a reply that cannot be decoded).
public struct ClientError: Error, Hashable, Sendable, CustomStringConvertible {
    public var status: Status

    public init(_ status: Status) { self.status = status }
    public init(_ code: StatusCode, _ message: String, reason: ReasonCode) {
        self.status = Status(code, message, reasons: [Reason(reason)])
    }

    public var code: StatusCode { status.code }
    public var description: String { status.description }
}

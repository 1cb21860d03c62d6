/// Method names as they travel in `Call.method`.
public enum Methods {
    public static let service = "pcancel.v1.PartialCancellation"
    public static let ping = "\(service)/Ping"
    public static let health = "\(service)/Health"
}

/// The protocol version this module speaks.
public let protocolVersion: UInt32 = 1

import CPartialCancelProto
import NIOCore

/// Request of `Ping`: echoes the payload, optionally after a delay (diagnostics).
public struct PingRequest: Sendable, Hashable {
    public var payload: ByteBuffer
    public var delayMs: UInt32

    public init(payload: ByteBuffer = ByteBuffer(), delayMs: UInt32 = 0) {
        self.payload = payload
        self.delayMs = delayMs
    }
}

public struct PingResponse: Sendable, Hashable {
    public var payload: ByteBuffer
    public var serverTimeUnixMs: UInt64

    public init(payload: ByteBuffer, serverTimeUnixMs: UInt64) {
        self.payload = payload
        self.serverTimeUnixMs = serverTimeUnixMs
    }
}

public struct HealthRequest: Sendable, Hashable {
    public init() {}
}

public enum ServingStatus: UInt32, Sendable, Hashable {
    case unknown = 0
    case serving = 1
    case draining = 2
    case notServing = 3

    public var name: String {
        switch self {
        case .unknown: "UNKNOWN"
        case .serving: "SERVING"
        case .draining: "DRAINING"
        case .notServing: "NOT_SERVING"
        }
    }
}

public struct HealthResponse: Sendable, Hashable {
    public var status: ServingStatus
    public var serverVersion: String
    public var uptimeMs: UInt64
    public var connections: UInt32
    public var protocolVersion: UInt32
    public var shards: [ShardHealthView]
    /// Readiness: every shard open and migrated, outbox lag under its bound, not draining.
    public var ready: Bool
    /// Why not ready, one line per cause.
    public var notReady: [String]

    public init(status: ServingStatus, serverVersion: String, uptimeMs: UInt64, connections: UInt32,
                protocolVersion: UInt32 = PartialCancelWire.protocolVersion, shards: [ShardHealthView] = [],
                ready: Bool = false, notReady: [String] = []) {
        self.ready = ready
        self.notReady = notReady
        self.status = status
        self.serverVersion = serverVersion
        self.uptimeMs = uptimeMs
        self.connections = connections
        self.protocolVersion = protocolVersion
        self.shards = shards
    }
}

extension PingRequest: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__ping_request__init, Pcancel__V1__PingRequest()) }

    public func cMessage(in arena: Arena) -> Pcancel__V1__PingRequest {
        var c = Pcancel__V1__PingRequest()
        pcancel__v1__ping_request__init(&c)
        c.payload = arena.binary(payload)
        c.delay_ms = delayMs
        return c
    }

    public init(cMessage c: UnsafePointer<Pcancel__V1__PingRequest>, reader: FieldReader) throws(WireDecodeError) {
        self.init(payload: try reader.bytes(c.pointee.payload, "payload"), delayMs: c.pointee.delay_ms)
    }
}

extension PingResponse: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__ping_response__init, Pcancel__V1__PingResponse()) }

    public func cMessage(in arena: Arena) -> Pcancel__V1__PingResponse {
        var c = Pcancel__V1__PingResponse()
        pcancel__v1__ping_response__init(&c)
        c.payload = arena.binary(payload)
        c.server_time_unix_ms = serverTimeUnixMs
        return c
    }

    public init(cMessage c: UnsafePointer<Pcancel__V1__PingResponse>, reader: FieldReader) throws(WireDecodeError) {
        self.init(payload: try reader.bytes(c.pointee.payload, "payload"), serverTimeUnixMs: c.pointee.server_time_unix_ms)
    }
}

extension HealthRequest: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__health_request__init, Pcancel__V1__HealthRequest()) }

    public func cMessage(in arena: Arena) -> Pcancel__V1__HealthRequest {
        var c = Pcancel__V1__HealthRequest()
        pcancel__v1__health_request__init(&c)
        return c
    }

    public init(cMessage c: UnsafePointer<Pcancel__V1__HealthRequest>, reader: FieldReader) throws(WireDecodeError) {
        self.init()
    }
}

extension HealthResponse: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__health_response__init, Pcancel__V1__HealthResponse()) }

    public func cMessage(in arena: Arena) -> Pcancel__V1__HealthResponse {
        var c = Pcancel__V1__HealthResponse()
        pcancel__v1__health_response__init(&c)
        c.status = Pcancel__V1__ServingStatus(rawValue: status.rawValue)
        c.server_version = arena.cString(serverVersion)
        c.uptime_ms = uptimeMs
        c.connections = connections
        c.protocol_version = protocolVersion
        c.n_shards = shards.count
        c.shards = arena.messages(shards)
        c.ready = cBool(ready)
        c.n_not_ready = notReady.count
        c.not_ready = arena.cStrings(notReady)
        return c
    }

    public init(cMessage c: UnsafePointer<Pcancel__V1__HealthResponse>, reader: FieldReader) throws(WireDecodeError) {
        self.init(status: ServingStatus(rawValue: c.pointee.status.rawValue) ?? .unknown,
                  serverVersion: try reader.string(c.pointee.server_version, "server_version"),
                  uptimeMs: c.pointee.uptime_ms,
                  connections: c.pointee.connections,
                  protocolVersion: c.pointee.protocol_version,
                  shards: try reader.messages(c.pointee.n_shards, c.pointee.shards, "shards", as: ShardHealthView.self),
                  ready: c.pointee.ready != 0, notReady: try reader.strings(c.pointee.n_not_ready, c.pointee.not_ready, "not_ready"))
    }
}

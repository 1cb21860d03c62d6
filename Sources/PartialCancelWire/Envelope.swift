import CPartialCancelProto
import NIOCore

/// One frame's content: the unit both sides exchange. See docs/PROTOCOL.md.
public enum Envelope: Sendable, Hashable {
    case hello(Hello)
    case helloReply(HelloReply)
    case call(Call)
    case reply(Reply)
    case cancel(callID: UInt64)
    case ping(nonce: UInt64)
    case pong(nonce: UInt64)
    case goAway(Status)
    case streamItem(callID: UInt64, message: ByteBuffer)

    /// A short name for logs and errors.
    public var kind: String {
        switch self {
        case .hello: "hello"
        case .helloReply: "hello_reply"
        case .call: "call"
        case .reply: "reply"
        case .cancel: "cancel"
        case .ping: "ping"
        case .pong: "pong"
        case .goAway: "go_away"
        case .streamItem: "stream_item"
        }
    }
}

/// The first frame a client sends.
public struct Hello: Sendable, Hashable {
    public var protocolVersion: UInt32
    public var clientName: String
    /// Empty for an anonymous connection.
    public var apiKey: String

    public init(protocolVersion: UInt32 = PartialCancelWire.protocolVersion, clientName: String, apiKey: String = "") {
        self.protocolVersion = protocolVersion
        self.clientName = clientName
        self.apiKey = apiKey
    }
}

/// The limits a server announces in its `HelloReply` (proto message `ServerLimits`).
public struct AnnouncedLimits: Sendable, Hashable {
    public var maxFrameBytes: UInt32
    public var maxCallsInFlight: UInt32
    public var defaultDeadlineMs: UInt32
    public var maxDeadlineMs: UInt32
    public var idleTimeoutMs: UInt32

    public init(
        maxFrameBytes: UInt32 = 0,
        maxCallsInFlight: UInt32 = 0,
        defaultDeadlineMs: UInt32 = 0,
        maxDeadlineMs: UInt32 = 0,
        idleTimeoutMs: UInt32 = 0
    ) {
        self.maxFrameBytes = maxFrameBytes
        self.maxCallsInFlight = maxCallsInFlight
        self.defaultDeadlineMs = defaultDeadlineMs
        self.maxDeadlineMs = maxDeadlineMs
        self.idleTimeoutMs = idleTimeoutMs
    }
}

/// The server's answer to `Hello`. A status other than OK means the connection is refused.
public struct HelloReply: Sendable, Hashable {
    public var status: Status
    public var protocolVersion: UInt32
    public var serverVersion: String
    public var limits: AnnouncedLimits
    public var role: String

    public init(
        status: Status = .ok,
        protocolVersion: UInt32 = PartialCancelWire.protocolVersion,
        serverVersion: String,
        limits: AnnouncedLimits,
        role: String
    ) {
        self.status = status
        self.protocolVersion = protocolVersion
        self.serverVersion = serverVersion
        self.limits = limits
        self.role = role
    }
}

/// Per-call metadata.
public struct Metadata: Sendable, Hashable {
    public var idempotencyKey: String
    public var traceID: String
    public var onBehalfOf: String

    public init(idempotencyKey: String = "", traceID: String = "", onBehalfOf: String = "") {
        self.idempotencyKey = idempotencyKey
        self.traceID = traceID
        self.onBehalfOf = onBehalfOf
    }

    public var isEmpty: Bool { idempotencyKey.isEmpty && traceID.isEmpty && onBehalfOf.isEmpty }
}

/// Starts a call.
public struct Call: Sendable, Hashable {
    public var callID: UInt64
    public var method: String
    /// Relative deadline; 0 means the server's default.
    public var deadlineMs: UInt32
    public var metadata: Metadata
    public var request: ByteBuffer

    public init(
        callID: UInt64,
        method: String,
        deadlineMs: UInt32 = 0,
        metadata: Metadata = Metadata(),
        request: ByteBuffer = ByteBuffer()
    ) {
        self.callID = callID
        self.method = method
        self.deadlineMs = deadlineMs
        self.metadata = metadata
        self.request = request
    }
}

/// Ends a call: its status and, for a successful unary call, the response.
public struct Reply: Sendable, Hashable {
    public var callID: UInt64
    public var status: Status
    public var response: ByteBuffer

    public init(callID: UInt64, status: Status = .ok, response: ByteBuffer = ByteBuffer()) {
        self.callID = callID
        self.status = status
        self.response = response
    }
}

// MARK: - protobuf-c mapping

/// The descriptor a generated `*__init` function stamps into a message, read back from it.
@inline(__always)
func descriptor<C>(
    of initialise: (UnsafeMutablePointer<C>) -> Void,
    _ zero: C
) -> UnsafePointer<ProtobufCMessageDescriptor> {
    var message = zero
    initialise(&message)
    return withUnsafePointer(to: &message) { pointer in
        UnsafeRawPointer(pointer).assumingMemoryBound(to: ProtobufCMessage.self).pointee.descriptor
    }
}

extension Reason: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> {
        PartialCancelWire.descriptor(of: pcancel__v1__reason__init, Pcancel__V1__Reason())
    }

    public func cMessage(in arena: Arena) -> Pcancel__V1__Reason {
        var c = Pcancel__V1__Reason()
        pcancel__v1__reason__init(&c)
        c.code = arena.cString(code)
        c.subject = arena.cString(subject)
        c.detail = arena.cString(detail)
        return c
    }

    public init(cMessage c: UnsafePointer<Pcancel__V1__Reason>, reader: FieldReader) throws(WireDecodeError) {
        self.init(
            rawCode: try reader.string(c.pointee.code, "code"),
            subject: try reader.string(c.pointee.subject, "subject"),
            detail: try reader.string(c.pointee.detail, "detail")
        )
    }
}

extension Status: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> {
        PartialCancelWire.descriptor(of: pcancel__v1__status__init, Pcancel__V1__Status())
    }

    public func cMessage(in arena: Arena) -> Pcancel__V1__Status {
        var c = Pcancel__V1__Status()
        pcancel__v1__status__init(&c)
        c.code = code.rawValue
        c.message = arena.cString(message)
        c.n_reasons = reasons.count
        c.reasons = arena.messages(reasons)
        return c
    }

    public init(cMessage c: UnsafePointer<Pcancel__V1__Status>, reader: FieldReader) throws(WireDecodeError) {
        self.init(
            StatusCode(rawValue: c.pointee.code),
            try reader.string(c.pointee.message, "message"),
            reasons: try reader.messages(c.pointee.n_reasons, c.pointee.reasons, "reasons", as: Reason.self)
        )
    }
}

extension Hello: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> {
        PartialCancelWire.descriptor(of: pcancel__v1__hello__init, Pcancel__V1__Hello())
    }

    public func cMessage(in arena: Arena) -> Pcancel__V1__Hello {
        var c = Pcancel__V1__Hello()
        pcancel__v1__hello__init(&c)
        c.protocol_version = protocolVersion
        c.client_name = arena.cString(clientName)
        c.api_key = arena.cString(apiKey)
        return c
    }

    public init(cMessage c: UnsafePointer<Pcancel__V1__Hello>, reader: FieldReader) throws(WireDecodeError) {
        self.init(
            protocolVersion: c.pointee.protocol_version,
            clientName: try reader.string(c.pointee.client_name, "client_name"),
            apiKey: try reader.string(c.pointee.api_key, "api_key")
        )
    }
}

extension AnnouncedLimits: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> {
        PartialCancelWire.descriptor(of: pcancel__v1__server_limits__init, Pcancel__V1__ServerLimits())
    }

    public func cMessage(in arena: Arena) -> Pcancel__V1__ServerLimits {
        var c = Pcancel__V1__ServerLimits()
        pcancel__v1__server_limits__init(&c)
        c.max_frame_bytes = maxFrameBytes
        c.max_calls_in_flight = maxCallsInFlight
        c.default_deadline_ms = defaultDeadlineMs
        c.max_deadline_ms = maxDeadlineMs
        c.idle_timeout_ms = idleTimeoutMs
        return c
    }

    public init(cMessage c: UnsafePointer<Pcancel__V1__ServerLimits>, reader: FieldReader) throws(WireDecodeError) {
        self.init(
            maxFrameBytes: c.pointee.max_frame_bytes,
            maxCallsInFlight: c.pointee.max_calls_in_flight,
            defaultDeadlineMs: c.pointee.default_deadline_ms,
            maxDeadlineMs: c.pointee.max_deadline_ms,
            idleTimeoutMs: c.pointee.idle_timeout_ms
        )
    }
}

extension HelloReply: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> {
        PartialCancelWire.descriptor(of: pcancel__v1__hello_reply__init, Pcancel__V1__HelloReply())
    }

    public func cMessage(in arena: Arena) -> Pcancel__V1__HelloReply {
        var c = Pcancel__V1__HelloReply()
        pcancel__v1__hello_reply__init(&c)
        if !status.isOK { c.status = arena.message(status) }
        c.protocol_version = protocolVersion
        c.server_version = arena.cString(serverVersion)
        c.limits = arena.message(limits)
        c.role = arena.cString(role)
        return c
    }

    public init(cMessage c: UnsafePointer<Pcancel__V1__HelloReply>, reader: FieldReader) throws(WireDecodeError) {
        self.init(
            status: try reader.message(c.pointee.status, "status", as: Status.self) ?? .ok,
            protocolVersion: c.pointee.protocol_version,
            serverVersion: try reader.string(c.pointee.server_version, "server_version"),
            limits: try reader.message(c.pointee.limits, "limits", as: AnnouncedLimits.self) ?? AnnouncedLimits(),
            role: try reader.string(c.pointee.role, "role")
        )
    }
}

extension Metadata: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> {
        PartialCancelWire.descriptor(of: pcancel__v1__metadata__init, Pcancel__V1__Metadata())
    }

    public func cMessage(in arena: Arena) -> Pcancel__V1__Metadata {
        var c = Pcancel__V1__Metadata()
        pcancel__v1__metadata__init(&c)
        c.idempotency_key = arena.cString(idempotencyKey)
        c.trace_id = arena.cString(traceID)
        c.on_behalf_of = arena.cString(onBehalfOf)
        return c
    }

    public init(cMessage c: UnsafePointer<Pcancel__V1__Metadata>, reader: FieldReader) throws(WireDecodeError) {
        self.init(
            idempotencyKey: try reader.string(c.pointee.idempotency_key, "idempotency_key"),
            traceID: try reader.string(c.pointee.trace_id, "trace_id"),
            onBehalfOf: try reader.string(c.pointee.on_behalf_of, "on_behalf_of")
        )
    }
}

extension Call: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> {
        PartialCancelWire.descriptor(of: pcancel__v1__call__init, Pcancel__V1__Call())
    }

    public func cMessage(in arena: Arena) -> Pcancel__V1__Call {
        var c = Pcancel__V1__Call()
        pcancel__v1__call__init(&c)
        c.call_id = callID
        c.method = arena.cString(method)
        c.deadline_ms = deadlineMs
        if !metadata.isEmpty { c.metadata = arena.message(metadata) }
        c.request = arena.binary(request)
        return c
    }

    public init(cMessage c: UnsafePointer<Pcancel__V1__Call>, reader: FieldReader) throws(WireDecodeError) {
        self.init(
            callID: c.pointee.call_id,
            method: try reader.string(c.pointee.method, "method"),
            deadlineMs: c.pointee.deadline_ms,
            metadata: try reader.message(c.pointee.metadata, "metadata", as: Metadata.self) ?? Metadata(),
            request: try reader.bytes(c.pointee.request, "request")
        )
    }
}

extension Reply: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> {
        PartialCancelWire.descriptor(of: pcancel__v1__reply__init, Pcancel__V1__Reply())
    }

    public func cMessage(in arena: Arena) -> Pcancel__V1__Reply {
        var c = Pcancel__V1__Reply()
        pcancel__v1__reply__init(&c)
        c.call_id = callID
        if !status.isOK { c.status = arena.message(status) }
        c.response = arena.binary(response)
        return c
    }

    public init(cMessage c: UnsafePointer<Pcancel__V1__Reply>, reader: FieldReader) throws(WireDecodeError) {
        self.init(
            callID: c.pointee.call_id,
            status: try reader.message(c.pointee.status, "status", as: Status.self) ?? .ok,
            response: try reader.bytes(c.pointee.response, "response")
        )
    }
}

extension Envelope: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> {
        PartialCancelWire.descriptor(of: pcancel__v1__envelope__init, Pcancel__V1__Envelope())
    }

    public func cMessage(in arena: Arena) -> Pcancel__V1__Envelope {
        var c = Pcancel__V1__Envelope()
        pcancel__v1__envelope__init(&c)
        switch self {
        case .hello(let hello):
            c.body_case = PCANCEL__V1__ENVELOPE__BODY_HELLO
            c.hello = arena.message(hello)
        case .helloReply(let reply):
            c.body_case = PCANCEL__V1__ENVELOPE__BODY_HELLO_REPLY
            c.hello_reply = arena.message(reply)
        case .call(let call):
            c.body_case = PCANCEL__V1__ENVELOPE__BODY_CALL
            c.call = arena.message(call)
        case .reply(let reply):
            c.body_case = PCANCEL__V1__ENVELOPE__BODY_REPLY
            c.reply = arena.message(reply)
        case .cancel(let callID):
            c.body_case = PCANCEL__V1__ENVELOPE__BODY_CANCEL
            c.cancel = arena.message(CancelCallMessage(callID: callID))
        case .ping(let nonce):
            c.body_case = PCANCEL__V1__ENVELOPE__BODY_PING
            c.ping = arena.message(PingMessage(nonce: nonce))
        case .pong(let nonce):
            c.body_case = PCANCEL__V1__ENVELOPE__BODY_PONG
            c.pong = arena.message(PongMessage(nonce: nonce))
        case .goAway(let status):
            c.body_case = PCANCEL__V1__ENVELOPE__BODY_GO_AWAY
            c.go_away = arena.message(GoAwayMessage(status: status))
        case .streamItem(let callID, let message):
            c.body_case = PCANCEL__V1__ENVELOPE__BODY_STREAM_ITEM
            c.stream_item = arena.message(StreamItemMessage(callID: callID, message: message))
        }
        return c
    }

    public init(cMessage c: UnsafePointer<Pcancel__V1__Envelope>, reader: FieldReader) throws(WireDecodeError) {
        let e = c.pointee
        switch e.body_case {
        case PCANCEL__V1__ENVELOPE__BODY_HELLO:
            self = .hello(try reader.required(e.hello, "hello", as: Hello.self))
        case PCANCEL__V1__ENVELOPE__BODY_HELLO_REPLY:
            self = .helloReply(try reader.required(e.hello_reply, "hello_reply", as: HelloReply.self))
        case PCANCEL__V1__ENVELOPE__BODY_CALL:
            self = .call(try reader.required(e.call, "call", as: Call.self))
        case PCANCEL__V1__ENVELOPE__BODY_REPLY:
            self = .reply(try reader.required(e.reply, "reply", as: Reply.self))
        case PCANCEL__V1__ENVELOPE__BODY_CANCEL:
            self = .cancel(callID: try reader.required(e.cancel, "cancel", as: CancelCallMessage.self).callID)
        case PCANCEL__V1__ENVELOPE__BODY_PING:
            self = .ping(nonce: try reader.required(e.ping, "ping", as: PingMessage.self).nonce)
        case PCANCEL__V1__ENVELOPE__BODY_PONG:
            self = .pong(nonce: try reader.required(e.pong, "pong", as: PongMessage.self).nonce)
        case PCANCEL__V1__ENVELOPE__BODY_GO_AWAY:
            self = .goAway(try reader.required(e.go_away, "go_away", as: GoAwayMessage.self).status)
        case PCANCEL__V1__ENVELOPE__BODY_STREAM_ITEM:
            let item = try reader.required(e.stream_item, "stream_item", as: StreamItemMessage.self)
            self = .streamItem(callID: item.callID, message: item.message)
        default:
            throw WireDecodeError(.missingField, path: reader.path("body"), "no known body is set")
        }
    }
}

// Small control messages: carried inside `Envelope` cases, not used on their own.

struct CancelCallMessage: WireMessage {
    var callID: UInt64
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> {
        PartialCancelWire.descriptor(of: pcancel__v1__cancel_call__init, Pcancel__V1__CancelCall())
    }
    func cMessage(in arena: Arena) -> Pcancel__V1__CancelCall {
        var c = Pcancel__V1__CancelCall()
        pcancel__v1__cancel_call__init(&c)
        c.call_id = callID
        return c
    }
    init(callID: UInt64) { self.callID = callID }
    init(cMessage c: UnsafePointer<Pcancel__V1__CancelCall>, reader: FieldReader) throws(WireDecodeError) {
        callID = c.pointee.call_id
    }
}

struct PingMessage: WireMessage {
    var nonce: UInt64
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> {
        PartialCancelWire.descriptor(of: pcancel__v1__ping__init, Pcancel__V1__Ping())
    }
    func cMessage(in arena: Arena) -> Pcancel__V1__Ping {
        var c = Pcancel__V1__Ping()
        pcancel__v1__ping__init(&c)
        c.nonce = nonce
        return c
    }
    init(nonce: UInt64) { self.nonce = nonce }
    init(cMessage c: UnsafePointer<Pcancel__V1__Ping>, reader: FieldReader) throws(WireDecodeError) {
        nonce = c.pointee.nonce
    }
}

struct PongMessage: WireMessage {
    var nonce: UInt64
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> {
        PartialCancelWire.descriptor(of: pcancel__v1__pong__init, Pcancel__V1__Pong())
    }
    func cMessage(in arena: Arena) -> Pcancel__V1__Pong {
        var c = Pcancel__V1__Pong()
        pcancel__v1__pong__init(&c)
        c.nonce = nonce
        return c
    }
    init(nonce: UInt64) { self.nonce = nonce }
    init(cMessage c: UnsafePointer<Pcancel__V1__Pong>, reader: FieldReader) throws(WireDecodeError) {
        nonce = c.pointee.nonce
    }
}

struct GoAwayMessage: WireMessage {
    var status: Status
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> {
        PartialCancelWire.descriptor(of: pcancel__v1__go_away__init, Pcancel__V1__GoAway())
    }
    func cMessage(in arena: Arena) -> Pcancel__V1__GoAway {
        var c = Pcancel__V1__GoAway()
        pcancel__v1__go_away__init(&c)
        c.status = arena.message(status)
        return c
    }
    init(status: Status) { self.status = status }
    init(cMessage c: UnsafePointer<Pcancel__V1__GoAway>, reader: FieldReader) throws(WireDecodeError) {
        status = try reader.message(c.pointee.status, "status", as: Status.self) ?? Status(.unavailable)
    }
}

struct StreamItemMessage: WireMessage {
    var callID: UInt64
    var message: ByteBuffer
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> {
        PartialCancelWire.descriptor(of: pcancel__v1__stream_item__init, Pcancel__V1__StreamItem())
    }
    func cMessage(in arena: Arena) -> Pcancel__V1__StreamItem {
        var c = Pcancel__V1__StreamItem()
        pcancel__v1__stream_item__init(&c)
        c.call_id = callID
        c.message = arena.binary(message)
        return c
    }
    init(callID: UInt64, message: ByteBuffer) {
        self.callID = callID
        self.message = message
    }
    init(cMessage c: UnsafePointer<Pcancel__V1__StreamItem>, reader: FieldReader) throws(WireDecodeError) {
        callID = c.pointee.call_id
        message = try reader.bytes(c.pointee.message, "message")
    }
}

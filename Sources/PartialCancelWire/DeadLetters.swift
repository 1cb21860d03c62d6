import CPartialCancelProto
import NIOCore

// Wire forms of reading one dead letter whole and discarding one (stock.proto).

public struct DeadLetterEventView: Sendable, Hashable {
    public var atMs: Int64
    public var actor: String, event: String, detail: String
    public init(atMs: Int64 = 0, actor: String = "", event: String = "", detail: String = "") {
        self.atMs = atMs; self.actor = actor; self.event = event; self.detail = detail
    }
}

public struct GetDeadLetterRequest: Sendable, Hashable {
    public var id: String
    /// Where the payload part to return starts (0: the beginning).
    public var payloadOffset: Int64
    public init(id: String, payloadOffset: Int64 = 0) { self.id = id; self.payloadOffset = payloadOffset }
}

public struct GetDeadLetterResponse: Sendable, Hashable {
    public var deadLetter: DeadLetterView
    public var payloadOffset: Int64
    public var history: [DeadLetterEventView]
    public init(deadLetter: DeadLetterView, payloadOffset: Int64, history: [DeadLetterEventView]) {
        self.deadLetter = deadLetter; self.payloadOffset = payloadOffset; self.history = history
    }
}

public struct DiscardDeadLetterRequest: Sendable, Hashable {
    public var id: String, reason: String
    public init(id: String, reason: String) { self.id = id; self.reason = reason }
}

public struct DiscardDeadLetterResponse: Sendable, Hashable {
    public var deadLetter: DeadLetterView
    public init(deadLetter: DeadLetterView) { self.deadLetter = deadLetter }
}

extension DeadLetterEventView: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__dead_letter_event__init, Pcancel__V1__DeadLetterEvent()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__DeadLetterEvent {
        var c = Pcancel__V1__DeadLetterEvent()
        pcancel__v1__dead_letter_event__init(&c)
        c.at_ms = atMs; c.actor = arena.cString(actor); c.event = arena.cString(event); c.detail = arena.cString(detail)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__DeadLetterEvent>, reader: FieldReader) throws(WireDecodeError) {
        self.init(atMs: c.pointee.at_ms, actor: try reader.string(c.pointee.actor, "actor"), event: try reader.string(c.pointee.event, "event"),
                  detail: try reader.string(c.pointee.detail, "detail"))
    }
}

extension GetDeadLetterRequest: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__get_dead_letter_request__init, Pcancel__V1__GetDeadLetterRequest()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__GetDeadLetterRequest {
        var c = Pcancel__V1__GetDeadLetterRequest()
        pcancel__v1__get_dead_letter_request__init(&c)
        c.id = arena.cString(id); c.payload_offset = payloadOffset
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__GetDeadLetterRequest>, reader: FieldReader) throws(WireDecodeError) {
        self.init(id: try reader.string(c.pointee.id, "id"), payloadOffset: c.pointee.payload_offset)
    }
}

extension GetDeadLetterResponse: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__get_dead_letter_response__init, Pcancel__V1__GetDeadLetterResponse()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__GetDeadLetterResponse {
        var c = Pcancel__V1__GetDeadLetterResponse()
        pcancel__v1__get_dead_letter_response__init(&c)
        c.dead_letter = arena.message(deadLetter); c.payload_offset = payloadOffset
        c.n_history = history.count; c.history = arena.messages(history)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__GetDeadLetterResponse>, reader: FieldReader) throws(WireDecodeError) {
        self.init(deadLetter: try reader.required(c.pointee.dead_letter, "dead_letter", as: DeadLetterView.self), payloadOffset: c.pointee.payload_offset,
                  history: try reader.messages(c.pointee.n_history, c.pointee.history, "history", as: DeadLetterEventView.self))
    }
}

extension DiscardDeadLetterRequest: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__discard_dead_letter_request__init, Pcancel__V1__DiscardDeadLetterRequest()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__DiscardDeadLetterRequest {
        var c = Pcancel__V1__DiscardDeadLetterRequest()
        pcancel__v1__discard_dead_letter_request__init(&c)
        c.id = arena.cString(id); c.reason = arena.cString(reason)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__DiscardDeadLetterRequest>, reader: FieldReader) throws(WireDecodeError) {
        self.init(id: try reader.string(c.pointee.id, "id"), reason: try reader.string(c.pointee.reason, "reason"))
    }
}

extension DiscardDeadLetterResponse: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__discard_dead_letter_response__init, Pcancel__V1__DiscardDeadLetterResponse()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__DiscardDeadLetterResponse {
        var c = Pcancel__V1__DiscardDeadLetterResponse()
        pcancel__v1__discard_dead_letter_response__init(&c)
        c.dead_letter = arena.message(deadLetter)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__DiscardDeadLetterResponse>, reader: FieldReader) throws(WireDecodeError) {
        self.init(deadLetter: try reader.required(c.pointee.dead_letter, "dead_letter", as: DeadLetterView.self))
    }
}

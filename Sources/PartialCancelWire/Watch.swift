import CPartialCancelProto
import NIOCore

/// Request of the `WatchOrder` stream. `afterSeq` 0 starts now, with a snapshot; N resumes after
/// history entry N.
public struct WatchOrderRequest: Sendable, Hashable {
    public var orderID: String
    public var afterSeq: Int64

    public init(orderID: String, afterSeq: Int64 = 0) {
        self.orderID = orderID
        self.afterSeq = afterSeq
    }
}

/// One item of `WatchOrder`: a history entry (absent on a snapshot) and, on a snapshot and on the
/// last entry of each commit, the order right after it.
public struct OrderChange: Sendable, Hashable {
    public var orderID: String
    public var seq: Int64
    public var entry: HistoryEntryView?
    public var order: OrderView?

    public init(orderID: String, seq: Int64, entry: HistoryEntryView? = nil, order: OrderView? = nil) {
        self.orderID = orderID
        self.seq = seq
        self.entry = entry
        self.order = order
    }
}

public struct StockCursor: Sendable, Hashable {
    public var sku: String
    public var afterSeq: Int64

    public init(sku: String, afterSeq: Int64 = 0) {
        self.sku = sku
        self.afterSeq = afterSeq
    }
}

/// Request of the `WatchStock` stream.
public struct WatchStockRequest: Sendable, Hashable {
    public var skus: [StockCursor]

    public init(skus: [StockCursor]) {
        self.skus = skus
    }
}

/// One item of `WatchStock`: a pool as a committed change left it.
public struct StockUpdate: Sendable, Hashable {
    public var sku: String, seq: Int64, atMs: Int64, location: String
    public var onHand: Int64, reserved: Int64, available: Int64
    public var cause: String, reference: String

    public init(sku: String, seq: Int64, atMs: Int64, location: String, onHand: Int64, reserved: Int64, available: Int64,
                cause: String, reference: String) {
        self.sku = sku; self.seq = seq; self.atMs = atMs; self.location = location
        self.onHand = onHand; self.reserved = reserved; self.available = available
        self.cause = cause; self.reference = reference
    }
}

extension WatchOrderRequest: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__watch_order_request__init, Pcancel__V1__WatchOrderRequest()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__WatchOrderRequest {
        var c = Pcancel__V1__WatchOrderRequest()
        pcancel__v1__watch_order_request__init(&c)
        c.order_id = arena.cString(orderID); c.after_seq = afterSeq
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__WatchOrderRequest>, reader: FieldReader) throws(WireDecodeError) {
        self.init(orderID: try reader.string(c.pointee.order_id, "order_id"), afterSeq: c.pointee.after_seq)
    }
}

extension OrderChange: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__order_change__init, Pcancel__V1__OrderChange()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__OrderChange {
        var c = Pcancel__V1__OrderChange()
        pcancel__v1__order_change__init(&c)
        c.order_id = arena.cString(orderID); c.seq = seq
        c.entry = entry.map { arena.message($0) }
        c.order = order.map { arena.message($0) }
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__OrderChange>, reader: FieldReader) throws(WireDecodeError) {
        self.init(orderID: try reader.string(c.pointee.order_id, "order_id"), seq: c.pointee.seq,
                  entry: try reader.message(c.pointee.entry, "entry", as: HistoryEntryView.self),
                  order: try reader.message(c.pointee.order, "order", as: OrderView.self))
    }
}

extension StockCursor: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__stock_cursor__init, Pcancel__V1__StockCursor()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__StockCursor {
        var c = Pcancel__V1__StockCursor()
        pcancel__v1__stock_cursor__init(&c)
        c.sku = arena.cString(sku); c.after_seq = afterSeq
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__StockCursor>, reader: FieldReader) throws(WireDecodeError) {
        self.init(sku: try reader.string(c.pointee.sku, "sku"), afterSeq: c.pointee.after_seq)
    }
}

extension WatchStockRequest: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__watch_stock_request__init, Pcancel__V1__WatchStockRequest()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__WatchStockRequest {
        var c = Pcancel__V1__WatchStockRequest()
        pcancel__v1__watch_stock_request__init(&c)
        c.n_skus = skus.count; c.skus = arena.messages(skus)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__WatchStockRequest>, reader: FieldReader) throws(WireDecodeError) {
        self.init(skus: try reader.messages(c.pointee.n_skus, c.pointee.skus, "skus", as: StockCursor.self))
    }
}

extension StockUpdate: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__stock_update__init, Pcancel__V1__StockUpdate()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__StockUpdate {
        var c = Pcancel__V1__StockUpdate()
        pcancel__v1__stock_update__init(&c)
        c.sku = arena.cString(sku); c.seq = seq; c.at_ms = atMs; c.location = arena.cString(location)
        c.on_hand = onHand; c.reserved = reserved; c.available = available
        c.cause = arena.cString(cause); c.reference = arena.cString(reference)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__StockUpdate>, reader: FieldReader) throws(WireDecodeError) {
        self.init(sku: try reader.string(c.pointee.sku, "sku"), seq: c.pointee.seq, atMs: c.pointee.at_ms,
                  location: try reader.string(c.pointee.location, "location"), onHand: c.pointee.on_hand, reserved: c.pointee.reserved,
                  available: c.pointee.available, cause: try reader.string(c.pointee.cause, "cause"),
                  reference: try reader.string(c.pointee.reference, "reference"))
    }
}

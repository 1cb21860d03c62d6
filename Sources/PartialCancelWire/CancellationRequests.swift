import CPartialCancelProto
import NIOCore

// Wire forms of cancellation requests and portal notifications (cancellation.proto).

public struct RequestCancellationRequest: Sendable, Hashable {
    public var orderID: String
    public var lines: [CancelLine]
    public var reasonCode: String
    public var storeCredit: Bool
    public init(orderID: String, lines: [CancelLine], reasonCode: String, storeCredit: Bool = false) {
        self.orderID = orderID; self.lines = lines; self.reasonCode = reasonCode; self.storeCredit = storeCredit
    }
}

public struct CancellationView: Sendable, Hashable {
    public var id = "", orderID = "", state = ""
    public var lines: [CancelLine] = []
    public var reasonCode = "", actor = ""
    public var storeCredit = false
    public var quote = QuoteView()
    public var expiresAtMs: Int64 = 0, createdMs: Int64 = 0, updatedMs: Int64 = 0, failedAttempts: Int64 = 0
    public init() {}
}

public struct RequestCancellationResponse: Sendable, Hashable {
    public var cancellation: CancellationView
    public init(cancellation: CancellationView) { self.cancellation = cancellation }
}

public struct GetCancellationRequest: Sendable, Hashable {
    public var id: String
    public init(id: String) { self.id = id }
}

public struct GetCancellationResponse: Sendable, Hashable {
    public var cancellation: CancellationView
    public init(cancellation: CancellationView) { self.cancellation = cancellation }
}

public struct ListNotificationsRequest: Sendable, Hashable {
    public var limit: UInt32
    public init(limit: UInt32 = 0) { self.limit = limit }
}

public struct NotificationView: Sendable, Hashable {
    public var id = "", accountID = "", cancellationID = "", kind = "", subject = "", body = ""
    public var createdMs: Int64 = 0
    public init(id: String = "", accountID: String = "", cancellationID: String = "", kind: String = "", subject: String = "", body: String = "", createdMs: Int64 = 0) {
        self.id = id; self.accountID = accountID; self.cancellationID = cancellationID; self.kind = kind; self.subject = subject; self.body = body; self.createdMs = createdMs
    }
}

public struct ListNotificationsResponse: Sendable, Hashable {
    public var notifications: [NotificationView]
    public init(notifications: [NotificationView]) { self.notifications = notifications }
}

extension RequestCancellationRequest: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__request_cancellation_request__init, Pcancel__V1__RequestCancellationRequest()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__RequestCancellationRequest {
        var c = Pcancel__V1__RequestCancellationRequest()
        pcancel__v1__request_cancellation_request__init(&c)
        c.order_id = arena.cString(orderID); c.n_lines = lines.count; c.lines = arena.messages(lines)
        c.reason_code = arena.cString(reasonCode); c.store_credit = cBool(storeCredit)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__RequestCancellationRequest>, reader: FieldReader) throws(WireDecodeError) {
        self.init(orderID: try reader.string(c.pointee.order_id, "order_id"),
                  lines: try reader.messages(c.pointee.n_lines, c.pointee.lines, "lines", as: CancelLine.self),
                  reasonCode: try reader.string(c.pointee.reason_code, "reason_code"), storeCredit: c.pointee.store_credit != 0)
    }
}

extension CancellationView: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__cancellation_view__init, Pcancel__V1__CancellationView()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__CancellationView {
        var c = Pcancel__V1__CancellationView()
        pcancel__v1__cancellation_view__init(&c)
        c.id = arena.cString(id); c.order_id = arena.cString(orderID); c.state = arena.cString(state)
        c.n_lines = lines.count; c.lines = arena.messages(lines)
        c.reason_code = arena.cString(reasonCode); c.actor = arena.cString(actor); c.store_credit = cBool(storeCredit)
        c.quote = arena.message(quote)
        c.expires_at_ms = expiresAtMs; c.created_ms = createdMs; c.updated_ms = updatedMs; c.failed_attempts = failedAttempts
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__CancellationView>, reader: FieldReader) throws(WireDecodeError) {
        let p = c.pointee
        self.init()
        id = try reader.string(p.id, "id"); orderID = try reader.string(p.order_id, "order_id"); state = try reader.string(p.state, "state")
        lines = try reader.messages(p.n_lines, p.lines, "lines", as: CancelLine.self)
        reasonCode = try reader.string(p.reason_code, "reason_code"); actor = try reader.string(p.actor, "actor"); storeCredit = p.store_credit != 0
        quote = try reader.message(p.quote, "quote", as: QuoteView.self) ?? QuoteView()
        expiresAtMs = p.expires_at_ms; createdMs = p.created_ms; updatedMs = p.updated_ms; failedAttempts = p.failed_attempts
    }
}

extension RequestCancellationResponse: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__request_cancellation_response__init, Pcancel__V1__RequestCancellationResponse()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__RequestCancellationResponse {
        var c = Pcancel__V1__RequestCancellationResponse()
        pcancel__v1__request_cancellation_response__init(&c)
        c.cancellation = arena.message(cancellation)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__RequestCancellationResponse>, reader: FieldReader) throws(WireDecodeError) {
        self.init(cancellation: try reader.required(c.pointee.cancellation, "cancellation", as: CancellationView.self))
    }
}

extension GetCancellationRequest: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__get_cancellation_request__init, Pcancel__V1__GetCancellationRequest()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__GetCancellationRequest {
        var c = Pcancel__V1__GetCancellationRequest()
        pcancel__v1__get_cancellation_request__init(&c)
        c.id = arena.cString(id)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__GetCancellationRequest>, reader: FieldReader) throws(WireDecodeError) {
        self.init(id: try reader.string(c.pointee.id, "id"))
    }
}

extension GetCancellationResponse: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__get_cancellation_response__init, Pcancel__V1__GetCancellationResponse()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__GetCancellationResponse {
        var c = Pcancel__V1__GetCancellationResponse()
        pcancel__v1__get_cancellation_response__init(&c)
        c.cancellation = arena.message(cancellation)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__GetCancellationResponse>, reader: FieldReader) throws(WireDecodeError) {
        self.init(cancellation: try reader.required(c.pointee.cancellation, "cancellation", as: CancellationView.self))
    }
}

extension ListNotificationsRequest: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__list_notifications_request__init, Pcancel__V1__ListNotificationsRequest()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__ListNotificationsRequest {
        var c = Pcancel__V1__ListNotificationsRequest()
        pcancel__v1__list_notifications_request__init(&c)
        c.limit = limit
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__ListNotificationsRequest>, reader: FieldReader) throws(WireDecodeError) {
        self.init(limit: c.pointee.limit)
    }
}

extension NotificationView: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__notification_view__init, Pcancel__V1__NotificationView()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__NotificationView {
        var c = Pcancel__V1__NotificationView()
        pcancel__v1__notification_view__init(&c)
        c.id = arena.cString(id); c.account_id = arena.cString(accountID); c.cancellation_id = arena.cString(cancellationID)
        c.kind = arena.cString(kind); c.subject = arena.cString(subject); c.body = arena.cString(body); c.created_ms = createdMs
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__NotificationView>, reader: FieldReader) throws(WireDecodeError) {
        let p = c.pointee
        self.init(id: try reader.string(p.id, "id"), accountID: try reader.string(p.account_id, "account_id"),
                  cancellationID: try reader.string(p.cancellation_id, "cancellation_id"), kind: try reader.string(p.kind, "kind"),
                  subject: try reader.string(p.subject, "subject"), body: try reader.string(p.body, "body"), createdMs: p.created_ms)
    }
}

extension ListNotificationsResponse: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__list_notifications_response__init, Pcancel__V1__ListNotificationsResponse()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__ListNotificationsResponse {
        var c = Pcancel__V1__ListNotificationsResponse()
        pcancel__v1__list_notifications_response__init(&c)
        c.n_notifications = notifications.count; c.notifications = arena.messages(notifications)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__ListNotificationsResponse>, reader: FieldReader) throws(WireDecodeError) {
        self.init(notifications: try reader.messages(c.pointee.n_notifications, c.pointee.notifications, "notifications", as: NotificationView.self))
    }
}

public struct ConfirmCancellationRequest: Sendable, Hashable {
    public var id: String, token: String
    public init(id: String, token: String) { self.id = id; self.token = token }
}

public struct RefundView: Sendable, Hashable {
    public var refundID = "", cancellationID = "", currency = ""
    public var amount: Int64 = 0, createdMs: Int64 = 0
    public var allocations: [TenderAllocationView] = []
    public init() {}
}

public struct ConfirmCancellationResponse: Sendable, Hashable {
    public var cancellation: CancellationView
    public var refund: RefundView?
    public var order: OrderView?
    public init(cancellation: CancellationView, refund: RefundView?, order: OrderView?) { self.cancellation = cancellation; self.refund = refund; self.order = order }
}

public struct DeclineCancellationRequest: Sendable, Hashable {
    public var id: String, token: String
    public init(id: String, token: String) { self.id = id; self.token = token }
}

public struct DeclineCancellationResponse: Sendable, Hashable {
    public var cancellation: CancellationView
    public init(cancellation: CancellationView) { self.cancellation = cancellation }
}

extension ConfirmCancellationRequest: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__confirm_cancellation_request__init, Pcancel__V1__ConfirmCancellationRequest()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__ConfirmCancellationRequest {
        var c = Pcancel__V1__ConfirmCancellationRequest()
        pcancel__v1__confirm_cancellation_request__init(&c)
        c.id = arena.cString(id); c.token = arena.cString(token)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__ConfirmCancellationRequest>, reader: FieldReader) throws(WireDecodeError) {
        self.init(id: try reader.string(c.pointee.id, "id"), token: try reader.string(c.pointee.token, "token", maxBytes: 128))
    }
}

extension DeclineCancellationRequest: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__decline_cancellation_request__init, Pcancel__V1__DeclineCancellationRequest()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__DeclineCancellationRequest {
        var c = Pcancel__V1__DeclineCancellationRequest()
        pcancel__v1__decline_cancellation_request__init(&c)
        c.id = arena.cString(id); c.token = arena.cString(token)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__DeclineCancellationRequest>, reader: FieldReader) throws(WireDecodeError) {
        self.init(id: try reader.string(c.pointee.id, "id"), token: try reader.string(c.pointee.token, "token", maxBytes: 128))
    }
}

extension RefundView: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__refund_view__init, Pcancel__V1__RefundView()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__RefundView {
        var c = Pcancel__V1__RefundView()
        pcancel__v1__refund_view__init(&c)
        c.refund_id = arena.cString(refundID); c.cancellation_id = arena.cString(cancellationID); c.amount = amount
        c.currency = arena.cString(currency); c.n_allocations = allocations.count; c.allocations = arena.messages(allocations); c.created_ms = createdMs
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__RefundView>, reader: FieldReader) throws(WireDecodeError) {
        let p = c.pointee
        self.init()
        refundID = try reader.string(p.refund_id, "refund_id"); cancellationID = try reader.string(p.cancellation_id, "cancellation_id")
        amount = p.amount; currency = try reader.string(p.currency, "currency")
        allocations = try reader.messages(p.n_allocations, p.allocations, "allocations", as: TenderAllocationView.self); createdMs = p.created_ms
    }
}

extension ConfirmCancellationResponse: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__confirm_cancellation_response__init, Pcancel__V1__ConfirmCancellationResponse()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__ConfirmCancellationResponse {
        var c = Pcancel__V1__ConfirmCancellationResponse()
        pcancel__v1__confirm_cancellation_response__init(&c)
        c.cancellation = arena.message(cancellation)
        if let refund { c.refund = arena.message(refund) }
        if let order { c.order = arena.message(order) }
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__ConfirmCancellationResponse>, reader: FieldReader) throws(WireDecodeError) {
        self.init(cancellation: try reader.required(c.pointee.cancellation, "cancellation", as: CancellationView.self),
                  refund: try reader.message(c.pointee.refund, "refund", as: RefundView.self), order: try reader.message(c.pointee.order, "order", as: OrderView.self))
    }
}

extension DeclineCancellationResponse: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__decline_cancellation_response__init, Pcancel__V1__DeclineCancellationResponse()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__DeclineCancellationResponse {
        var c = Pcancel__V1__DeclineCancellationResponse()
        pcancel__v1__decline_cancellation_response__init(&c)
        c.cancellation = arena.message(cancellation)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__DeclineCancellationResponse>, reader: FieldReader) throws(WireDecodeError) {
        self.init(cancellation: try reader.required(c.pointee.cancellation, "cancellation", as: CancellationView.self))
    }
}

public struct ReleaseInventoryRequest: Sendable, Hashable {
    public var id: String
    public init(id: String) { self.id = id }
}

public struct ReleasedStock: Sendable, Hashable {
    public var lineID: String, sku: String, location: String
    public var quantity: Int64
    public var pool: StockPoolView
    public init(lineID: String, sku: String, location: String, quantity: Int64, pool: StockPoolView) {
        self.lineID = lineID; self.sku = sku; self.location = location; self.quantity = quantity; self.pool = pool
    }
}

public struct ReleaseInventoryResponse: Sendable, Hashable {
    public var cancellation: CancellationView
    public var released: [ReleasedStock]
    public var complete: Bool
    public init(cancellation: CancellationView, released: [ReleasedStock], complete: Bool) {
        self.cancellation = cancellation; self.released = released; self.complete = complete
    }
}

extension ReleaseInventoryRequest: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__release_inventory_request__init, Pcancel__V1__ReleaseInventoryRequest()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__ReleaseInventoryRequest {
        var c = Pcancel__V1__ReleaseInventoryRequest()
        pcancel__v1__release_inventory_request__init(&c)
        c.id = arena.cString(id)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__ReleaseInventoryRequest>, reader: FieldReader) throws(WireDecodeError) {
        self.init(id: try reader.string(c.pointee.id, "id"))
    }
}

extension ReleasedStock: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__released_stock__init, Pcancel__V1__ReleasedStock()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__ReleasedStock {
        var c = Pcancel__V1__ReleasedStock()
        pcancel__v1__released_stock__init(&c)
        c.line_id = arena.cString(lineID); c.sku = arena.cString(sku); c.location = arena.cString(location); c.quantity = quantity
        c.pool = arena.message(pool)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__ReleasedStock>, reader: FieldReader) throws(WireDecodeError) {
        self.init(lineID: try reader.string(c.pointee.line_id, "line_id"), sku: try reader.string(c.pointee.sku, "sku"),
                  location: try reader.string(c.pointee.location, "location"), quantity: c.pointee.quantity,
                  pool: try reader.message(c.pointee.pool, "pool", as: StockPoolView.self) ?? StockPoolView())
    }
}

extension ReleaseInventoryResponse: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__release_inventory_response__init, Pcancel__V1__ReleaseInventoryResponse()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__ReleaseInventoryResponse {
        var c = Pcancel__V1__ReleaseInventoryResponse()
        pcancel__v1__release_inventory_response__init(&c)
        c.cancellation = arena.message(cancellation); c.n_released = released.count; c.released = arena.messages(released); c.complete = cBool(complete)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__ReleaseInventoryResponse>, reader: FieldReader) throws(WireDecodeError) {
        self.init(cancellation: try reader.required(c.pointee.cancellation, "cancellation", as: CancellationView.self),
                  released: try reader.messages(c.pointee.n_released, c.pointee.released, "released", as: ReleasedStock.self), complete: c.pointee.complete != 0)
    }
}

public struct WithdrawCancellationRequest: Sendable, Hashable {
    public var id: String, reason: String
    public init(id: String, reason: String) { self.id = id; self.reason = reason }
}

public struct WithdrawCancellationResponse: Sendable, Hashable {
    public var cancellation: CancellationView
    public init(cancellation: CancellationView) { self.cancellation = cancellation }
}

extension WithdrawCancellationRequest: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__withdraw_cancellation_request__init, Pcancel__V1__WithdrawCancellationRequest()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__WithdrawCancellationRequest {
        var c = Pcancel__V1__WithdrawCancellationRequest()
        pcancel__v1__withdraw_cancellation_request__init(&c)
        c.id = arena.cString(id); c.reason = arena.cString(reason)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__WithdrawCancellationRequest>, reader: FieldReader) throws(WireDecodeError) {
        self.init(id: try reader.string(c.pointee.id, "id"), reason: try reader.string(c.pointee.reason, "reason"))
    }
}

extension WithdrawCancellationResponse: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__withdraw_cancellation_response__init, Pcancel__V1__WithdrawCancellationResponse()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__WithdrawCancellationResponse {
        var c = Pcancel__V1__WithdrawCancellationResponse()
        pcancel__v1__withdraw_cancellation_response__init(&c)
        c.cancellation = arena.message(cancellation)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__WithdrawCancellationResponse>, reader: FieldReader) throws(WireDecodeError) {
        self.init(cancellation: try reader.required(c.pointee.cancellation, "cancellation", as: CancellationView.self))
    }
}

import CPartialCancelProto
import NIOCore

// Wire forms of orders, stock and dead letters (orders.proto, stock.proto). Plain values: the
// server maps them to and from the domain in one place.

public struct AccountView: Sendable, Hashable {
    public var id = "", tier = "", email = ""
    public init(id: String = "", tier: String = "", email: String = "") { self.id = id; self.tier = tier; self.email = email }
}

public struct FulfilmentView: Sendable, Hashable {
    public var location = "", node = "", status = ""
    public var partnerAcceptsCancel = false
    public init(location: String = "", node: String = "", status: String = "", partnerAcceptsCancel: Bool = false) {
        self.location = location; self.node = node; self.status = status; self.partnerAcceptsCancel = partnerAcceptsCancel
    }
}

public struct PaidPeriodView: Sendable, Hashable {
    public var startMs: Int64 = 0, endMs: Int64 = 0, amount: Int64 = 0
    public init(startMs: Int64 = 0, endMs: Int64 = 0, amount: Int64 = 0) { self.startMs = startMs; self.endMs = endMs; self.amount = amount }
}

public struct LineView: Sendable, Hashable {
    public var id = "", sku = "", kind = "", parentLineID = ""
    public var optional = false
    public var quantity: Int64 = 0, cancelledQuantity: Int64 = 0, unitPrice: Int64 = 0, discount: Int64 = 0, taxRateBps: Int64 = 0
    public var fulfilment: FulfilmentView?
    public var period: PaidPeriodView?
    public var net: Int64 = 0, allocatedDiscount: Int64 = 0, paidNet: Int64 = 0, tax: Int64 = 0
    public init() {}
}

public struct PromotionView: Sendable, Hashable {
    public var code = "", kind = ""
    public var amount: Int64 = 0, bps: Int64 = 0, minSubtotal: Int64 = 0, applied: Int64 = 0
    public init() {}
}

public struct ShippingView: Sendable, Hashable {
    public var amount: Int64 = 0, taxRateBps: Int64 = 0, freeOver: Int64 = 0, charged: Int64 = 0, tax: Int64 = 0
    public init() {}
}

public struct TenderView: Sendable, Hashable {
    public var id = "", kind = ""
    public var amount: Int64 = 0
    public var captured = false
    public var refunded: Int64 = 0
    public init() {}
}

public struct TotalsView: Sendable, Hashable {
    public var subtotal: Int64 = 0, discount: Int64 = 0, paidNet: Int64 = 0, tax: Int64 = 0, shipping: Int64 = 0, shippingTax: Int64 = 0, total: Int64 = 0
    public var adjustments: Int64 = 0, refunded: Int64 = 0
    public init() {}
}

public struct OrderView: Sendable, Hashable {
    public var id = "", channel = "", externalID = ""
    public var account = AccountView()
    public var status = "", currency = ""
    public var lines: [LineView] = []
    public var promotions: [PromotionView] = []
    public var shipping = ShippingView()
    public var tenders: [TenderView] = []
    public var totals = TotalsView()
    public var version: Int64 = 0, placedAtMs: Int64 = 0
    public var notes = ""
    public init() {}
}

public struct HistoryEntryView: Sendable, Hashable {
    public var seq: Int64 = 0, atMs: Int64 = 0
    public var actor = "", event = "", detail = ""
    public var subject = "", fromState = "", toState = ""
    public init(seq: Int64 = 0, atMs: Int64 = 0, actor: String = "", event: String = "", detail: String = "",
                subject: String = "", fromState: String = "", toState: String = "") {
        self.seq = seq; self.atMs = atMs; self.actor = actor; self.event = event; self.detail = detail
        self.subject = subject; self.fromState = fromState; self.toState = toState
    }
}

public struct IngestOrderRequest: Sendable, Hashable {
    public var channel: String
    public var payload: ByteBuffer
    public init(channel: String, payload: ByteBuffer) { self.channel = channel; self.payload = payload }
}

public struct IngestOrderResponse: Sendable, Hashable {
    public var order: OrderView
    public var created: Bool
    public init(order: OrderView, created: Bool) { self.order = order; self.created = created }
}

public struct GetOrderRequest: Sendable, Hashable {
    public var orderID: String
    public init(orderID: String) { self.orderID = orderID }
}

public struct GetOrderResponse: Sendable, Hashable {
    public var order: OrderView
    public var history: [HistoryEntryView]
    public init(order: OrderView, history: [HistoryEntryView]) { self.order = order; self.history = history }
}

public struct StockPoolView: Sendable, Hashable {
    public var sku = "", location = ""
    public var onHand: Int64 = 0, reserved: Int64 = 0, available: Int64 = 0
    public init(sku: String = "", location: String = "", onHand: Int64 = 0, reserved: Int64 = 0, available: Int64 = 0) {
        self.sku = sku; self.location = location; self.onHand = onHand; self.reserved = reserved; self.available = available
    }
}

public struct PutStockRequest: Sendable, Hashable {
    public var sku: String, location: String
    public var onHand: Int64
    public init(sku: String, location: String, onHand: Int64) { self.sku = sku; self.location = location; self.onHand = onHand }
}

public struct PutStockResponse: Sendable, Hashable {
    public var pool: StockPoolView
    public init(pool: StockPoolView) { self.pool = pool }
}

public struct GetStockRequest: Sendable, Hashable {
    public var sku: String, location: String
    public init(sku: String, location: String = "") { self.sku = sku; self.location = location }
}

public struct GetStockResponse: Sendable, Hashable {
    public var pools: [StockPoolView]
    public init(pools: [StockPoolView]) { self.pools = pools }
}

public struct DeadLetterView: Sendable, Hashable {
    public var id = "", kind = ""
    public var priority: Int64 = 0
    public var reason = "", detail = "", subject = ""
    public var attempts: Int64 = 0, createdMs: Int64 = 0, updatedMs: Int64 = 0
    /// GetDeadLetter only: the payload (or its part from the requested offset).
    public var payload = ByteBuffer()
    /// The payload's first bytes, bounded; the size and hash are of the whole payload.
    public var payloadExcerpt = ByteBuffer()
    public var payloadBytes: Int64 = 0
    public var payloadSHA256 = ""
    /// OPEN, REDRIVEN or DISCARDED.
    public var state = ""
    public var resolvedMs: Int64 = 0
    public init() {}
}

public struct ListDeadLettersRequest: Sendable, Hashable {
    public var limit: UInt32
    /// Empty for the first page; else the previous page's `nextCursor`.
    public var cursor: String
    public init(limit: UInt32 = 0, cursor: String = "") { self.limit = limit; self.cursor = cursor }
}

public struct ListDeadLettersResponse: Sendable, Hashable {
    public var deadLetters: [DeadLetterView]
    /// Empty when this was the last page.
    public var nextCursor: String
    public init(deadLetters: [DeadLetterView], nextCursor: String = "") { self.deadLetters = deadLetters; self.nextCursor = nextCursor }
}

public struct RedriveDeadLetterRequest: Sendable, Hashable {
    public var id: String
    public init(id: String) { self.id = id }
}

public struct RedriveDeadLetterResponse: Sendable, Hashable {
    public var resolved: Bool
    public var order: OrderView?
    public var deadLetter: DeadLetterView?
    public init(resolved: Bool, order: OrderView? = nil, deadLetter: DeadLetterView? = nil) {
        self.resolved = resolved; self.order = order; self.deadLetter = deadLetter
    }
}

public struct ShardHealthView: Sendable, Hashable {
    public var index: UInt32 = 0
    public var open = false
    public var queueDepth: UInt32 = 0
    public var outboxBacklog: Int64 = 0, deadLetters: Int64 = 0, orders: Int64 = 0
    public var outboxOldestAgeMs: Int64 = 0, emailBacklog: Int64 = 0, emailOldestAgeMs: Int64 = 0
    public init(index: UInt32 = 0, open: Bool = false, queueDepth: UInt32 = 0, outboxBacklog: Int64 = 0, deadLetters: Int64 = 0, orders: Int64 = 0,
                outboxOldestAgeMs: Int64 = 0, emailBacklog: Int64 = 0, emailOldestAgeMs: Int64 = 0) {
        self.index = index; self.open = open; self.queueDepth = queueDepth; self.outboxBacklog = outboxBacklog; self.deadLetters = deadLetters; self.orders = orders
        self.outboxOldestAgeMs = outboxOldestAgeMs; self.emailBacklog = emailBacklog; self.emailOldestAgeMs = emailOldestAgeMs
    }
}

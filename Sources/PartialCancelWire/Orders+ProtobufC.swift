import CPartialCancelProto
import NIOCore

@inline(__always) func cBool(_ value: Bool) -> protobuf_c_boolean { value ? 1 : 0 }

extension AccountView: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__account_view__init, Pcancel__V1__AccountView()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__AccountView {
        var c = Pcancel__V1__AccountView()
        pcancel__v1__account_view__init(&c)
        c.id = arena.cString(id); c.tier = arena.cString(tier); c.email = arena.cString(email)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__AccountView>, reader: FieldReader) throws(WireDecodeError) {
        self.init(id: try reader.string(c.pointee.id, "id"), tier: try reader.string(c.pointee.tier, "tier"), email: try reader.string(c.pointee.email, "email"))
    }
}

extension FulfilmentView: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__fulfilment_view__init, Pcancel__V1__FulfilmentView()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__FulfilmentView {
        var c = Pcancel__V1__FulfilmentView()
        pcancel__v1__fulfilment_view__init(&c)
        c.location = arena.cString(location); c.node = arena.cString(node); c.status = arena.cString(status)
        c.partner_accepts_cancel = cBool(partnerAcceptsCancel)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__FulfilmentView>, reader: FieldReader) throws(WireDecodeError) {
        self.init(location: try reader.string(c.pointee.location, "location"), node: try reader.string(c.pointee.node, "node"),
                  status: try reader.string(c.pointee.status, "status"), partnerAcceptsCancel: c.pointee.partner_accepts_cancel != 0)
    }
}

extension PaidPeriodView: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__paid_period_view__init, Pcancel__V1__PaidPeriodView()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__PaidPeriodView {
        var c = Pcancel__V1__PaidPeriodView()
        pcancel__v1__paid_period_view__init(&c)
        c.start_ms = startMs; c.end_ms = endMs; c.amount = amount
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__PaidPeriodView>, reader: FieldReader) throws(WireDecodeError) {
        self.init(startMs: c.pointee.start_ms, endMs: c.pointee.end_ms, amount: c.pointee.amount)
    }
}

extension LineView: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__line_view__init, Pcancel__V1__LineView()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__LineView {
        var c = Pcancel__V1__LineView()
        pcancel__v1__line_view__init(&c)
        c.id = arena.cString(id); c.sku = arena.cString(sku); c.kind = arena.cString(kind); c.parent_line_id = arena.cString(parentLineID)
        c.optional = cBool(optional)
        c.quantity = quantity; c.cancelled_quantity = cancelledQuantity; c.unit_price = unitPrice; c.discount = discount; c.tax_rate_bps = taxRateBps
        if let fulfilment { c.fulfilment = arena.message(fulfilment) }
        if let period { c.period = arena.message(period) }
        c.net = net; c.allocated_discount = allocatedDiscount; c.paid_net = paidNet; c.tax = tax
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__LineView>, reader: FieldReader) throws(WireDecodeError) {
        let p = c.pointee
        self.init()
        id = try reader.string(p.id, "id"); sku = try reader.string(p.sku, "sku"); kind = try reader.string(p.kind, "kind")
        parentLineID = try reader.string(p.parent_line_id, "parent_line_id"); optional = p.optional != 0
        quantity = p.quantity; cancelledQuantity = p.cancelled_quantity; unitPrice = p.unit_price; discount = p.discount; taxRateBps = p.tax_rate_bps
        fulfilment = try reader.message(p.fulfilment, "fulfilment", as: FulfilmentView.self)
        period = try reader.message(p.period, "period", as: PaidPeriodView.self)
        net = p.net; allocatedDiscount = p.allocated_discount; paidNet = p.paid_net; tax = p.tax
    }
}

extension PromotionView: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__promotion_view__init, Pcancel__V1__PromotionView()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__PromotionView {
        var c = Pcancel__V1__PromotionView()
        pcancel__v1__promotion_view__init(&c)
        c.code = arena.cString(code); c.kind = arena.cString(kind)
        c.amount = amount; c.bps = bps; c.min_subtotal = minSubtotal; c.applied = applied
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__PromotionView>, reader: FieldReader) throws(WireDecodeError) {
        self.init()
        code = try reader.string(c.pointee.code, "code"); kind = try reader.string(c.pointee.kind, "kind")
        amount = c.pointee.amount; bps = c.pointee.bps; minSubtotal = c.pointee.min_subtotal; applied = c.pointee.applied
    }
}

extension ShippingView: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__shipping_view__init, Pcancel__V1__ShippingView()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__ShippingView {
        var c = Pcancel__V1__ShippingView()
        pcancel__v1__shipping_view__init(&c)
        c.amount = amount; c.tax_rate_bps = taxRateBps; c.free_over = freeOver; c.charged = charged; c.tax = tax
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__ShippingView>, reader: FieldReader) throws(WireDecodeError) {
        self.init()
        amount = c.pointee.amount; taxRateBps = c.pointee.tax_rate_bps; freeOver = c.pointee.free_over; charged = c.pointee.charged; tax = c.pointee.tax
    }
}

extension TenderView: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__tender_view__init, Pcancel__V1__TenderView()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__TenderView {
        var c = Pcancel__V1__TenderView()
        pcancel__v1__tender_view__init(&c)
        c.id = arena.cString(id); c.kind = arena.cString(kind); c.amount = amount; c.captured = cBool(captured); c.refunded = refunded
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__TenderView>, reader: FieldReader) throws(WireDecodeError) {
        self.init()
        id = try reader.string(c.pointee.id, "id"); kind = try reader.string(c.pointee.kind, "kind")
        amount = c.pointee.amount; captured = c.pointee.captured != 0; refunded = c.pointee.refunded
    }
}

extension TotalsView: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__totals_view__init, Pcancel__V1__TotalsView()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__TotalsView {
        var c = Pcancel__V1__TotalsView()
        pcancel__v1__totals_view__init(&c)
        c.subtotal = subtotal; c.discount = discount; c.paid_net = paidNet; c.tax = tax; c.shipping = shipping; c.shipping_tax = shippingTax; c.total = total
        c.adjustments = adjustments; c.refunded = refunded
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__TotalsView>, reader: FieldReader) throws(WireDecodeError) {
        self.init()
        let p = c.pointee
        subtotal = p.subtotal; discount = p.discount; paidNet = p.paid_net; tax = p.tax; shipping = p.shipping; shippingTax = p.shipping_tax; total = p.total
        adjustments = p.adjustments; refunded = p.refunded
    }
}

extension OrderView: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__order_view__init, Pcancel__V1__OrderView()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__OrderView {
        var c = Pcancel__V1__OrderView()
        pcancel__v1__order_view__init(&c)
        c.id = arena.cString(id); c.channel = arena.cString(channel); c.external_id = arena.cString(externalID)
        c.account = arena.message(account)
        c.status = arena.cString(status); c.currency = arena.cString(currency)
        c.n_lines = lines.count; c.lines = arena.messages(lines)
        c.n_promotions = promotions.count; c.promotions = arena.messages(promotions)
        c.shipping = arena.message(shipping)
        c.n_tenders = tenders.count; c.tenders = arena.messages(tenders)
        c.totals = arena.message(totals)
        c.version = version; c.placed_at_ms = placedAtMs; c.notes = arena.cString(notes)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__OrderView>, reader: FieldReader) throws(WireDecodeError) {
        let p = c.pointee
        self.init()
        id = try reader.string(p.id, "id"); channel = try reader.string(p.channel, "channel"); externalID = try reader.string(p.external_id, "external_id")
        account = try reader.message(p.account, "account", as: AccountView.self) ?? AccountView()
        status = try reader.string(p.status, "status"); currency = try reader.string(p.currency, "currency")
        lines = try reader.messages(p.n_lines, p.lines, "lines", as: LineView.self)
        promotions = try reader.messages(p.n_promotions, p.promotions, "promotions", as: PromotionView.self)
        shipping = try reader.message(p.shipping, "shipping", as: ShippingView.self) ?? ShippingView()
        tenders = try reader.messages(p.n_tenders, p.tenders, "tenders", as: TenderView.self)
        totals = try reader.message(p.totals, "totals", as: TotalsView.self) ?? TotalsView()
        version = p.version; placedAtMs = p.placed_at_ms; notes = try reader.string(p.notes, "notes")
    }
}

extension HistoryEntryView: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__history_entry__init, Pcancel__V1__HistoryEntry()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__HistoryEntry {
        var c = Pcancel__V1__HistoryEntry()
        pcancel__v1__history_entry__init(&c)
        c.seq = seq; c.at_ms = atMs; c.actor = arena.cString(actor); c.event = arena.cString(event); c.detail = arena.cString(detail)
        c.subject = arena.cString(subject); c.from_state = arena.cString(fromState); c.to_state = arena.cString(toState)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__HistoryEntry>, reader: FieldReader) throws(WireDecodeError) {
        self.init(seq: c.pointee.seq, atMs: c.pointee.at_ms, actor: try reader.string(c.pointee.actor, "actor"),
                  event: try reader.string(c.pointee.event, "event"), detail: try reader.string(c.pointee.detail, "detail"),
                  subject: try reader.string(c.pointee.subject, "subject"), fromState: try reader.string(c.pointee.from_state, "from_state"),
                  toState: try reader.string(c.pointee.to_state, "to_state"))
    }
}

extension IngestOrderRequest: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__ingest_order_request__init, Pcancel__V1__IngestOrderRequest()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__IngestOrderRequest {
        var c = Pcancel__V1__IngestOrderRequest()
        pcancel__v1__ingest_order_request__init(&c)
        c.channel = arena.cString(channel); c.payload = arena.binary(payload)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__IngestOrderRequest>, reader: FieldReader) throws(WireDecodeError) {
        self.init(channel: try reader.string(c.pointee.channel, "channel"), payload: try reader.bytes(c.pointee.payload, "payload"))
    }
}

extension IngestOrderResponse: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__ingest_order_response__init, Pcancel__V1__IngestOrderResponse()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__IngestOrderResponse {
        var c = Pcancel__V1__IngestOrderResponse()
        pcancel__v1__ingest_order_response__init(&c)
        c.order = arena.message(order); c.created = cBool(created)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__IngestOrderResponse>, reader: FieldReader) throws(WireDecodeError) {
        self.init(order: try reader.required(c.pointee.order, "order", as: OrderView.self), created: c.pointee.created != 0)
    }
}

extension GetOrderRequest: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__get_order_request__init, Pcancel__V1__GetOrderRequest()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__GetOrderRequest {
        var c = Pcancel__V1__GetOrderRequest()
        pcancel__v1__get_order_request__init(&c)
        c.order_id = arena.cString(orderID)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__GetOrderRequest>, reader: FieldReader) throws(WireDecodeError) {
        self.init(orderID: try reader.string(c.pointee.order_id, "order_id"))
    }
}

extension GetOrderResponse: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__get_order_response__init, Pcancel__V1__GetOrderResponse()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__GetOrderResponse {
        var c = Pcancel__V1__GetOrderResponse()
        pcancel__v1__get_order_response__init(&c)
        c.order = arena.message(order); c.n_history = history.count; c.history = arena.messages(history)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__GetOrderResponse>, reader: FieldReader) throws(WireDecodeError) {
        self.init(order: try reader.required(c.pointee.order, "order", as: OrderView.self),
                  history: try reader.messages(c.pointee.n_history, c.pointee.history, "history", as: HistoryEntryView.self))
    }
}

extension StockPoolView: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__stock_pool_view__init, Pcancel__V1__StockPoolView()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__StockPoolView {
        var c = Pcancel__V1__StockPoolView()
        pcancel__v1__stock_pool_view__init(&c)
        c.sku = arena.cString(sku); c.location = arena.cString(location); c.on_hand = onHand; c.reserved = reserved; c.available = available
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__StockPoolView>, reader: FieldReader) throws(WireDecodeError) {
        self.init(sku: try reader.string(c.pointee.sku, "sku"), location: try reader.string(c.pointee.location, "location"),
                  onHand: c.pointee.on_hand, reserved: c.pointee.reserved, available: c.pointee.available)
    }
}

extension PutStockRequest: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__put_stock_request__init, Pcancel__V1__PutStockRequest()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__PutStockRequest {
        var c = Pcancel__V1__PutStockRequest()
        pcancel__v1__put_stock_request__init(&c)
        c.sku = arena.cString(sku); c.location = arena.cString(location); c.on_hand = onHand
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__PutStockRequest>, reader: FieldReader) throws(WireDecodeError) {
        self.init(sku: try reader.string(c.pointee.sku, "sku"), location: try reader.string(c.pointee.location, "location"), onHand: c.pointee.on_hand)
    }
}

extension PutStockResponse: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__put_stock_response__init, Pcancel__V1__PutStockResponse()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__PutStockResponse {
        var c = Pcancel__V1__PutStockResponse()
        pcancel__v1__put_stock_response__init(&c)
        c.pool = arena.message(pool)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__PutStockResponse>, reader: FieldReader) throws(WireDecodeError) {
        self.init(pool: try reader.required(c.pointee.pool, "pool", as: StockPoolView.self))
    }
}

extension GetStockRequest: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__get_stock_request__init, Pcancel__V1__GetStockRequest()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__GetStockRequest {
        var c = Pcancel__V1__GetStockRequest()
        pcancel__v1__get_stock_request__init(&c)
        c.sku = arena.cString(sku); c.location = arena.cString(location)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__GetStockRequest>, reader: FieldReader) throws(WireDecodeError) {
        self.init(sku: try reader.string(c.pointee.sku, "sku"), location: try reader.string(c.pointee.location, "location"))
    }
}

extension GetStockResponse: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__get_stock_response__init, Pcancel__V1__GetStockResponse()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__GetStockResponse {
        var c = Pcancel__V1__GetStockResponse()
        pcancel__v1__get_stock_response__init(&c)
        c.n_pools = pools.count; c.pools = arena.messages(pools)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__GetStockResponse>, reader: FieldReader) throws(WireDecodeError) {
        self.init(pools: try reader.messages(c.pointee.n_pools, c.pointee.pools, "pools", as: StockPoolView.self))
    }
}

extension DeadLetterView: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__dead_letter_view__init, Pcancel__V1__DeadLetterView()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__DeadLetterView {
        var c = Pcancel__V1__DeadLetterView()
        pcancel__v1__dead_letter_view__init(&c)
        c.id = arena.cString(id); c.kind = arena.cString(kind); c.priority = priority
        c.reason = arena.cString(reason); c.detail = arena.cString(detail); c.subject = arena.cString(subject)
        c.attempts = attempts; c.created_ms = createdMs; c.updated_ms = updatedMs; c.payload = arena.binary(payload)
        c.payload_excerpt = arena.binary(payloadExcerpt); c.payload_bytes = payloadBytes; c.payload_sha256 = arena.cString(payloadSHA256)
        c.state = arena.cString(state); c.resolved_ms = resolvedMs
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__DeadLetterView>, reader: FieldReader) throws(WireDecodeError) {
        let p = c.pointee
        self.init()
        id = try reader.string(p.id, "id"); kind = try reader.string(p.kind, "kind"); priority = p.priority
        reason = try reader.string(p.reason, "reason"); detail = try reader.string(p.detail, "detail"); subject = try reader.string(p.subject, "subject")
        attempts = p.attempts; createdMs = p.created_ms; updatedMs = p.updated_ms; payload = try reader.bytes(p.payload, "payload")
        payloadExcerpt = try reader.bytes(p.payload_excerpt, "payload_excerpt"); payloadBytes = p.payload_bytes
        payloadSHA256 = try reader.string(p.payload_sha256, "payload_sha256"); state = try reader.string(p.state, "state"); resolvedMs = p.resolved_ms
    }
}

extension ListDeadLettersRequest: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__list_dead_letters_request__init, Pcancel__V1__ListDeadLettersRequest()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__ListDeadLettersRequest {
        var c = Pcancel__V1__ListDeadLettersRequest()
        pcancel__v1__list_dead_letters_request__init(&c)
        c.limit = limit; c.cursor = arena.cString(cursor)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__ListDeadLettersRequest>, reader: FieldReader) throws(WireDecodeError) {
        self.init(limit: c.pointee.limit, cursor: try reader.string(c.pointee.cursor, "cursor"))
    }
}

extension ListDeadLettersResponse: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__list_dead_letters_response__init, Pcancel__V1__ListDeadLettersResponse()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__ListDeadLettersResponse {
        var c = Pcancel__V1__ListDeadLettersResponse()
        pcancel__v1__list_dead_letters_response__init(&c)
        c.n_dead_letters = deadLetters.count; c.dead_letters = arena.messages(deadLetters); c.next_cursor = arena.cString(nextCursor)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__ListDeadLettersResponse>, reader: FieldReader) throws(WireDecodeError) {
        self.init(deadLetters: try reader.messages(c.pointee.n_dead_letters, c.pointee.dead_letters, "dead_letters", as: DeadLetterView.self),
                  nextCursor: try reader.string(c.pointee.next_cursor, "next_cursor"))
    }
}

extension RedriveDeadLetterRequest: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__redrive_dead_letter_request__init, Pcancel__V1__RedriveDeadLetterRequest()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__RedriveDeadLetterRequest {
        var c = Pcancel__V1__RedriveDeadLetterRequest()
        pcancel__v1__redrive_dead_letter_request__init(&c)
        c.id = arena.cString(id)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__RedriveDeadLetterRequest>, reader: FieldReader) throws(WireDecodeError) {
        self.init(id: try reader.string(c.pointee.id, "id"))
    }
}

extension RedriveDeadLetterResponse: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__redrive_dead_letter_response__init, Pcancel__V1__RedriveDeadLetterResponse()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__RedriveDeadLetterResponse {
        var c = Pcancel__V1__RedriveDeadLetterResponse()
        pcancel__v1__redrive_dead_letter_response__init(&c)
        c.resolved = cBool(resolved)
        if let order { c.order = arena.message(order) }
        if let deadLetter { c.dead_letter = arena.message(deadLetter) }
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__RedriveDeadLetterResponse>, reader: FieldReader) throws(WireDecodeError) {
        self.init(resolved: c.pointee.resolved != 0, order: try reader.message(c.pointee.order, "order", as: OrderView.self),
                  deadLetter: try reader.message(c.pointee.dead_letter, "dead_letter", as: DeadLetterView.self))
    }
}

extension ShardHealthView: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__shard_health__init, Pcancel__V1__ShardHealth()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__ShardHealth {
        var c = Pcancel__V1__ShardHealth()
        pcancel__v1__shard_health__init(&c)
        c.index = index; c.open = cBool(open); c.queue_depth = queueDepth; c.outbox_backlog = outboxBacklog; c.dead_letters = deadLetters; c.orders = orders
        c.outbox_oldest_age_ms = outboxOldestAgeMs; c.email_backlog = emailBacklog; c.email_oldest_age_ms = emailOldestAgeMs
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__ShardHealth>, reader: FieldReader) throws(WireDecodeError) {
        self.init(index: c.pointee.index, open: c.pointee.open != 0, queueDepth: c.pointee.queue_depth, outboxBacklog: c.pointee.outbox_backlog,
                  deadLetters: c.pointee.dead_letters, orders: c.pointee.orders, outboxOldestAgeMs: c.pointee.outbox_oldest_age_ms,
                  emailBacklog: c.pointee.email_backlog, emailOldestAgeMs: c.pointee.email_oldest_age_ms)
    }
}

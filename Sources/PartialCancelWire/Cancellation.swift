import CPartialCancelProto
import NIOCore

// Wire forms of eligibility and quotes (cancellation.proto).

public struct CancelLine: Sendable, Hashable {
    public var lineID: String
    /// 0: all remaining units.
    public var quantity: Int64
    public init(lineID: String, quantity: Int64 = 0) { self.lineID = lineID; self.quantity = quantity }
}

public struct ValidateEligibilityRequest: Sendable, Hashable {
    public var orderID: String
    public var lines: [CancelLine]
    public var storeCredit: Bool
    public init(orderID: String, lines: [CancelLine], storeCredit: Bool = false) { self.orderID = orderID; self.lines = lines; self.storeCredit = storeCredit }
}

public struct EligibilityReasonView: Sendable, Hashable {
    public var code: String, rule: String, detail: String
    public init(code: String, rule: String, detail: String) { self.code = code; self.rule = rule; self.detail = detail }
}

public struct LineEligibility: Sendable, Hashable {
    public var lineID: String
    public var quantity: Int64
    public var eligible: Bool
    public var reasons: [EligibilityReasonView]
    public init(lineID: String, quantity: Int64, eligible: Bool, reasons: [EligibilityReasonView]) {
        self.lineID = lineID; self.quantity = quantity; self.eligible = eligible; self.reasons = reasons
    }
}

public struct LineRefundView: Sendable, Hashable {
    public var lineID: String, quantity: Int64, net: Int64, tax: Int64, viaBundle: String
    public init(lineID: String, quantity: Int64, net: Int64, tax: Int64, viaBundle: String = "") {
        self.lineID = lineID; self.quantity = quantity; self.net = net; self.tax = tax; self.viaBundle = viaBundle
    }
}

public struct DeductionView: Sendable, Hashable {
    public var code: String, subject: String, amount: Int64
    public init(code: String, subject: String, amount: Int64) { self.code = code; self.subject = subject; self.amount = amount }
}

public struct TenderAllocationView: Sendable, Hashable {
    public var tenderID: String, method: String, amount: Int64
    public init(tenderID: String, method: String, amount: Int64) { self.tenderID = tenderID; self.method = method; self.amount = amount }
}

public struct QuoteView: Sendable, Hashable {
    public var orderID = "", currency = "", policy = ""
    public var orderVersion: Int64 = 0, asOfMs: Int64 = 0
    public var lines: [LineRefundView] = []
    public var shippingRefund: Int64 = 0
    public var deductions: [DeductionView] = []
    public var waived: Int64 = 0, adjustmentsReleased: Int64 = 0, refundTotal: Int64 = 0
    public var tenders: [TenderAllocationView] = []
    public var newTotals = TotalsView()
    public init() {}
}

public struct ValidateEligibilityResponse: Sendable, Hashable {
    public var eligible: Bool
    public var lines: [LineEligibility]
    public var quote: QuoteView?
    public init(eligible: Bool, lines: [LineEligibility], quote: QuoteView?) { self.eligible = eligible; self.lines = lines; self.quote = quote }
}

extension CancelLine: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__cancel_line__init, Pcancel__V1__CancelLine()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__CancelLine {
        var c = Pcancel__V1__CancelLine()
        pcancel__v1__cancel_line__init(&c)
        c.line_id = arena.cString(lineID); c.quantity = quantity
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__CancelLine>, reader: FieldReader) throws(WireDecodeError) {
        self.init(lineID: try reader.string(c.pointee.line_id, "line_id"), quantity: c.pointee.quantity)
    }
}

extension ValidateEligibilityRequest: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__validate_eligibility_request__init, Pcancel__V1__ValidateEligibilityRequest()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__ValidateEligibilityRequest {
        var c = Pcancel__V1__ValidateEligibilityRequest()
        pcancel__v1__validate_eligibility_request__init(&c)
        c.order_id = arena.cString(orderID); c.n_lines = lines.count; c.lines = arena.messages(lines); c.store_credit = cBool(storeCredit)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__ValidateEligibilityRequest>, reader: FieldReader) throws(WireDecodeError) {
        self.init(orderID: try reader.string(c.pointee.order_id, "order_id"),
                  lines: try reader.messages(c.pointee.n_lines, c.pointee.lines, "lines", as: CancelLine.self), storeCredit: c.pointee.store_credit != 0)
    }
}

extension EligibilityReasonView: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__eligibility_reason_view__init, Pcancel__V1__EligibilityReasonView()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__EligibilityReasonView {
        var c = Pcancel__V1__EligibilityReasonView()
        pcancel__v1__eligibility_reason_view__init(&c)
        c.code = arena.cString(code); c.rule = arena.cString(rule); c.detail = arena.cString(detail)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__EligibilityReasonView>, reader: FieldReader) throws(WireDecodeError) {
        self.init(code: try reader.string(c.pointee.code, "code"), rule: try reader.string(c.pointee.rule, "rule"), detail: try reader.string(c.pointee.detail, "detail"))
    }
}

extension LineEligibility: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__line_eligibility__init, Pcancel__V1__LineEligibility()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__LineEligibility {
        var c = Pcancel__V1__LineEligibility()
        pcancel__v1__line_eligibility__init(&c)
        c.line_id = arena.cString(lineID); c.quantity = quantity; c.eligible = cBool(eligible)
        c.n_reasons = reasons.count; c.reasons = arena.messages(reasons)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__LineEligibility>, reader: FieldReader) throws(WireDecodeError) {
        self.init(lineID: try reader.string(c.pointee.line_id, "line_id"), quantity: c.pointee.quantity, eligible: c.pointee.eligible != 0,
                  reasons: try reader.messages(c.pointee.n_reasons, c.pointee.reasons, "reasons", as: EligibilityReasonView.self))
    }
}

extension LineRefundView: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__line_refund_view__init, Pcancel__V1__LineRefundView()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__LineRefundView {
        var c = Pcancel__V1__LineRefundView()
        pcancel__v1__line_refund_view__init(&c)
        c.line_id = arena.cString(lineID); c.quantity = quantity; c.net = net; c.tax = tax; c.via_bundle = arena.cString(viaBundle)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__LineRefundView>, reader: FieldReader) throws(WireDecodeError) {
        self.init(lineID: try reader.string(c.pointee.line_id, "line_id"), quantity: c.pointee.quantity, net: c.pointee.net, tax: c.pointee.tax,
                  viaBundle: try reader.string(c.pointee.via_bundle, "via_bundle"))
    }
}

extension DeductionView: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__deduction_view__init, Pcancel__V1__DeductionView()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__DeductionView {
        var c = Pcancel__V1__DeductionView()
        pcancel__v1__deduction_view__init(&c)
        c.code = arena.cString(code); c.subject = arena.cString(subject); c.amount = amount
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__DeductionView>, reader: FieldReader) throws(WireDecodeError) {
        self.init(code: try reader.string(c.pointee.code, "code"), subject: try reader.string(c.pointee.subject, "subject"), amount: c.pointee.amount)
    }
}

extension TenderAllocationView: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__tender_allocation_view__init, Pcancel__V1__TenderAllocationView()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__TenderAllocationView {
        var c = Pcancel__V1__TenderAllocationView()
        pcancel__v1__tender_allocation_view__init(&c)
        c.tender_id = arena.cString(tenderID); c.method = arena.cString(method); c.amount = amount
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__TenderAllocationView>, reader: FieldReader) throws(WireDecodeError) {
        self.init(tenderID: try reader.string(c.pointee.tender_id, "tender_id"), method: try reader.string(c.pointee.method, "method"), amount: c.pointee.amount)
    }
}

extension QuoteView: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__quote_view__init, Pcancel__V1__QuoteView()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__QuoteView {
        var c = Pcancel__V1__QuoteView()
        pcancel__v1__quote_view__init(&c)
        c.order_id = arena.cString(orderID); c.order_version = orderVersion; c.currency = arena.cString(currency); c.policy = arena.cString(policy)
        c.as_of_ms = asOfMs; c.n_lines = lines.count; c.lines = arena.messages(lines); c.shipping_refund = shippingRefund
        c.n_deductions = deductions.count; c.deductions = arena.messages(deductions); c.waived = waived
        c.adjustments_released = adjustmentsReleased; c.refund_total = refundTotal
        c.n_tenders = tenders.count; c.tenders = arena.messages(tenders); c.new_totals = arena.message(newTotals)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__QuoteView>, reader: FieldReader) throws(WireDecodeError) {
        let p = c.pointee
        self.init()
        orderID = try reader.string(p.order_id, "order_id"); orderVersion = p.order_version
        currency = try reader.string(p.currency, "currency"); policy = try reader.string(p.policy, "policy"); asOfMs = p.as_of_ms
        lines = try reader.messages(p.n_lines, p.lines, "lines", as: LineRefundView.self); shippingRefund = p.shipping_refund
        deductions = try reader.messages(p.n_deductions, p.deductions, "deductions", as: DeductionView.self)
        waived = p.waived; adjustmentsReleased = p.adjustments_released; refundTotal = p.refund_total
        tenders = try reader.messages(p.n_tenders, p.tenders, "tenders", as: TenderAllocationView.self)
        newTotals = try reader.message(p.new_totals, "new_totals", as: TotalsView.self) ?? TotalsView()
    }
}

extension ValidateEligibilityResponse: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__validate_eligibility_response__init, Pcancel__V1__ValidateEligibilityResponse()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__ValidateEligibilityResponse {
        var c = Pcancel__V1__ValidateEligibilityResponse()
        pcancel__v1__validate_eligibility_response__init(&c)
        c.eligible = cBool(eligible); c.n_lines = lines.count; c.lines = arena.messages(lines)
        if let quote { c.quote = arena.message(quote) }
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__ValidateEligibilityResponse>, reader: FieldReader) throws(WireDecodeError) {
        self.init(eligible: c.pointee.eligible != 0, lines: try reader.messages(c.pointee.n_lines, c.pointee.lines, "lines", as: LineEligibility.self),
                  quote: try reader.message(c.pointee.quote, "quote", as: QuoteView.self))
    }
}

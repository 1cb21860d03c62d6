/// Order status (SPEC section 4).
public enum OrderStatus: String, Sendable, Hashable, CaseIterable, Codable {
    case pending = "PENDING"
    case confirmed = "CONFIRMED"
    case shipped = "SHIPPED"
    case cancelled = "CANCELLED"
}

public enum LineKind: String, Sendable, Hashable, CaseIterable, Codable {
    case goods = "GOODS"
    case service = "SERVICE"
    case bundle = "BUNDLE"
    case bundleComponent = "BUNDLE_COMPONENT"
    case subscriptionService = "SUBSCRIPTION_SERVICE"
}

public enum FulfilmentNode: String, Sendable, Hashable, CaseIterable, Codable {
    case own = "OWN"
    case store = "STORE"
    case thirdPartyLogistics = "THIRD_PARTY_LOGISTICS"
    case dropship = "DROPSHIP"
}

public enum FulfilmentStatus: String, Sendable, Hashable, CaseIterable, Codable {
    case reserved = "RESERVED"
    case releasedToWarehouse = "RELEASED_TO_WAREHOUSE"
    case picked = "PICKED"
    case shipped = "SHIPPED"
}

public struct Fulfilment: Sendable, Hashable, Codable {
    public var location: String
    public var node: FulfilmentNode
    public var status: FulfilmentStatus
    /// For 3PL and dropship nodes: whether the partner still accepts a cancellation.
    public var partnerAcceptsCancel: Bool

    public init(location: String, node: FulfilmentNode, status: FulfilmentStatus, partnerAcceptsCancel: Bool = true) {
        self.location = location
        self.node = node
        self.status = status
        self.partnerAcceptsCancel = partnerAcceptsCancel
    }
}

/// The current paid period of a subscription service line, in Unix milliseconds.
public struct PaidPeriod: Sendable, Hashable, Codable {
    public var startMs: Int64
    public var endMs: Int64
    /// What the period cost: the line's paid net.
    public var amount: Int64

    public init(startMs: Int64, endMs: Int64, amount: Int64) {
        self.startMs = startMs
        self.endMs = endMs
        self.amount = amount
    }
}

public struct Line: Sendable, Hashable, Codable {
    public var id: String
    public var sku: String
    public var kind: LineKind
    /// The bundle this component belongs to.
    public var parentLineID: String?
    /// Components only: may it be cancelled without its bundle?
    public var optional: Bool
    public var quantity: Int64
    public var cancelledQuantity: Int64
    /// Price of one unit; for components, the list price used to split the bundle's price.
    public var unitPrice: Int64
    public var discount: Int64
    public var taxRateBps: Int64
    public var fulfilment: Fulfilment?
    public var period: PaidPeriod?
    // Priced at intake (SPEC section 5).
    /// unit price × quantity − line discount (0 for components).
    public var net: Int64
    /// Order-level promotions allocated to this line (for components: the share of the bundle's).
    public var allocatedDiscount: Int64
    /// What the customer pays for the line before tax.
    public var paidNet: Int64
    public var tax: Int64
    /// This line's share of each order promotion, in the order of `Order.promotions` (priced lines).
    public var promotionShares: [Int64] = []
    /// Subscription service lines: no further renewals once cancelled.
    public var renewalStopped = false

    public init(
        id: String,
        sku: String,
        kind: LineKind,
        parentLineID: String? = nil,
        optional: Bool = false,
        quantity: Int64,
        cancelledQuantity: Int64 = 0,
        unitPrice: Int64,
        discount: Int64 = 0,
        taxRateBps: Int64 = 0,
        fulfilment: Fulfilment? = nil,
        period: PaidPeriod? = nil,
        net: Int64 = 0,
        allocatedDiscount: Int64 = 0,
        paidNet: Int64 = 0,
        tax: Int64 = 0
    ) {
        self.id = id
        self.sku = sku
        self.kind = kind
        self.parentLineID = parentLineID
        self.optional = optional
        self.quantity = quantity
        self.cancelledQuantity = cancelledQuantity
        self.unitPrice = unitPrice
        self.discount = discount
        self.taxRateBps = taxRateBps
        self.fulfilment = fulfilment
        self.period = period
        self.net = net
        self.allocatedDiscount = allocatedDiscount
        self.paidNet = paidNet
        self.tax = tax
    }

    public var remainingQuantity: Int64 { quantity - cancelledQuantity }
    /// Lines priced on their own (everything but bundle components).
    public var isPriced: Bool { kind != .bundleComponent }
    /// Lines that ship (and so hold stock and decide whether shipping is refunded).
    public var isShippable: Bool { kind == .goods || kind == .bundle || kind == .bundleComponent }
}

public enum PromotionKind: Sendable, Hashable, Codable {
    case amountOff(Int64)
    case percentOff(bps: Int64)
}

public struct Promotion: Sendable, Hashable, Codable {
    public var code: String
    public var kind: PromotionKind
    public var minSubtotal: Int64
    /// The discount it gave at intake (0 when its threshold was not met).
    public var applied: Int64
    /// Withdrawn by a `reprice` cancellation (its threshold no longer met).
    public var withdrawn = false

    public init(code: String, kind: PromotionKind, minSubtotal: Int64 = 0, applied: Int64 = 0) {
        self.code = code
        self.kind = kind
        self.minSubtotal = minSubtotal
        self.applied = applied
    }
}

public struct Shipping: Sendable, Hashable, Codable {
    /// The charge before any free-shipping rule.
    public var amount: Int64
    public var taxRateBps: Int64
    /// Free when > 0 and the subtotal reaches it.
    public var freeOver: Int64
    /// What is charged (0 when free) and its tax.
    public var charged: Int64
    public var tax: Int64
    /// Charge and tax refunded so far.
    public var refunded: Int64 = 0
    /// Free shipping withdrawn by a `reprice` cancellation (its threshold no longer met).
    public var freeWithdrawn = false

    public init(amount: Int64 = 0, taxRateBps: Int64 = 0, freeOver: Int64 = 0, charged: Int64 = 0, tax: Int64 = 0) {
        self.amount = amount
        self.taxRateBps = taxRateBps
        self.freeOver = freeOver
        self.charged = charged
        self.tax = tax
    }
}

public enum TenderKind: String, Sendable, Hashable, CaseIterable, Codable {
    case card = "CARD"
    case paypal = "PAYPAL"
    case giftCard = "GIFT_CARD"
    case storeCredit = "STORE_CREDIT"
    case bnpl = "BNPL"
    case cashOnDelivery = "CASH_ON_DELIVERY"
}

public struct Tender: Sendable, Hashable, Codable {
    public var id: String
    public var kind: TenderKind
    public var amount: Int64
    /// false: authorised only (a refund becomes an authorisation reduction).
    public var captured: Bool
    public var refunded: Int64

    public init(id: String, kind: TenderKind, amount: Int64, captured: Bool, refunded: Int64 = 0) {
        self.id = id
        self.kind = kind
        self.amount = amount
        self.captured = captured
        self.refunded = refunded
    }
}

public struct Totals: Sendable, Hashable, Codable {
    /// Σ line nets.
    public var subtotal: Int64
    /// Σ promotion discounts.
    public var discount: Int64
    /// Σ line paid nets.
    public var paidNet: Int64
    /// Σ line taxes.
    public var tax: Int64
    public var shipping: Int64
    public var shippingTax: Int64
    /// What the customer pays now: at intake Σ (paid net + tax) + shipping + shipping tax; each
    /// confirmed cancellation lowers it by exactly its refund.
    public var total: Int64
    /// Reprice deductions the order keeps (withdrawn promotions, charged shipping); refunded when the
    /// last unit is cancelled.
    public var adjustments: Int64 = 0
    /// Σ refunds so far.
    public var refunded: Int64 = 0

    public init(
        subtotal: Int64 = 0,
        discount: Int64 = 0,
        paidNet: Int64 = 0,
        tax: Int64 = 0,
        shipping: Int64 = 0,
        shippingTax: Int64 = 0,
        total: Int64 = 0
    ) {
        self.subtotal = subtotal
        self.discount = discount
        self.paidNet = paidNet
        self.tax = tax
        self.shipping = shipping
        self.shippingTax = shippingTax
        self.total = total
    }
}

public struct Account: Sendable, Hashable, Codable {
    public var id: String
    public var tier: String
    public var email: String

    public init(id: String, tier: String, email: String) {
        self.id = id
        self.tier = tier
        self.email = email
    }
}

/// The canonical order every channel's payload becomes (SPEC section 4).
public struct Order: Sendable, Hashable, Codable {
    public var id: String
    public var channel: String
    public var externalID: String
    public var account: Account
    public var status: OrderStatus
    public var currency: Currency
    public var lines: [Line]
    public var promotions: [Promotion]
    public var shipping: Shipping
    public var tenders: [Tender]
    public var totals: Totals
    public var version: Int64
    public var placedAtMs: Int64
    /// Free text the channel attached (e.g. a call-center agent's notes).
    public var notes: String
    /// Store credit issued by refunds (cash on delivery, or the agent's choice).
    public var storeCreditIssued: Int64 = 0

    public init(
        id: String,
        channel: String,
        externalID: String,
        account: Account,
        status: OrderStatus,
        currency: Currency,
        lines: [Line],
        promotions: [Promotion],
        shipping: Shipping,
        tenders: [Tender],
        totals: Totals,
        version: Int64 = 1,
        placedAtMs: Int64,
        notes: String = ""
    ) {
        self.id = id
        self.channel = channel
        self.externalID = externalID
        self.account = account
        self.status = status
        self.currency = currency
        self.lines = lines
        self.promotions = promotions
        self.shipping = shipping
        self.tenders = tenders
        self.totals = totals
        self.version = version
        self.placedAtMs = placedAtMs
        self.notes = notes
    }

    public func line(_ id: String) -> Line? { lines.first { $0.id == id } }

    /// The id of the order a channel's external id becomes: `CHANNEL-EXTERNALID`.
    public static func id(channel: String, externalID: String) -> String { "\(channel)-\(externalID)" }
}

extension Order {
    /// Records a line's fulfilment status (and, from a 3PL or dropship partner, whether it still
    /// accepts cancellation); a bundle's components share their bundle's fulfilment. The order is
    /// SHIPPED once every line with fulfilment that still has units has shipped and at least one
    /// line shipped.
    public mutating func recordFulfilment(lineID: String, status: FulfilmentStatus, partnerAcceptsCancel: Bool? = nil) {
        for index in lines.indices where lines[index].id == lineID || lines[index].parentLineID == lineID {
            lines[index].fulfilment?.status = status
            if let partnerAcceptsCancel { lines[index].fulfilment?.partnerAcceptsCancel = partnerAcceptsCancel }
        }
        if isFullyShipped { self.status = .shipped }
    }

    /// Every line with fulfilment that still has units has shipped, and at least one line shipped.
    public var isFullyShipped: Bool {
        lines.allSatisfy { $0.fulfilment == nil || $0.fulfilment?.status == .shipped || $0.remainingQuantity == 0 }
            && lines.contains { $0.fulfilment?.status == .shipped }
    }
}

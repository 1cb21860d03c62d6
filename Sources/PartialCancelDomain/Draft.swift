/// What a channel adapter makes of a payload: the canonical order's fields before pricing. Paths
/// point back into the payload, so that rules checked after mapping still name the channel's own
/// field (`items[2].discount`, `payments`).
public struct OrderDraft: Sendable, Hashable {
    public var channel: String
    public var externalID: String
    public var account: Account
    public var status: OrderStatus
    public var currency: Currency
    public var placedAtMs: Int64
    public var lines: [DraftLine]
    public var promotions: [Promotion]
    public var shipping: Shipping
    public var tenders: [DraftTender]
    public var notes: String
    /// Path of the tender list in the payload.
    public var tendersPath: String

    public init(
        channel: String,
        externalID: String,
        account: Account,
        status: OrderStatus,
        currency: Currency,
        placedAtMs: Int64,
        lines: [DraftLine],
        promotions: [Promotion],
        shipping: Shipping,
        tenders: [DraftTender],
        notes: String = "",
        tendersPath: String
    ) {
        self.channel = channel
        self.externalID = externalID
        self.account = account
        self.status = status
        self.currency = currency
        self.placedAtMs = placedAtMs
        self.lines = lines
        self.promotions = promotions
        self.shipping = shipping
        self.tenders = tenders
        self.notes = notes
        self.tendersPath = tendersPath
    }
}

/// A priced line as the channel gave it; bundles carry their components.
public struct DraftLine: Sendable, Hashable {
    public var id: String
    public var sku: String
    /// `goods`, `service`, `bundle` or `subscriptionService`; components are in `components`.
    public var kind: LineKind
    public var quantity: Int64
    public var unitPrice: Int64
    public var discount: Int64
    public var taxRateBps: Int64
    public var fulfilment: Fulfilment?
    /// Subscription service lines: the current paid period (Unix ms).
    public var period: (start: Int64, end: Int64)?
    public var components: [DraftComponent]
    /// Path of this line in the payload (`lines[2]`), and of its discount field.
    public var path: String
    public var discountPath: String

    public init(
        id: String,
        sku: String,
        kind: LineKind,
        quantity: Int64,
        unitPrice: Int64,
        discount: Int64 = 0,
        taxRateBps: Int64 = 0,
        fulfilment: Fulfilment? = nil,
        period: (start: Int64, end: Int64)? = nil,
        components: [DraftComponent] = [],
        path: String,
        discountPath: String? = nil
    ) {
        self.id = id
        self.sku = sku
        self.kind = kind
        self.quantity = quantity
        self.unitPrice = unitPrice
        self.discount = discount
        self.taxRateBps = taxRateBps
        self.fulfilment = fulfilment
        self.period = period
        self.components = components
        self.path = path
        self.discountPath = discountPath ?? "\(path).discount"
    }

    public static func == (a: DraftLine, b: DraftLine) -> Bool {
        a.id == b.id && a.sku == b.sku && a.kind == b.kind && a.quantity == b.quantity && a.unitPrice == b.unitPrice
            && a.discount == b.discount && a.taxRateBps == b.taxRateBps && a.fulfilment == b.fulfilment
            && a.period?.start == b.period?.start && a.period?.end == b.period?.end && a.components == b.components
            && a.path == b.path && a.discountPath == b.discountPath
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(id)
        hasher.combine(path)
    }
}

public struct DraftComponent: Sendable, Hashable {
    public var id: String
    public var sku: String
    public var listPrice: Int64
    public var optional: Bool
    /// Components ship with their bundle; they inherit its fulfilment unless the channel says otherwise.
    public var fulfilment: Fulfilment?
    public var path: String

    public init(id: String, sku: String, listPrice: Int64, optional: Bool, fulfilment: Fulfilment? = nil, path: String)
    {
        self.id = id
        self.sku = sku
        self.listPrice = listPrice
        self.optional = optional
        self.fulfilment = fulfilment
        self.path = path
    }
}

public struct DraftTender: Sendable, Hashable {
    public var id: String
    public var kind: TenderKind
    /// 0 on the last tender: the rest of the total.
    public var amount: Int64
    public var captured: Bool
    public var path: String

    public init(id: String, kind: TenderKind, amount: Int64, captured: Bool, path: String) {
        self.id = id
        self.kind = kind
        self.amount = amount
        self.captured = captured
        self.path = path
    }
}

/// Bounds on what intake accepts. They keep every sum and product of money far inside `Int64`
/// and bound the work one payload can cause.
public struct IntakeLimits: Sendable, Hashable {
    public var maxLines: Int = 500
    public var maxComponentsPerBundle: Int = 50
    public var maxPromotions: Int = 20
    public var maxTenders: Int = 10
    public var maxQuantity: Int64 = 1_000_000
    /// Largest unit price, shipping charge or promotion amount, in minor units.
    public var maxAmount: Int64 = 100_000_000_000
    public var maxIDBytes: Int = 64
    /// How far in the future (by the server's clock) an order's placing time may be: clock skew
    /// between a channel and the server, not orders from tomorrow. 24 hours.
    public var maxPlacedAtSkewMs: Int64 = 86_400_000
    /// No order was placed before 2000-01-01T00:00:00Z.
    public static let earliestPlacedAtMs: Int64 = 946_684_800_000

    /// Channel and account-tier rules (from the server's config), checked on the priced order.
    public var rules: [IntakeRule] = []

    public init() {}
    public static let `default` = IntakeLimits()
}

/// A rule for one channel and account tier (`*` matches any). Every refusal names the rule, so a
/// rule that refuses good orders can be found and tuned.
public struct IntakeRule: Sendable, Hashable {
    public var channel: String
    public var tier: String
    /// Orders above this total (minor units) are refused.
    public var maxOrderTotal: Int64

    public init(channel: String, tier: String, maxOrderTotal: Int64) {
        self.channel = channel
        self.tier = tier
        self.maxOrderTotal = maxOrderTotal
    }

    public var name: String { "\(channel)/\(tier)/max_order_total" }

    func applies(to order: Order) -> Bool {
        (channel == "*" || channel == order.channel) && (tier == "*" || tier == order.account.tier)
    }
}

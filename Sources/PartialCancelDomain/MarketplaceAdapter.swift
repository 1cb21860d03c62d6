/// A marketplace's feed: a flat `items` list (bundle parts point to their bundle by `bundle_item_id`),
/// money as decimal strings in the order's currency, upper-case vocabulary of its own.
public struct MarketplaceAdapter: ChannelAdapter {
    public let channel = "marketplace"
    public let externalIDField = "marketplace_order_id"
    public let placedAtField = "created_at"
    public init() {}

    static let states: [String: OrderStatus] = [
        "PENDING_ACCEPTANCE": .pending, "ACCEPTED": .confirmed, "SHIPPED": .shipped, "CANCELED": .cancelled,
    ]
    static let types: [String: LineKind] = [
        "PRODUCT": .goods, "SERVICE": .service, "BUNDLE": .bundle, "BUNDLE_PART": .bundleComponent,
        "SUBSCRIPTION": .subscriptionService,
    ]
    static let channels: [String: FulfilmentNode] = [
        "MERCHANT": .own, "STORE": .store, "FBA": .thirdPartyLogistics, "DROPSHIP": .dropship,
    ]
    static let fulfilmentStates: [String: FulfilmentStatus] = [
        "RESERVED": .reserved, "RELEASED": .releasedToWarehouse, "PICKED": .picked, "SHIPPED": .shipped,
    ]
    static let methods: [String: TenderKind] = [
        "CARD": .card, "PAYPAL": .paypal, "GIFT_CARD": .giftCard, "STORE_CREDIT": .storeCredit, "BNPL": .bnpl,
        "COD": .cashOnDelivery,
    ]

    public func draft(from payload: JSONReader, limits: IntakeLimits) throws(DomainError) -> OrderDraft {
        let currency = try payload.currency("currency_code")
        let max = limits.maxAmount
        var lines: [DraftLine] = []
        var parts: [(bundle: String, part: DraftComponent, path: String)] = []
        for item in try payload.objects("items", maxCount: limits.maxLines * (1 + limits.maxComponentsPerBundle)) {
            let type = try item.choice("type", Self.types)
            let id = try item.identifier("item_id", maxBytes: limits.maxIDBytes)
            let sku = try item.identifier("sku", maxBytes: limits.maxIDBytes)
            if type == .bundleComponent {
                parts.append(
                    (
                        try item.identifier("bundle_item_id", maxBytes: limits.maxIDBytes),
                        DraftComponent(
                            id: id,
                            sku: sku,
                            listPrice: try item.decimalAmount("list_price", currency: currency, max: max)!,
                            optional: try item.optionalBool("optional") ?? false,
                            path: item.path
                        ),
                        item.path
                    )
                )
                continue
            }
            var period: (start: Int64, end: Int64)?
            if type == .subscriptionService { period = (try item.time("period_start"), try item.time("period_end")) }
            var fulfilment: Fulfilment?
            if type == .goods || type == .bundle || item.has("warehouse") {
                fulfilment = Fulfilment(
                    location: try item.identifier("warehouse", maxBytes: limits.maxIDBytes),
                    node: try item.choice("fulfilment_channel", Self.channels),
                    status: try item.choice("fulfilment_state", Self.fulfilmentStates),
                    partnerAcceptsCancel: try item.optionalBool("partner_cancellable") ?? true
                )
            }
            lines.append(
                DraftLine(
                    id: id,
                    sku: sku,
                    kind: type,
                    quantity: try item.int("qty", in: 1...limits.maxQuantity),
                    unitPrice: try item.decimalAmount("price", currency: currency, max: max)!,
                    discount: try item.decimalAmount(
                        "discount",
                        currency: currency,
                        max: Int64.max / 4,
                        required: false
                    ) ?? 0,
                    taxRateBps: try item.percentBps("vat_percent"),
                    fulfilment: fulfilment,
                    period: period,
                    path: item.path,
                    discountPath: item.path("discount")
                )
            )
        }
        for (bundleID, part, path) in parts {
            guard let index = lines.firstIndex(where: { $0.id == bundleID && $0.kind == .bundle }) else {
                throw DomainError(
                    .inconsistent,
                    path: "\(path).bundle_item_id",
                    "no BUNDLE item has item_id '\(bundleID)'"
                )
            }
            guard lines[index].components.count < limits.maxComponentsPerBundle else {
                throw DomainError(
                    .outOfRange,
                    path: path,
                    "bundle '\(bundleID)' has more than \(limits.maxComponentsPerBundle) parts"
                )
            }
            lines[index].components.append(part)
        }
        if lines.isEmpty {
            throw DomainError(
                .outOfRange,
                path: payload.path("items"),
                "must have at least one item that is not a BUNDLE_PART"
            )
        }

        var promotions: [Promotion] = []
        for coupon in try payload.objects("coupons", required: false, maxCount: limits.maxPromotions) {
            let kind: PromotionKind
            if coupon.has("fixed") {
                kind = .amountOff(try coupon.decimalAmount("fixed", currency: currency, max: max)!)
            } else if coupon.has("percent") {
                kind = .percentOff(bps: try coupon.percentBps("percent"))
            } else {
                throw DomainError(.missingField, path: coupon.path("fixed"), "a coupon needs 'fixed' or 'percent'")
            }
            promotions.append(
                Promotion(
                    code: try coupon.string("code", maxLength: limits.maxIDBytes),
                    kind: kind,
                    minSubtotal: try coupon.decimalAmount(
                        "min_order",
                        currency: currency,
                        max: Int64.max / 4,
                        required: false
                    ) ?? 0
                )
            )
        }

        let shipping = Shipping(
            amount: try payload.decimalAmount("shipping_fee", currency: currency, max: max, required: false) ?? 0,
            taxRateBps: payload.has("shipping_vat_percent") ? try payload.percentBps("shipping_vat_percent") : 0,
            freeOver: try payload.decimalAmount(
                "free_shipping_from",
                currency: currency,
                max: Int64.max / 4,
                required: false
            ) ?? 0
        )

        var tenders: [DraftTender] = []
        for payment in try payload.objects("payments", maxCount: limits.maxTenders) {
            tenders.append(
                DraftTender(
                    id: try payment.identifier("payment_id", maxBytes: limits.maxIDBytes),
                    kind: try payment.choice("method", Self.methods),
                    amount: try payment.decimalAmount("amount", currency: currency, max: Int64.max / 4)!,
                    captured: try payment.choice("status", ["CAPTURED": true, "AUTHORIZED": false]),
                    path: payment.path
                )
            )
        }
        if tenders.isEmpty {
            throw DomainError(.outOfRange, path: payload.path("payments"), "must have at least one payment")
        }

        return OrderDraft(
            channel: channel,
            externalID: try payload.identifier(externalIDField, maxBytes: limits.maxIDBytes),
            account: Account(
                id: try payload.identifier("buyer_id", maxBytes: limits.maxIDBytes),
                tier: try payload.optionalString("buyer_tier", maxLength: 32) ?? "standard",
                email: try payload.email("buyer_email")
            ),
            status: try payload.choice("order_state", Self.states),
            currency: currency,
            placedAtMs: try payload.time(placedAtField),
            lines: lines,
            promotions: promotions,
            shipping: shipping,
            tenders: tenders,
            tendersPath: payload.path("payments")
        )
    }
}

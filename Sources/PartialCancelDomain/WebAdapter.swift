/// The storefront's own channel: SPEC appendix A. Nested lines with components inside bundles,
/// money in minor units, lower-case vocabulary.
public struct WebAdapter: ChannelAdapter {
    public let channel = "web"
    public let externalIDField = "external_id"
    public let placedAtField = "placed_at"
    public init() {}

    static let statuses: [String: OrderStatus] = [
        "pending": .pending, "confirmed": .confirmed, "shipped": .shipped, "cancelled": .cancelled,
    ]
    static let kinds: [String: LineKind] = [
        "goods": .goods, "service": .service, "bundle": .bundle, "subscription_service": .subscriptionService,
    ]
    static let nodes: [String: FulfilmentNode] = [
        "own": .own, "store": .store, "third_party_logistics": .thirdPartyLogistics, "dropship": .dropship,
    ]
    static let fulfilmentStatuses: [String: FulfilmentStatus] = [
        "reserved": .reserved, "released_to_warehouse": .releasedToWarehouse, "picked": .picked, "shipped": .shipped,
    ]
    static let tenderKinds: [String: TenderKind] = [
        "card": .card, "paypal": .paypal, "gift_card": .giftCard, "store_credit": .storeCredit, "bnpl": .bnpl,
        "cash_on_delivery": .cashOnDelivery,
    ]

    public func draft(from payload: JSONReader, limits: IntakeLimits) throws(DomainError) -> OrderDraft {
        let account = try payload.object("account")
        let amount = 0...limits.maxAmount
        var lines: [DraftLine] = []
        for line in try payload.objects("lines", maxCount: limits.maxLines) {
            let kind = try line.choice("kind", Self.kinds)
            var components: [DraftComponent] = []
            if kind == .bundle {
                for component in try line.objects("components", maxCount: limits.maxComponentsPerBundle) {
                    components.append(
                        DraftComponent(
                            id: try component.identifier("id", maxBytes: limits.maxIDBytes),
                            sku: try component.identifier("sku", maxBytes: limits.maxIDBytes),
                            listPrice: try component.int("list_price", in: amount),
                            optional: try component.optionalBool("optional") ?? false,
                            path: component.path
                        )
                    )
                }
            }
            var period: (start: Int64, end: Int64)?
            if kind == .subscriptionService {
                let p = try line.object("period")
                period = (try p.time("start"), try p.time("end"))
            }
            let needsFulfilment = kind == .goods || kind == .bundle
            let fulfilment: Fulfilment? =
                try (needsFulfilment || line.has("fulfilment"))
                ? Self.fulfilment(try line.object("fulfilment"), limits) : nil
            lines.append(
                DraftLine(
                    id: try line.identifier("id", maxBytes: limits.maxIDBytes),
                    sku: try line.identifier("sku", maxBytes: limits.maxIDBytes),
                    kind: kind,
                    quantity: try line.int("quantity", in: 1...limits.maxQuantity),
                    unitPrice: try line.int("unit_price", in: amount),
                    discount: try line.optionalInt("discount", in: 0...Int64.max / 4) ?? 0,
                    taxRateBps: try line.int("tax_rate_bps", in: 0...10_000),
                    fulfilment: fulfilment,
                    period: period,
                    components: components,
                    path: line.path
                )
            )
        }
        if lines.isEmpty { throw DomainError(.outOfRange, path: payload.path("lines"), "must have at least one line") }

        var promotions: [Promotion] = []
        for promotion in try payload.objects("promotions", required: false, maxCount: limits.maxPromotions) {
            let kind: PromotionKind =
                switch try promotion.choice("kind", ["amount_off": 0, "percent_off": 1]) {
                case 0: .amountOff(try promotion.int("amount", in: amount))
                default: .percentOff(bps: try promotion.int("bps", in: 0...10_000))
                }
            promotions.append(
                Promotion(
                    code: try promotion.string("code", maxLength: limits.maxIDBytes),
                    kind: kind,
                    minSubtotal: try promotion.optionalInt("min_subtotal", in: 0...Int64.max / 4) ?? 0
                )
            )
        }

        var shipping = Shipping()
        if let s = try payload.optionalObject("shipping") {
            shipping = Shipping(
                amount: try s.int("amount", in: amount),
                taxRateBps: try s.optionalInt("tax_rate_bps", in: 0...10_000) ?? 0,
                freeOver: try s.optionalInt("free_over", in: 0...Int64.max / 4) ?? 0
            )
        }

        var tenders: [DraftTender] = []
        for tender in try payload.objects("tenders", maxCount: limits.maxTenders) {
            tenders.append(
                DraftTender(
                    id: try tender.identifier("id", maxBytes: limits.maxIDBytes),
                    kind: try tender.choice("kind", Self.tenderKinds),
                    amount: try tender.int("amount", in: 0...Int64.max / 4),
                    captured: try tender.optionalBool("captured") ?? true,
                    path: tender.path
                )
            )
        }
        if tenders.isEmpty {
            throw DomainError(.outOfRange, path: payload.path("tenders"), "must have at least one tender")
        }

        return OrderDraft(
            channel: channel,
            externalID: try payload.identifier(externalIDField, maxBytes: limits.maxIDBytes),
            account: Account(
                id: try account.identifier("id", maxBytes: limits.maxIDBytes),
                tier: try account.optionalString("tier", maxLength: 32) ?? "standard",
                email: try account.email("email")
            ),
            status: try payload.choice("status", Self.statuses),
            currency: try payload.currency("currency"),
            placedAtMs: try payload.time(placedAtField),
            lines: lines,
            promotions: promotions,
            shipping: shipping,
            tenders: tenders,
            tendersPath: payload.path("tenders")
        )
    }

    static func fulfilment(_ f: JSONReader, _ limits: IntakeLimits) throws(DomainError) -> Fulfilment {
        Fulfilment(
            location: try f.identifier("location", maxBytes: limits.maxIDBytes),
            node: try f.choice("node", nodes),
            status: try f.choice("status", fulfilmentStatuses),
            partnerAcceptsCancel: try f.optionalBool("partner_accepts_cancel") ?? true
        )
    }
}

/// Orders keyed in by call-center agents: a ticket with the agent's id and notes, the customer with
/// their tier, `items` with `parts`, money in minor units, and `confirmed` instead of a status.
public struct CallcenterAdapter: ChannelAdapter {
    public let channel = "callcenter"
    public let externalIDField = "ticket_id"
    public let placedAtField = "entered_at"
    public init() {}

    static let kinds: [String: LineKind] = [
        "goods": .goods, "service": .service, "bundle": .bundle, "subscription": .subscriptionService,
    ]
    static let types: [String: TenderKind] = [
        "card": .card, "paypal": .paypal, "voucher": .giftCard, "store_credit": .storeCredit, "financing": .bnpl,
        "cod": .cashOnDelivery,
    ]

    public func draft(from payload: JSONReader, limits: IntakeLimits) throws(DomainError) -> OrderDraft {
        let customer = try payload.object("customer")
        let amount = 0...limits.maxAmount
        var lines: [DraftLine] = []
        for item in try payload.objects("items", maxCount: limits.maxLines) {
            let kind = try item.choice("kind", Self.kinds)
            var components: [DraftComponent] = []
            if kind == .bundle {
                for part in try item.objects("parts", maxCount: limits.maxComponentsPerBundle) {
                    components.append(
                        DraftComponent(
                            id: try part.identifier("line", maxBytes: limits.maxIDBytes),
                            sku: try part.identifier("product", maxBytes: limits.maxIDBytes),
                            listPrice: try part.int("list", in: amount),
                            optional: try part.optionalBool("optional") ?? false,
                            path: part.path
                        )
                    )
                }
            }
            var period: (start: Int64, end: Int64)?
            if kind == .subscriptionService {
                let p = try item.object("service_period")
                period = (try p.time("from"), try p.time("to"))
            }
            var fulfilment: Fulfilment?
            if kind == .goods || kind == .bundle || item.has("ship_from") {
                let f = try item.object("ship_from")
                fulfilment = Fulfilment(
                    location: try f.identifier("site", maxBytes: limits.maxIDBytes),
                    node: try f.choice("type", WebAdapter.nodes),
                    status: try f.choice("state", WebAdapter.fulfilmentStatuses),
                    partnerAcceptsCancel: try f.optionalBool("partner_can_cancel") ?? true
                )
            }
            lines.append(
                DraftLine(
                    id: try item.identifier("line", maxBytes: limits.maxIDBytes),
                    sku: try item.identifier("product", maxBytes: limits.maxIDBytes),
                    kind: kind,
                    quantity: try item.int("units", in: 1...limits.maxQuantity),
                    unitPrice: try item.int("each", in: amount),
                    discount: try item.optionalInt("reduction", in: 0...Int64.max / 4) ?? 0,
                    taxRateBps: try item.int("tax_bps", in: 0...10_000),
                    fulfilment: fulfilment,
                    period: period,
                    components: components,
                    path: item.path,
                    discountPath: item.path("reduction")
                )
            )
        }
        if lines.isEmpty { throw DomainError(.outOfRange, path: payload.path("items"), "must have at least one item") }

        var promotions: [Promotion] = []
        for deal in try payload.objects("deals", required: false, maxCount: limits.maxPromotions) {
            let kind: PromotionKind
            if deal.has("off_amount") {
                kind = .amountOff(try deal.int("off_amount", in: amount))
            } else if deal.has("off_bps") {
                kind = .percentOff(bps: try deal.int("off_bps", in: 0...10_000))
            } else {
                throw DomainError(
                    .missingField,
                    path: deal.path("off_amount"),
                    "a deal needs 'off_amount' or 'off_bps'"
                )
            }
            promotions.append(
                Promotion(
                    code: try deal.string("code", maxLength: limits.maxIDBytes),
                    kind: kind,
                    minSubtotal: try deal.optionalInt("needs_subtotal", in: 0...Int64.max / 4) ?? 0
                )
            )
        }

        var shipping = Shipping()
        if let delivery = try payload.optionalObject("delivery") {
            shipping = Shipping(
                amount: try delivery.int("fee", in: amount),
                taxRateBps: try delivery.optionalInt("tax_bps", in: 0...10_000) ?? 0,
                freeOver: try delivery.optionalInt("waived_over", in: 0...Int64.max / 4) ?? 0
            )
        }

        var tenders: [DraftTender] = []
        for payment in try payload.objects("payment", maxCount: limits.maxTenders) {
            tenders.append(
                DraftTender(
                    id: try payment.identifier("ref", maxBytes: limits.maxIDBytes),
                    kind: try payment.choice("type", Self.types),
                    amount: try payment.int("value", in: 0...Int64.max / 4),
                    captured: try payment.optionalBool("settled") ?? true,
                    path: payment.path
                )
            )
        }
        if tenders.isEmpty {
            throw DomainError(.outOfRange, path: payload.path("payment"), "must have at least one payment")
        }

        let agent = try payload.identifier("agent_id", maxBytes: limits.maxIDBytes)
        let notes = try payload.optionalString("notes", maxLength: 2000, allowEmpty: true, multiline: true) ?? ""
        return OrderDraft(
            channel: channel,
            externalID: try payload.identifier(externalIDField, maxBytes: limits.maxIDBytes),
            account: Account(
                id: try customer.identifier("account_id", maxBytes: limits.maxIDBytes),
                tier: try customer.optionalString("tier", maxLength: 32) ?? "standard",
                email: try customer.email("email")
            ),
            status: try payload.bool("confirmed") ? .confirmed : .pending,
            currency: try payload.currency("currency"),
            placedAtMs: try payload.time(placedAtField),
            lines: lines,
            promotions: promotions,
            shipping: shipping,
            tenders: tenders,
            notes: notes.isEmpty ? "entered by \(agent)" : "entered by \(agent): \(notes)",
            tendersPath: payload.path("payment")
        )
    }
}

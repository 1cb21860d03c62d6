/// Prices an order at intake exactly as SPEC section 5 says. Pure: the same draft always gives the
/// same order, to the minor unit.
public enum Pricing {
    public static func price(_ draft: OrderDraft) throws(DomainError) -> Order {
        // Line nets and the subtotal.
        var lines: [Line] = []
        var pricedIndices: [Int] = []
        for draftLine in draft.lines {
            let gross = try Money.product(draftLine.unitPrice, draftLine.quantity, path: draftLine.path)
            guard draftLine.discount <= gross else {
                throw DomainError(
                    .inconsistent,
                    path: draftLine.discountPath,
                    "discount \(draftLine.discount) exceeds the line's price \(gross)"
                )
            }
            pricedIndices.append(lines.count)
            lines.append(
                Line(
                    id: draftLine.id,
                    sku: draftLine.sku,
                    kind: draftLine.kind,
                    quantity: draftLine.quantity,
                    unitPrice: draftLine.unitPrice,
                    discount: draftLine.discount,
                    taxRateBps: draftLine.taxRateBps,
                    fulfilment: draftLine.fulfilment,
                    net: gross - draftLine.discount
                )
            )
        }
        let subtotal = try Money.sum(pricedIndices.map { lines[$0].net }, path: "lines")

        // Promotions: each that qualifies, capped so that discounts never exceed the subtotal,
        // allocated to the lines separately, in the order given.
        // Each is split in proportion to the line nets, never taking a line below zero (SPEC
        // section 5: what a line has no room for is split again over the lines that have).
        var promotions = draft.promotions
        var remaining = subtotal
        let nets = pricedIndices.map { lines[$0].net }
        for index in promotions.indices {
            let promotion = promotions[index]
            guard subtotal >= promotion.minSubtotal else {
                promotions[index].applied = 0
                for lineIndex in pricedIndices { lines[lineIndex].promotionShares.append(0) }
                continue
            }
            let wanted: Int64 =
                switch promotion.kind {
                case .amountOff(let amount): amount
                case .percentOff(let bps): Money.mulDivRoundHalfUp(subtotal, bps, 10_000)
                }
            let discount = min(wanted, remaining)
            let room = pricedIndices.map { lines[$0].net - lines[$0].allocatedDiscount }
            remaining -= discount
            promotions[index].applied = discount
            for (share, lineIndex) in zip(Money.allocate(discount, weights: nets, room: room), pricedIndices) {
                lines[lineIndex].allocatedDiscount += share
                lines[lineIndex].promotionShares.append(share)
            }
        }
        // Paid net, tax; subscription periods cost the paid net.
        for (position, lineIndex) in pricedIndices.enumerated() {
            lines[lineIndex].paidNet = lines[lineIndex].net - lines[lineIndex].allocatedDiscount
            lines[lineIndex].tax = Money.mulDivRoundHalfUp(
                lines[lineIndex].paidNet,
                lines[lineIndex].taxRateBps,
                10_000
            )
            if let period = draft.lines[position].period {
                lines[lineIndex].period = PaidPeriod(
                    startMs: period.start,
                    endMs: period.end,
                    amount: lines[lineIndex].paidNet
                )
            }
        }
        // Bundles: paid net and tax split over the components by list price.
        var withComponents: [Line] = []
        for (position, line) in lines.enumerated() {
            withComponents.append(line)
            let components = draft.lines[position].components
            guard line.kind == .bundle, !components.isEmpty else { continue }
            let listPrices = components.map(\.listPrice)
            let paidShares = Money.allocate(line.paidNet, weights: listPrices)
            let taxShares = Money.allocate(line.tax, weights: listPrices)
            let discountShares = Money.allocate(line.allocatedDiscount, weights: listPrices)
            for (offset, component) in components.enumerated() {
                withComponents.append(
                    Line(
                        id: component.id,
                        sku: component.sku,
                        kind: .bundleComponent,
                        parentLineID: line.id,
                        optional: component.optional,
                        quantity: line.quantity,
                        unitPrice: component.listPrice,
                        taxRateBps: line.taxRateBps,
                        fulfilment: component.fulfilment ?? line.fulfilment,
                        allocatedDiscount: discountShares[offset],
                        paidNet: paidShares[offset],
                        tax: taxShares[offset]
                    )
                )
            }
        }

        // Shipping and totals.
        var shipping = draft.shipping
        shipping.charged = shipping.freeOver > 0 && subtotal >= shipping.freeOver ? 0 : shipping.amount
        shipping.tax = Money.mulDivRoundHalfUp(shipping.charged, shipping.taxRateBps, 10_000)
        let paidNet = try Money.sum(lines.map(\.paidNet), path: "lines")
        let tax = try Money.sum(lines.map(\.tax), path: "lines")
        let total = try Money.sum([paidNet, tax, shipping.charged, shipping.tax], path: "lines")
        let totals = Totals(
            subtotal: subtotal,
            discount: subtotal - paidNet,
            paidNet: paidNet,
            tax: tax,
            shipping: shipping.charged,
            shippingTax: shipping.tax,
            total: total
        )

        // Tenders: 0 on the last means the rest; together they must pay exactly the total.
        var tenders: [Tender] = []
        for (index, draftTender) in draft.tenders.enumerated() {
            var amount = draftTender.amount
            if amount == 0 && index == draft.tenders.count - 1 {
                let others = try Money.sum(tenders.map(\.amount), path: draft.tendersPath)
                amount = total - others
                guard amount >= 0 else {
                    throw DomainError(
                        .inconsistent,
                        path: draftTender.path,
                        "the other tenders already exceed the order total \(total)"
                    )
                }
            }
            tenders.append(
                Tender(id: draftTender.id, kind: draftTender.kind, amount: amount, captured: draftTender.captured)
            )
        }
        let tendered = try Money.sum(tenders.map(\.amount), path: draft.tendersPath)
        guard tendered == total else {
            throw DomainError(
                .inconsistent,
                path: draft.tendersPath,
                "tenders add up to \(tendered) but the order total is \(total)"
            )
        }

        return Order(
            id: Order.id(channel: draft.channel, externalID: draft.externalID),
            channel: draft.channel,
            externalID: draft.externalID,
            account: draft.account,
            status: draft.status,
            currency: draft.currency,
            lines: withComponents,
            promotions: promotions,
            shipping: shipping,
            tenders: tenders,
            totals: totals,
            placedAtMs: draft.placedAtMs,
            notes: draft.notes
        )
    }
}

import PropertyBased
import Testing

@testable import PartialCancelDomain

/// Random orders built from a stream of random numbers; the properties must hold for all of them.
@Suite("Pricing properties")
struct PricingPropertyTests {
    /// Draws bounded values from a generated list of numbers (cycling), so one generated array
    /// describes a whole order and shrinks with it.
    struct Draws {
        let values: [Int64]
        var index = 0
        mutating func next(_ range: ClosedRange<Int64>) -> Int64 {
            defer { index += 1 }
            let value = values.isEmpty ? 0 : values[index % values.count]
            return range.lowerBound + Int64(value.magnitude % UInt64(range.upperBound - range.lowerBound + 1))
        }
    }

    static func randomDraft(_ values: [Int64]) -> OrderDraft {
        var draws = Draws(values: values)
        let fulfilment = Fulfilment(location: "WH", node: .own, status: .reserved)
        var lines: [DraftLine] = []
        for index in 0..<Int(draws.next(1...8)) {
            let quantity = draws.next(1...50)
            let price = draws.next(0...200_000)
            let discount = draws.next(0...(quantity * price / 3))
            let isBundle = draws.next(0...3) == 0
            var components: [DraftComponent] = []
            if isBundle {
                for c in 0..<Int(draws.next(1...4)) {
                    components.append(
                        DraftComponent(
                            id: "L\(index)c\(c)",
                            sku: "S",
                            listPrice: draws.next(1...50_000),
                            optional: draws.next(0...1) == 1,
                            path: "c"
                        )
                    )
                }
            }
            lines.append(
                DraftLine(
                    id: "L\(index)",
                    sku: "SKU\(index)",
                    kind: isBundle ? .bundle : .goods,
                    quantity: quantity,
                    unitPrice: price,
                    discount: discount,
                    taxRateBps: draws.next(0...2500),
                    fulfilment: fulfilment,
                    components: components,
                    path: "lines[\(index)]"
                )
            )
        }
        var promotions: [Promotion] = []
        for index in 0..<Int(draws.next(0...3)) {
            let kind: PromotionKind =
                draws.next(0...1) == 0 ? .amountOff(draws.next(0...500_000)) : .percentOff(bps: draws.next(0...10_000))
            promotions.append(Promotion(code: "P\(index)", kind: kind, minSubtotal: draws.next(0...2_000_000)))
        }
        let shipping = Shipping(
            amount: draws.next(0...5000),
            taxRateBps: draws.next(0...2500),
            freeOver: draws.next(0...1) == 0 ? 0 : draws.next(1...3_000_000)
        )
        return OrderDraft(
            channel: "web",
            externalID: "R",
            account: Account(id: "a", tier: "standard", email: "a@b.c"),
            status: .confirmed,
            currency: Currency(code: "USD")!,
            placedAtMs: 0,
            lines: lines,
            promotions: promotions,
            shipping: shipping,
            tenders: [
                DraftTender(
                    id: "T1",
                    kind: .giftCard,
                    amount: draws.next(0...1000),
                    captured: true,
                    path: "tenders[0]"
                ),
                DraftTender(id: "T2", kind: .card, amount: 0, captured: true, path: "tenders[1]"),
            ],
            tendersPath: "tenders"
        )
    }

    static let orders = Gen.int64(in: 0...Int64.max).array(of: 10...80)

    @Test("allocations sum exactly: promotions over lines, bundles over components")
    func allocationsSum() async {
        await propertyCheck(count: 300, input: Self.orders) { values in
            // first tender above the total
            guard let order = try? Pricing.price(Self.randomDraft(values)) else { return }
            let priced = order.lines.filter(\.isPriced)
            #expect(priced.map(\.allocatedDiscount).reduce(0, +) == order.promotions.map(\.applied).reduce(0, +))
            for bundle in priced where bundle.kind == .bundle {
                let components = order.lines.filter { $0.parentLineID == bundle.id }
                if components.isEmpty { continue }
                #expect(components.map(\.paidNet).reduce(0, +) == bundle.paidNet)
                #expect(components.map(\.tax).reduce(0, +) == bundle.tax)
                #expect(components.allSatisfy { $0.quantity == bundle.quantity })
            }
        }
    }

    @Test("totals equal the sum of their parts, tenders pay exactly the total, and nothing is negative")
    func totals() async {
        await propertyCheck(count: 300, input: Self.orders) { values in
            guard let order = try? Pricing.price(Self.randomDraft(values)) else { return }
            let priced = order.lines.filter(\.isPriced)
            let t = order.totals
            #expect(t.subtotal == priced.map(\.net).reduce(0, +))
            #expect(t.paidNet == priced.map(\.paidNet).reduce(0, +))
            #expect(t.tax == priced.map(\.tax).reduce(0, +))
            #expect(t.discount == t.subtotal - t.paidNet)
            #expect(t.discount <= t.subtotal)
            #expect(t.total == t.paidNet + t.tax + t.shipping + t.shippingTax)
            #expect(order.tenders.map(\.amount).reduce(0, +) == t.total)
            for line in order.lines {
                #expect(line.net >= 0 && line.paidNet >= 0 && line.tax >= 0 && line.allocatedDiscount >= 0)
                #expect(line.paidNet <= line.net || line.kind == .bundleComponent)
            }
            #expect(
                [t.subtotal, t.discount, t.paidNet, t.tax, t.shipping, t.shippingTax, t.total].allSatisfy { $0 >= 0 }
            )
        }
    }

    /// Orders of a few cheap lines under several promotions, where the cap of SPEC section 5 binds.
    static func tinyDraft(_ values: [Int64]) -> OrderDraft {
        var draws = Draws(values: values)
        var draft = randomDraft(values)
        let fulfilment = Fulfilment(location: "WH", node: .own, status: .reserved)
        draft.lines = (0..<Int(draws.next(1...6))).map { index in
            DraftLine(
                id: "L\(index)",
                sku: "SKU\(index)",
                kind: .goods,
                quantity: draws.next(1...3),
                unitPrice: draws.next(0...30),
                discount: 0,
                taxRateBps: draws.next(0...2500),
                fulfilment: fulfilment,
                path: "lines[\(index)]"
            )
        }
        draft.promotions = (0..<Int(draws.next(2...4))).map { index in
            Promotion(
                code: "P\(index)",
                kind: draws.next(0...1) == 0 ? .amountOff(draws.next(0...60)) : .percentOff(bps: draws.next(0...10_000))
            )
        }
        draft.tenders = [DraftTender(id: "T1", kind: .card, amount: 0, captured: true, path: "tenders[0]")]
        return draft
    }

    @Test(
        "each promotion's split: adds up to its discount, never takes a line below zero, and is the plain proportional split on the nets whenever no line reaches zero",
        arguments: ["wide", "tiny"]
    )
    func promotionSplit(shape: String) async {
        await propertyCheck(count: 300, input: Self.orders) { values in
            guard let order = try? Pricing.price(shape == "tiny" ? Self.tinyDraft(values) : Self.randomDraft(values))
            else { return }
            let priced = order.lines.filter(\.isPriced)
            let nets = priced.map(\.net)
            var plainTotals = [Int64](repeating: 0, count: priced.count)
            var plainSplits: [[Int64]] = []
            for (index, promotion) in order.promotions.enumerated() {
                let shares = priced.map { $0.promotionShares[index] }
                #expect(shares.reduce(0, +) == promotion.applied)
                let plain = Money.allocate(promotion.applied, weights: nets)
                plainSplits.append(plain)
                for line in plain.indices { plainTotals[line] += plain[line] }
            }
            #expect(priced.allSatisfy { $0.paidNet >= 0 && $0.allocatedDiscount == $0.promotionShares.reduce(0, +) })
            if zip(plainTotals, nets).allSatisfy({ $0 <= $1 }) {
                for (index, plain) in plainSplits.enumerated() {
                    #expect(priced.map { $0.promotionShares[index] } == plain)
                }
            }
        }
    }
}

import Testing

@testable import PartialCancelDomain

@Suite("Pricing at intake")
struct PricingTests {
    static let usd = Currency(code: "USD")!
    static let fulfilment = Fulfilment(location: "WH", node: .own, status: .reserved)

    static func draft(
        lines: [DraftLine],
        promotions: [Promotion] = [],
        shipping: Shipping = Shipping(),
        tenders: [DraftTender] = [DraftTender(id: "T1", kind: .card, amount: 0, captured: true, path: "tenders[0]")]
    ) -> OrderDraft {
        OrderDraft(
            channel: "web",
            externalID: "X1",
            account: Account(id: "a", tier: "standard", email: "a@b.c"),
            status: .confirmed,
            currency: usd,
            placedAtMs: 0,
            lines: lines,
            promotions: promotions,
            shipping: shipping,
            tenders: tenders,
            tendersPath: "tenders"
        )
    }

    static func goods(
        _ id: String,
        _ quantity: Int64,
        _ price: Int64,
        discount: Int64 = 0,
        tax: Int64 = 1000
    ) -> DraftLine {
        DraftLine(
            id: id,
            sku: "SKU-\(id)",
            kind: .goods,
            quantity: quantity,
            unitPrice: price,
            discount: discount,
            taxRateBps: tax,
            fulfilment: fulfilment,
            path: "lines[\(id)]"
        )
    }

    @Test("SPEC example: A 2×60.00, B 1×80.00, 20.00 off, 10% tax, 10.00 shipping → 208.00")
    func specExample() throws {
        let order = try Pricing.price(
            Self.draft(
                lines: [Self.goods("A", 2, 6000), Self.goods("B", 1, 8000)],
                promotions: [Promotion(code: "P", kind: .amountOff(2000))],
                shipping: Shipping(amount: 1000)
            )
        )
        #expect(
            order.totals
                == Totals(
                    subtotal: 20_000,
                    discount: 2000,
                    paidNet: 18_000,
                    tax: 1800,
                    shipping: 1000,
                    shippingTax: 0,
                    total: 20_800
                )
        )
        #expect(order.lines.map(\.allocatedDiscount) == [1200, 800])
        #expect(order.lines.map(\.paidNet) == [10_800, 7200])
        #expect(order.lines.map(\.tax) == [1080, 720])
        #expect(order.tenders.map(\.amount) == [20_800])
    }

    @Test(
        "percentage promotions round half up; thresholds are checked on the subtotal; discounts are capped at the subtotal"
    )
    func promotions() throws {
        // subtotal 10.05: 10% = 1.005 -> 1.01 (half up); the 50.00-threshold promotion does not apply;
        // the 20.00 promotion is capped at what is left (10.05 - 1.01 = 9.04).
        let order = try Pricing.price(
            Self.draft(
                lines: [Self.goods("A", 1, 1005, tax: 0)],
                promotions: [
                    Promotion(code: "TEN", kind: .percentOff(bps: 1000)),
                    Promotion(code: "BIG", kind: .amountOff(500), minSubtotal: 5000),
                    Promotion(code: "HUGE", kind: .amountOff(2000)),
                ]
            )
        )
        #expect(order.promotions.map(\.applied) == [101, 0, 904])
        #expect(order.totals.total == 0)
        #expect(order.lines[0].paidNet == 0)
    }

    @Test("each promotion is allocated separately by largest remainder on the line nets, ties to the earlier line")
    func separateAllocation() throws {
        // Three equal lines, two promotions of 1.00 and 0.01: 34/33/33, then the cent is split on
        // the nets (equal), not on what the lines still cost: to A, the earliest.
        let order = try Pricing.price(
            Self.draft(
                lines: [
                    Self.goods("A", 1, 1000, tax: 0), Self.goods("B", 1, 1000, tax: 0),
                    Self.goods("C", 1, 1000, tax: 0),
                ],
                promotions: [Promotion(code: "X", kind: .amountOff(100)), Promotion(code: "Y", kind: .amountOff(1))]
            )
        )
        #expect(order.lines.map(\.promotionShares) == [[34, 1], [33, 0], [33, 0]])
        #expect(order.lines.map(\.allocatedDiscount) == [35, 33, 33])
    }

    @Test(
        "SPEC section 5 example: a second promotion is split on the nets, 2,993 over 17,500 and 2,450 is 2,625 and 368"
    )
    func specSecondPromotion() throws {
        let order = try Pricing.price(
            Self.draft(
                lines: [Self.goods("A", 1, 17_500, tax: 0), Self.goods("B", 1, 2450, tax: 0)],
                promotions: [
                    Promotion(code: "X", kind: .amountOff(1995)), Promotion(code: "Y", kind: .amountOff(2993)),
                ]
            )
        )
        #expect(order.lines.map(\.promotionShares) == [[1750, 2625], [245, 368]])
        let expectedPaid: [Int64] = [13_125, 1837]  // 17,500 − 1,750 − 2,625 and 2,450 − 245 − 368
        #expect(order.lines.map(\.paidNet) == expectedPaid)
    }

    @Test("several promotions never push a line's paid net below zero: what a line has no room for goes to the others")
    func noNegativeLine() throws {
        // A costs 0.01, B 0.99; 0.99 off then 0.01 off. The first split gives A 0.01 and B 0.98; the
        // second split's cent, on the nets, goes to B (0.99 of 1.00), which still has a cent of room.
        let order = try Pricing.price(
            Self.draft(
                lines: [Self.goods("A", 1, 1, tax: 0), Self.goods("B", 1, 99, tax: 0)],
                promotions: [Promotion(code: "X", kind: .amountOff(99)), Promotion(code: "Y", kind: .amountOff(1))]
            )
        )
        #expect(order.lines.map(\.paidNet) == [0, 0])
        #expect(order.lines.allSatisfy { $0.allocatedDiscount <= $0.net })
        // Three lines of a cent, a cent off twice: the plain split gives both cents to A (ties to
        // the earlier line), but A has room for one; the second goes to B, the next by the same rule.
        let capped = try Pricing.price(
            Self.draft(
                lines: [Self.goods("A", 1, 1, tax: 0), Self.goods("B", 1, 1, tax: 0), Self.goods("C", 1, 1, tax: 0)],
                promotions: [Promotion(code: "X", kind: .amountOff(1)), Promotion(code: "Y", kind: .amountOff(1))]
            )
        )
        #expect(capped.lines.map(\.promotionShares) == [[1, 0], [0, 1], [0, 0]])
        #expect(capped.lines.map(\.paidNet) == [0, 0, 1])
    }

    @Test("line discounts come off the line's net before promotions; tax is half up per line")
    func lineDiscountAndTax() throws {
        let order = try Pricing.price(Self.draft(lines: [Self.goods("A", 3, 333, discount: 99, tax: 825)]))
        #expect(order.lines[0].net == 900)
        #expect(order.lines[0].tax == 74)  // 900 × 8.25% = 74.25
        #expect(order.totals.total == 974)
    }

    @Test("free shipping over the threshold; shipping tax half up")
    func shipping() throws {
        let free = try Pricing.price(
            Self.draft(
                lines: [Self.goods("A", 1, 5000, tax: 0)],
                shipping: Shipping(amount: 1000, taxRateBps: 2000, freeOver: 5000)
            )
        )
        #expect(free.shipping.charged == 0)
        #expect(free.totals.total == 5000)
        let charged = try Pricing.price(
            Self.draft(
                lines: [Self.goods("A", 1, 4999, tax: 0)],
                shipping: Shipping(amount: 999, taxRateBps: 2000, freeOver: 5000)
            )
        )
        #expect(charged.shipping.charged == 999)
        #expect(charged.shipping.tax == 200)  // 199.8
        #expect(charged.totals.total == 4999 + 999 + 200)
    }

    @Test("a bundle's paid net and tax are split over its components by list price")
    func bundle() throws {
        let bundle = DraftLine(
            id: "K",
            sku: "KIT",
            kind: .bundle,
            quantity: 2,
            unitPrice: 5000,
            taxRateBps: 1000,
            fulfilment: Self.fulfilment,
            components: [
                DraftComponent(id: "K1", sku: "C1", listPrice: 9000, optional: false, path: "c0"),
                DraftComponent(id: "K2", sku: "C2", listPrice: 3000, optional: true, path: "c1"),
            ],
            path: "lines[0]"
        )
        let order = try Pricing.price(
            Self.draft(lines: [bundle], promotions: [Promotion(code: "P", kind: .amountOff(3))])
        )
        // Bundle: net 10000, discount 3, paid 9997, tax 1000 (999.7 half up).
        #expect(order.lines.map(\.id) == ["K", "K1", "K2"])
        #expect(order.lines[0].paidNet == 9997 && order.lines[0].tax == 1000)
        // 7497.75 / 2499.25 + 1 to the larger remainder
        #expect(order.lines[1].paidNet == 7498 && order.lines[2].paidNet == 2499)
        #expect(order.lines[1].tax == 750 && order.lines[2].tax == 250)
        #expect(order.lines[1].quantity == 2 && order.lines[1].parentLineID == "K" && order.lines[2].optional)
        #expect(order.totals.total == 10_997)  // components are not counted twice
    }

    @Test("tenders: 0 on the last is the rest; otherwise they must add up to the total")
    func tenders() throws {
        let split = try Pricing.price(
            Self.draft(
                lines: [Self.goods("A", 1, 1000, tax: 0)],
                tenders: [
                    DraftTender(id: "G", kind: .giftCard, amount: 300, captured: true, path: "tenders[0]"),
                    DraftTender(id: "C", kind: .card, amount: 0, captured: false, path: "tenders[1]"),
                ]
            )
        )
        #expect(split.tenders.map(\.amount) == [300, 700])
        #expect(split.tenders[1].captured == false)
        do {
            _ = try Pricing.price(
                Self.draft(
                    lines: [Self.goods("A", 1, 1000, tax: 0)],
                    tenders: [
                        DraftTender(id: "G", kind: .giftCard, amount: 300, captured: true, path: "tenders[0]"),
                        DraftTender(id: "C", kind: .card, amount: 600, captured: true, path: "tenders[1]"),
                    ]
                )
            )
            Issue.record("accepted tenders that do not add up")
        } catch {
            #expect(error.path == "tenders")
            #expect(error.code == .inconsistent)
        }
    }

    @Test("a line discount above the line's price is refused, naming the field")
    func discountTooLarge() {
        do {
            _ = try Pricing.price(Self.draft(lines: [Self.goods("A", 1, 1000, discount: 1001)]))
            Issue.record("accepted")
        } catch {
            #expect(error.path == "lines[A].discount")
        }
    }
}

import PropertyBased
import Testing

@testable import PartialCancelDomain

@Suite("Eligibility")
struct EligibilityTests {
    static let web = try! Intake().order(
        channel: "web",
        payload: Array(SamplePayloads.web.utf8),
        nowMs: AdapterTests.receivedAt
    )
    static let now = RFC3339.parse("2026-11-20T10:10:00Z")!

    func verdicts(
        _ lines: [RequestedLine],
        in order: Order = web,
        pending: Set<String> = [],
        policy: CancellationPolicy = CancellationPolicy(),
        now: Int64 = now
    ) -> [LineVerdict] {
        Eligibility.evaluate(order, lines, pendingLineIDs: pending, policy: policy, nowMs: now)
    }

    func codes(
        _ line: String,
        in order: Order = web,
        quantity: Int64? = nil,
        pending: Set<String> = [],
        policy: CancellationPolicy = CancellationPolicy(),
        now: Int64 = now,
        also: [RequestedLine] = []
    ) -> [String] {
        verdicts(
            [RequestedLine(lineID: line, quantity: quantity)] + also,
            in: order,
            pending: pending,
            policy: policy,
            now: now
        )[0].reasons.map(\.code)
    }

    static func with(_ change: (inout Order) -> Void) -> Order {
        var order = web
        change(&order)
        return order
    }

    @Test("the sample order's use cases: mistaken item, optional accessory, subscription, whole bundle are eligible")
    func eligibleCases() {
        #expect(codes("L1") == [])
        #expect(codes("L1", quantity: 1) == [])
        #expect(codes("L2b") == [])
        #expect(codes("L3") == [])
        #expect(codes("L2") == [])
        #expect(codes("L2a", also: [RequestedLine(lineID: "L2")]) == [])  // a required part goes with its bundle
    }

    static let table: [(String, String, Int64?, String)] = [
        ("unknown line", "L9", nil, "LINE_NOT_FOUND"),
        ("zero units", "L1", 0, "QUANTITY_INVALID"),
        ("too many units", "L1", 3, "QUANTITY_EXCEEDS_REMAINING"),
        ("3PL partner refuses", "L4", nil, "THIRD_PARTY_LOGISTICS"),
        ("required component alone", "L2a", nil, "BUNDLE_COMPONENT_REQUIRED"),
    ]

    @Test("line rules, each naming the rule that fired", arguments: table)
    func lineRules(name: String, line: String, quantity: Int64?, code: String) {
        let verdict = verdicts([RequestedLine(lineID: line, quantity: quantity)])[0]
        #expect(verdict.reasons.map(\.code) == [code], "\(name)")
        #expect(verdict.reasons.allSatisfy { !$0.rule.isEmpty })
    }

    @Test("order status: pending and cancelled are not confirmed; shipped is shipped")
    func orderStatus() {
        #expect(codes("L1", in: Self.with { $0.status = .pending }) == ["ORDER_NOT_CONFIRMED"])
        #expect(codes("L1", in: Self.with { $0.status = .cancelled }) == ["ORDER_NOT_CONFIRMED"])
        #expect(codes("L1", in: Self.with { $0.status = .shipped }) == ["ORDER_SHIPPED"])
    }

    @Test("fulfilment in progress, shipped lines, and a bundle whose part is picked")
    func fulfilment() {
        let picked = Self.with { $0.lines[0].fulfilment?.status = .picked }
        #expect(codes("L1", in: picked) == ["FULFILMENT_IN_PROGRESS"])
        let released = Self.with { $0.lines[0].fulfilment?.status = .releasedToWarehouse }
        #expect(codes("L1", in: released) == ["FULFILMENT_IN_PROGRESS"])
        let shipped = Self.with { $0.lines[0].fulfilment?.status = .shipped }
        #expect(codes("L1", in: shipped) == ["ORDER_SHIPPED"])
        let partPicked = Self.with { $0.lines[2].fulfilment?.status = .picked }  // L2a
        #expect(codes("L2", in: partPicked) == ["FULFILMENT_IN_PROGRESS"])
    }

    @Test("already cancelled lines, pending requests, duplicate lines")
    func stateRules() {
        let cancelled = Self.with { $0.lines[0].cancelledQuantity = 2 }
        #expect(codes("L1", in: cancelled) == ["LINE_ALREADY_CANCELLED"])
        #expect(codes("L1", pending: ["L1"]) == ["CANCELLATION_PENDING"])
        #expect(codes("L2b", pending: ["L2"]) == ["CANCELLATION_PENDING"])
        let twice = verdicts([RequestedLine(lineID: "L1"), RequestedLine(lineID: "L1")])
        #expect(twice[1].reasons.map(\.code) == ["QUANTITY_INVALID"])
    }

    @Test("channel and tier rules: the most specific window applies and names itself")
    func channelRules() {
        let policy = CancellationPolicy(rules: [
            .init(channel: "web", cancelWindowMinutes: 5),
            .init(channel: "web", tier: "premium", cancelWindowMinutes: 60),
        ])
        let reasons = verdicts([RequestedLine(lineID: "L1")], policy: policy)[0].reasons
        #expect(reasons.map(\.code) == ["CHANNEL_RULE"])
        #expect(reasons[0].rule == "channel_rule web/* cancel_window_minutes=5")
        let premium = Self.with { $0.account.tier = "premium" }
        #expect(codes("L1", in: premium, policy: policy) == [])
        #expect(codes("L1", in: premium, policy: policy, now: Self.now + 3_600_000) == ["CHANNEL_RULE"])
    }

    @Test("tender kinds the policy excludes make the order ineligible")
    func paymentMethod() {
        let policy = CancellationPolicy(ineligibleTenderKinds: [.giftCard])
        #expect(codes("L1", policy: policy) == ["PAYMENT_METHOD_NOT_ELIGIBLE"])
    }
}

@Suite("Refund quotes")
struct QuoteTests {
    static let now = EligibilityTests.now

    static func specOrder(
        policy: [Promotion] = [Promotion(code: "P", kind: .amountOff(2000))],
        tenders: [DraftTender]? = nil
    ) throws -> Order {
        try Pricing.price(
            PricingTests.draft(
                lines: [PricingTests.goods("A", 2, 6000), PricingTests.goods("B", 1, 8000)],
                promotions: policy,
                shipping: Shipping(amount: 1000),
                tenders: tenders ?? [DraftTender(id: "T1", kind: .card, amount: 0, captured: true, path: "t")]
            )
        )
    }

    static func quote(
        _ order: Order,
        _ lines: [RequestedLine],
        policy: CancellationPolicy = CancellationPolicy(),
        now: Int64 = now,
        storeCredit: Bool = false
    ) throws -> Quote {
        let verdicts = Eligibility.evaluate(order, lines, pendingLineIDs: [], policy: policy, nowMs: now)
        return try Cancellation.quote(order, verdicts, policy: policy, nowMs: now, storeCredit: storeCredit)
    }

    @Test("SPEC example: cancelling one A refunds 54.00 + 5.40 = 59.40")
    func specExample() throws {
        let order = try Self.specOrder()
        let quote = try Self.quote(order, [RequestedLine(lineID: "A", quantity: 1)])
        #expect(quote.lines == [LineRefund(lineID: "A", quantity: 1, net: 5400, tax: 540, viaBundle: nil)])
        #expect(quote.refundTotal == 5940)
        #expect(quote.shippingRefund == 0)
        #expect(quote.newTotals.total == 20_800 - 5940)
        #expect(quote.tenders == [TenderAllocation(tenderID: "T1", method: .refund, amount: 5940)])
    }

    @Test("the last shippable line takes shipping with it; everything cancelled refunds exactly the total")
    func lastLineAndShipping() throws {
        var order = try Self.specOrder()
        var refunded: Int64 = 0
        for request in [
            RequestedLine(lineID: "A", quantity: 1), RequestedLine(lineID: "B"),
            RequestedLine(lineID: "A", quantity: 1),
        ] {
            let quote = try Self.quote(order, [request])
            refunded += quote.refundTotal
            order = Cancellation.apply(quote, to: order)
        }
        #expect(refunded == 20_800)
        #expect(order.totals.total == 0)
        #expect(order.status == .cancelled)
        #expect(order.shipping.refunded == 1000)
        #expect(order.version == 4)
    }

    @Test("use cases on the sample order: accessory, subscription proration, whole bundle")
    func sampleUseCases() throws {
        let order = EligibilityTests.web
        let strap = try Self.quote(order, [RequestedLine(lineID: "L2b")])
        #expect(strap.lines == [LineRefund(lineID: "L2b", quantity: 1, net: 2432, tax: 243, viaBundle: nil)])
        #expect(strap.refundTotal == 2675)
        // Subscription L3 (Nov 1 – Dec 1, paid 14.59, no tax) cancelled on Nov 20 10:10: 10 days 13 h 50 min of 30 days left.
        let subscription = try Self.quote(order, [RequestedLine(lineID: "L3")])
        let left = RFC3339.parse("2026-12-01T00:00:00Z")! - Self.now
        #expect(subscription.lines[0].net == 1459 * left / (30 * 86_400_000))
        #expect(subscription.lines[0].net == 514)  // 14.59 × 10.576 / 30 days = 5.1437
        let kit = try Self.quote(order, [RequestedLine(lineID: "L2")])
        #expect(kit.units == ["L2": 1, "L2a": 1, "L2b": 1])
        #expect(
            kit.lines.first { $0.lineID == "L2" }
                == LineRefund(lineID: "L2", quantity: 1, net: 9728, tax: 973, viaBundle: nil)
        )
        #expect(kit.refundTotal == 9728 + 973)
        // Cancelling the bundle after its accessory does not refund the accessory twice.
        let afterStrap = Cancellation.apply(strap, to: order)
        let rest = try Self.quote(afterStrap, [RequestedLine(lineID: "L2")])
        #expect(rest.units == ["L2": 1, "L2a": 1])
        #expect(rest.refundTotal + strap.refundTotal == 9728 + 973)
    }

    @Test(
        "tenders: last captured first, capped per tender; cash on delivery and the agent's choice become store credit"
    )
    func tenders() throws {
        let split = try Self.specOrder(tenders: [
            DraftTender(id: "G", kind: .giftCard, amount: 5000, captured: true, path: "t0"),
            DraftTender(id: "C", kind: .card, amount: 0, captured: false, path: "t1"),
        ])
        // Everything: the card (authorised only) first, up to its 158.00, then the gift card.
        let all = try Self.quote(split, [RequestedLine(lineID: "A"), RequestedLine(lineID: "B")])
        #expect(
            all.tenders == [
                TenderAllocation(tenderID: "C", method: .authorizationReduction, amount: 15_800),
                TenderAllocation(tenderID: "G", method: .refund, amount: 5000),
            ]
        )
        let cod = try Self.specOrder(tenders: [
            DraftTender(id: "COD", kind: .cashOnDelivery, amount: 0, captured: true, path: "t")
        ])
        #expect(try Self.quote(cod, [RequestedLine(lineID: "B")]).tenders.map(\.method) == [.storeCredit])
        let chosen = try Self.quote(split, [RequestedLine(lineID: "B")], storeCredit: true)
        #expect(chosen.tenders == [TenderAllocation(tenderID: "store-credit", method: .storeCredit, amount: 7920)])
    }

    @Test("reprice: a promotion whose threshold is no longer met is deducted, shown, and returned at the end")
    func reprice() throws {
        let policy = CancellationPolicy(refundPolicy: .reprice)
        var order = try Self.specOrder(policy: [Promotion(code: "P", kind: .amountOff(2000), minSubtotal: 15_000)])
        // Cancel B: remaining subtotal 120.00 < 150.00, so P's 12.00 on A (and its 10% tax) is deducted.
        let quote = try Self.quote(order, [RequestedLine(lineID: "B")], policy: policy)
        #expect(quote.policy == .reprice)
        #expect(quote.deductions == [Deduction(code: "PROMOTION_WITHDRAWN", subject: "P", amount: 1320)])
        #expect(quote.refundTotal == 7920 - 1320)
        #expect(quote.newTotals.total + quote.refundTotal == 20_800)
        order = Cancellation.apply(quote, to: order)
        #expect(order.promotions[0].withdrawn)
        // Cancelling the rest returns everything still paid, the deduction included.
        let last = try Self.quote(order, [RequestedLine(lineID: "A")], policy: policy)
        #expect(last.deductions.isEmpty)
        #expect(last.adjustmentsReleased == 1320)
        #expect(quote.refundTotal + last.refundTotal == 20_800)
    }

    @Test("reprice: free shipping whose threshold is no longer met is charged from the refund; an excess is waived")
    func repriceShipping() throws {
        let policy = CancellationPolicy(refundPolicy: .reprice)
        let order = try Pricing.price(
            PricingTests.draft(
                lines: [PricingTests.goods("A", 1, 4000, tax: 0), PricingTests.goods("B", 1, 200, tax: 0)],
                shipping: Shipping(amount: 1000, freeOver: 4100)
            )
        )
        #expect(order.shipping.charged == 0)
        let quote = try Self.quote(order, [RequestedLine(lineID: "B")], policy: policy)
        #expect(quote.deductions == [Deduction(code: "FREE_SHIPPING_WITHDRAWN", subject: "shipping", amount: 1000)])
        #expect(quote.refundTotal == 0)
        #expect(quote.waived == 800)
        #expect(quote.newTotals.total == 4200)
    }

    @Test("ineligible lines cannot be quoted")
    func ineligible() throws {
        #expect(throws: QuoteError.self) { try Self.quote(EligibilityTests.web, [RequestedLine(lineID: "L4")]) }
    }
}

@Suite("Refund properties")
struct RefundPropertyTests {
    /// Cancels a random order in random steps (random lines, random unit counts) until nothing is left.
    static func cancelEverything(_ values: [Int64], policy: CancellationPolicy) -> (order: Order, quotes: [Quote])? {
        guard var order = try? Pricing.price(PricingPropertyTests.randomDraft(values)) else { return nil }
        var draws = PricingPropertyTests.Draws(values: values.reversed())
        var quotes: [Quote] = []
        for _ in 0..<200 {
            let open = order.lines.filter { $0.remainingQuantity > 0 && ($0.kind != .bundleComponent || $0.optional) }
            guard !open.isEmpty else { break }
            let line = open[Int(draws.next(0...Int64(open.count - 1)))]
            let k = draws.next(1...line.remainingQuantity)
            let verdicts = Eligibility.evaluate(
                order,
                [RequestedLine(lineID: line.id, quantity: k)],
                pendingLineIDs: [],
                policy: policy,
                nowMs: 0
            )
            guard let quote = try? Cancellation.quote(order, verdicts, policy: policy, nowMs: 0) else { return nil }
            quotes.append(quote)
            order = Cancellation.apply(quote, to: order)
        }
        return (order, quotes)
    }

    @Test(
        "refund + new total = old total at every step; nothing negative; never more than a tender holds",
        arguments: RefundPolicy.allCases
    )
    func stepInvariants(policy: RefundPolicy) async {
        await propertyCheck(count: 200, input: PricingPropertyTests.orders) { values in
            guard let original = try? Pricing.price(PricingPropertyTests.randomDraft(values)),
                let (final, quotes) = Self.cancelEverything(values, policy: CancellationPolicy(refundPolicy: policy))
            else { return }
            var total = original.totals.total
            for quote in quotes {
                #expect(quote.refundTotal >= 0)
                #expect(quote.lines.allSatisfy { $0.net >= 0 && $0.tax >= 0 })
                #expect(quote.deductions.allSatisfy { $0.amount >= 0 })
                #expect(quote.refundTotal + quote.newTotals.total == total)
                #expect(quote.tenders.map(\.amount).reduce(0, +) == quote.refundTotal)
                total = quote.newTotals.total
            }
            #expect(final.tenders.allSatisfy { $0.refunded <= $0.amount && $0.refunded >= 0 })
            #expect(final.tenders.map(\.refunded).reduce(0, +) <= original.tenders.map(\.amount).reduce(0, +))
        }
    }

    @Test(
        "cancelling everything, in any order of steps, refunds exactly the total paid",
        arguments: RefundPolicy.allCases
    )
    func everything(policy: RefundPolicy) async {
        await propertyCheck(count: 200, input: PricingPropertyTests.orders) { values in
            guard let original = try? Pricing.price(PricingPropertyTests.randomDraft(values)),
                let (final, quotes) = Self.cancelEverything(values, policy: CancellationPolicy(refundPolicy: policy))
            else { return }
            #expect(final.lines.allSatisfy { $0.remainingQuantity == 0 })
            #expect(quotes.map(\.refundTotal).reduce(0, +) == original.totals.total)
            #expect(final.totals.total == 0)
            #expect(final.status == .cancelled)
        }
    }
}

@Suite("Fulfilment")
struct FulfilmentTests {
    @Test(
        "a line's fulfilment is recorded with its components; the order ships when every line with units left has shipped"
    )
    func recordFulfilment() {
        var order = EligibilityTests.web
        order.recordFulfilment(lineID: "L1", status: .shipped)
        #expect(order.status == .confirmed)
        order.recordFulfilment(lineID: "L2", status: .picked, partnerAcceptsCancel: false)
        #expect(
            order.lines.filter { $0.id == "L2" || $0.parentLineID == "L2" }.allSatisfy {
                $0.fulfilment?.status == .picked && $0.fulfilment?.partnerAcceptsCancel == false
            }
        )
        #expect(order.status == .confirmed)
        order.recordFulfilment(lineID: "L2", status: .shipped)
        #expect(order.status == .confirmed)  // L4, at the 3PL, has not shipped
        order.recordFulfilment(lineID: "L4", status: .shipped)
        #expect(order.status == .shipped)  // L3, a service, has no fulfilment
    }

    @Test("cancelled lines do not hold the order back from SHIPPED")
    func cancelledLinesDoNotCount() {
        var order = EligibilityTests.web
        let cancelled: Set<String> = ["L2", "L2a", "L2b", "L4"]
        for index in order.lines.indices where cancelled.contains(order.lines[index].id) {
            order.lines[index].cancelledQuantity = order.lines[index].quantity
        }
        order.recordFulfilment(lineID: "L1", status: .shipped)
        #expect(order.status == .shipped)
    }
}

@Suite("History records")
struct HistoryRecordTests {
    @Test("an ingested entry names the order and records its status and total at intake")
    func ingested() {
        let record = HistoryRecord.ingested(EligibilityTests.web)
        #expect(record.event == HistoryRecord.ingestedEvent && record.subject == "web-W-1001")
        #expect(record.to == "CONFIRMED" && record.detail == "total \(EligibilityTests.web.totals.total) USD")
    }

    @Test("requested lines read as LINE:QUANTITY, a line alone meaning all its remaining units")
    func lines() {
        #expect(
            HistoryRecord.lines([RequestedLine(lineID: "L1", quantity: 2), RequestedLine(lineID: "L2b")]) == "L1:2,L2b"
        )
    }
}

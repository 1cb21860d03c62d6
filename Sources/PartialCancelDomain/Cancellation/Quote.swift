/// One line's refund in a quote.
public struct LineRefund: Sendable, Hashable, Codable {
    public var lineID: String
    public var quantity: Int64
    public var net: Int64
    public var tax: Int64
    /// Set on a component cancelled with its bundle: its amounts are included in the bundle's entry.
    public var viaBundle: String?
}

/// An amount a `reprice` cancellation keeps back from the refund.
public struct Deduction: Sendable, Hashable, Codable {
    /// `PROMOTION_WITHDRAWN` or `FREE_SHIPPING_WITHDRAWN`.
    public var code: String
    /// The promotion code, or `shipping`.
    public var subject: String
    public var amount: Int64
}

/// Where a refund goes.
public struct TenderAllocation: Sendable, Hashable, Codable {
    public enum Method: String, Sendable, Hashable, Codable {
        /// Money back to a captured tender.
        case refund = "REFUND"
        /// An authorised-only tender's authorisation is reduced.
        case authorizationReduction = "AUTHORIZATION_REDUCTION"
        /// Store credit (cash on delivery, or the agent's choice).
        case storeCredit = "STORE_CREDIT"
    }

    /// The tender, or `store-credit`.
    public var tenderID: String
    public var method: Method
    public var amount: Int64
}

/// A binding quote: exactly what a confirmation will refund and leave (SPEC sections 1 and 5).
public struct Quote: Sendable, Hashable, Codable {
    public var orderID: String
    /// The order version it was computed on; a confirmation against another version re-quotes.
    public var orderVersion: Int64
    public var currency: String
    public var policy: RefundPolicy
    /// When subscription prorations were taken.
    public var asOfMs: Int64
    public var lines: [LineRefund]
    public var shippingRefund: Int64
    public var deductions: [Deduction]
    /// The part of the deductions waived because it exceeded the refund (never charged).
    public var waived: Int64
    /// Reprice deductions of earlier cancellations, refunded now because nothing remains.
    public var adjustmentsReleased: Int64
    public var refundTotal: Int64
    public var tenders: [TenderAllocation]
    public var newTotals: Totals
    /// Units cancelled per line, components included.
    public var units: [String: Int64]
    public var storeCredit: Bool
}

public enum QuoteError: Error, Hashable, Sendable {
    /// Some requested lines may not be cancelled (the verdicts that say why).
    case ineligible([LineVerdict])
    /// The order's tenders cannot take `amount` of the refund.
    case tendersCannotTakeRefund(orderID: String, amount: Int64)
}

/// Computes binding quotes and applies them (SPEC section 5).
public enum Cancellation {
    /// The quote for cancelling the eligible `verdicts` (all of them must be eligible).
    public static func quote(
        _ order: Order,
        _ verdicts: [LineVerdict],
        policy: CancellationPolicy,
        nowMs: Int64,
        storeCredit: Bool = false
    ) throws(QuoteError) -> Quote {
        guard !verdicts.isEmpty, verdicts.allSatisfy(\.eligible) else {
            throw .ineligible(verdicts.filter { !$0.eligible })
        }
        let refundPolicy = policy.refundPolicy(for: order)

        // Units to cancel per line: a bundle takes its components down with it.
        var units: [String: Int64] = [:]
        for verdict in verdicts {
            guard let line = order.line(verdict.lineID) else { continue }
            units[line.id, default: 0] += verdict.quantity
            if line.kind == .bundle {
                let remainingAfter = line.remainingQuantity - verdict.quantity
                for component in order.lines where component.parentLineID == line.id {
                    let extra = max(0, component.remainingQuantity - remainingAfter - (units[component.id] ?? 0))
                    if extra > 0 { units[component.id, default: 0] += extra }
                }
            }
        }

        // Line refunds.
        var lines: [LineRefund] = []
        var refundable: Int64 = 0
        for line in order.lines {
            guard let k = units[line.id], k > 0 else { continue }
            let components = order.lines.filter { $0.parentLineID == line.id }
            if line.kind == .bundle, !components.isEmpty {
                lines.append(LineRefund(lineID: line.id, quantity: k, net: 0, tax: 0, viaBundle: nil))
                continue
            }
            var (net, tax) = shareRefund(line, k)
            if line.kind == .subscriptionService, let period = line.period {
                let length = max(1, period.endMs - period.startMs)
                let left = min(max(0, period.endMs - nowMs), length)
                net = Int64(Int128(net) * Int128(left) / Int128(length))
                tax = Int64(Int128(tax) * Int128(left) / Int128(length))
            }
            let viaBundle =
                line.kind == .bundleComponent && units[line.parentLineID ?? ""] != nil ? line.parentLineID : nil
            lines.append(LineRefund(lineID: line.id, quantity: k, net: net, tax: tax, viaBundle: viaBundle))
            refundable += net + tax
        }
        // Bundle entries show the sum of their components.
        for index in lines.indices where lines[index].viaBundle == nil {
            let parts = lines.filter { $0.viaBundle == lines[index].lineID }
            if !parts.isEmpty {
                lines[index].net = parts.map(\.net).reduce(0, +)
                lines[index].tax = parts.map(\.tax).reduce(0, +)
            }
        }

        // What remains after this cancellation.
        func remainingAfter(_ line: Line) -> Int64 { line.remainingQuantity - (units[line.id] ?? 0) }
        let anyLeft = order.lines.contains { remainingAfter($0) > 0 }
        let shippableLeft = order.lines.contains { $0.isShippable && remainingAfter($0) > 0 }

        var shippingRefund: Int64 = 0
        if !shippableLeft && order.lines.contains(where: \.isShippable) {
            shippingRefund = order.shipping.charged + order.shipping.tax - order.shipping.refunded
        }

        var deductions: [Deduction] = []
        if refundPolicy == .reprice && anyLeft {
            let priced = order.lines.filter(\.isPriced)
            let remainingSubtotal = priced.reduce(Int64(0)) {
                $0 + Money.share($1.net, remainingAfter($1), of: $1.quantity)
            }
            for (index, promotion) in order.promotions.enumerated()
            where promotion.applied > 0 && !promotion.withdrawn && remainingSubtotal < promotion.minSubtotal {
                var amount: Int64 = 0
                for line in priced where index < line.promotionShares.count {
                    let kept = Money.share(line.promotionShares[index], remainingAfter(line), of: line.quantity)
                    amount += kept + Money.mulDivRoundHalfUp(kept, line.taxRateBps, 10_000)
                }
                if amount > 0 {
                    deductions.append(Deduction(code: "PROMOTION_WITHDRAWN", subject: promotion.code, amount: amount))
                }
            }
            let shipping = order.shipping
            if shippableLeft, shipping.freeOver > 0, shipping.charged == 0, !shipping.freeWithdrawn,
                shipping.amount > 0,
                remainingSubtotal < shipping.freeOver
            {
                let amount = shipping.amount + Money.mulDivRoundHalfUp(shipping.amount, shipping.taxRateBps, 10_000)
                deductions.append(Deduction(code: "FREE_SHIPPING_WITHDRAWN", subject: "shipping", amount: amount))
            }
        }
        let gross = refundable + shippingRefund
        let wanted = deductions.map(\.amount).reduce(0, +)
        let kept = min(wanted, gross)
        let adjustmentsReleased = anyLeft ? 0 : order.totals.adjustments
        let refundTotal = gross - kept + adjustmentsReleased

        let tenders = try allocate(refundTotal, order: order, storeCredit: storeCredit)
        var newTotals = order.totals
        newTotals.total = order.totals.total - refundTotal
        newTotals.refunded = order.totals.refunded + refundTotal
        newTotals.adjustments = anyLeft ? order.totals.adjustments + kept : 0
        return Quote(
            orderID: order.id,
            orderVersion: order.version,
            currency: order.currency.code,
            policy: refundPolicy,
            asOfMs: nowMs,
            lines: lines,
            shippingRefund: shippingRefund,
            deductions: deductions,
            waived: wanted - kept,
            adjustmentsReleased: adjustmentsReleased,
            refundTotal: refundTotal,
            tenders: tenders,
            newTotals: newTotals,
            units: units,
            storeCredit: storeCredit
        )
    }

    /// `share(A, r) − share(A, r − k)` on the line's paid net and tax (SPEC section 5).
    static func shareRefund(_ line: Line, _ k: Int64) -> (net: Int64, tax: Int64) {
        let r = line.remainingQuantity
        let net = Money.share(line.paidNet, r, of: line.quantity) - Money.share(line.paidNet, r - k, of: line.quantity)
        let tax = Money.share(line.tax, r, of: line.quantity) - Money.share(line.tax, r - k, of: line.quantity)
        return (net, tax)
    }

    /// Last captured first, never more than a tender still holds; cash on delivery becomes store credit.
    static func allocate(_ amount: Int64, order: Order, storeCredit: Bool) throws(QuoteError) -> [TenderAllocation] {
        guard amount > 0 else { return [] }
        if storeCredit { return [TenderAllocation(tenderID: "store-credit", method: .storeCredit, amount: amount)] }
        var left = amount
        var allocations: [TenderAllocation] = []
        for tender in order.tenders.reversed() where left > 0 {
            let room = tender.amount - tender.refunded
            guard room > 0 else { continue }
            let take = min(room, left)
            let method: TenderAllocation.Method =
                tender.kind == .cashOnDelivery ? .storeCredit : (tender.captured ? .refund : .authorizationReduction)
            allocations.append(TenderAllocation(tenderID: tender.id, method: method, amount: take))
            left -= take
        }
        guard left == 0 else { throw .tendersCannotTakeRefund(orderID: order.id, amount: left) }
        return allocations
    }

    /// The order after a confirmed quote: units cancelled, refunds recorded, totals as quoted.
    public static func apply(_ quote: Quote, to order: Order) -> Order {
        var order = order
        for index in order.lines.indices {
            guard let k = quote.units[order.lines[index].id] else { continue }
            order.lines[index].cancelledQuantity += k
            if order.lines[index].kind == .subscriptionService { order.lines[index].renewalStopped = true }
        }
        for deduction in quote.deductions {
            if deduction.code == "PROMOTION_WITHDRAWN",
                let index = order.promotions.firstIndex(where: { $0.code == deduction.subject && !$0.withdrawn })
            {
                order.promotions[index].withdrawn = true
            }
            if deduction.code == "FREE_SHIPPING_WITHDRAWN" { order.shipping.freeWithdrawn = true }
        }
        order.shipping.refunded += quote.shippingRefund
        for allocation in quote.tenders {
            if let index = order.tenders.firstIndex(where: { $0.id == allocation.tenderID }) {
                order.tenders[index].refunded += allocation.amount
            }
            if allocation.method == .storeCredit { order.storeCreditIssued += allocation.amount }
        }
        order.totals = quote.newTotals
        order.version += 1
        if order.lines.allSatisfy({ $0.remainingQuantity == 0 }) { order.status = .cancelled }
        return order
    }
}

import NIOCore
import PartialCancelDomain
import PartialCancelStorage
import PartialCancelWire

/// Domain values as wire views: the one place where the two meet.
enum ViewMapping {
    static func view(_ order: Order) -> OrderView {
        var view = OrderView()
        view.id = order.id
        view.channel = order.channel
        view.externalID = order.externalID
        view.account = AccountView(id: order.account.id, tier: order.account.tier, email: order.account.email)
        view.status = order.status.rawValue
        view.currency = order.currency.code
        view.lines = order.lines.map { Self.view($0) }
        view.promotions = order.promotions.map { promotion in
            var p = PromotionView()
            p.code = promotion.code
            switch promotion.kind {
            case .amountOff(let amount):
                p.kind = "AMOUNT_OFF"
                p.amount = amount
            case .percentOff(let bps):
                p.kind = "PERCENT_OFF"
                p.bps = bps
            }
            p.minSubtotal = promotion.minSubtotal
            p.applied = promotion.applied
            return p
        }
        var shipping = ShippingView()
        shipping.amount = order.shipping.amount
        shipping.taxRateBps = order.shipping.taxRateBps
        shipping.freeOver = order.shipping.freeOver
        shipping.charged = order.shipping.charged
        shipping.tax = order.shipping.tax
        view.shipping = shipping
        view.tenders = order.tenders.map { tender in
            var t = TenderView()
            t.id = tender.id
            t.kind = tender.kind.rawValue
            t.amount = tender.amount
            t.captured = tender.captured
            t.refunded = tender.refunded
            return t
        }
        view.totals = Self.view(order.totals)
        view.version = order.version
        view.placedAtMs = order.placedAtMs
        view.notes = order.notes
        return view
    }

    static func view(_ totals: Totals) -> TotalsView {
        var view = TotalsView()
        view.subtotal = totals.subtotal
        view.discount = totals.discount
        view.paidNet = totals.paidNet
        view.tax = totals.tax
        view.shipping = totals.shipping
        view.shippingTax = totals.shippingTax
        view.total = totals.total
        view.adjustments = totals.adjustments
        view.refunded = totals.refunded
        return view
    }

    static func view(_ verdict: LineVerdict) -> LineEligibility {
        LineEligibility(
            lineID: verdict.lineID,
            quantity: verdict.quantity,
            eligible: verdict.eligible,
            reasons: verdict.reasons.map { EligibilityReasonView(code: $0.code, rule: $0.rule, detail: $0.detail) }
        )
    }

    static func view(_ quote: Quote) -> QuoteView {
        var view = QuoteView()
        view.orderID = quote.orderID
        view.orderVersion = quote.orderVersion
        view.currency = quote.currency
        view.policy = quote.policy.rawValue
        view.asOfMs = quote.asOfMs
        view.lines = quote.lines.map {
            LineRefundView(
                lineID: $0.lineID,
                quantity: $0.quantity,
                net: $0.net,
                tax: $0.tax,
                viaBundle: $0.viaBundle ?? ""
            )
        }
        view.shippingRefund = quote.shippingRefund
        view.deductions = quote.deductions.map { DeductionView(code: $0.code, subject: $0.subject, amount: $0.amount) }
        view.waived = quote.waived
        view.adjustmentsReleased = quote.adjustmentsReleased
        view.refundTotal = quote.refundTotal
        view.tenders = quote.tenders.map {
            TenderAllocationView(tenderID: $0.tenderID, method: $0.method.rawValue, amount: $0.amount)
        }
        view.newTotals = Self.view(quote.newTotals)
        return view
    }

    /// A request as the caller sees it; a pending request past its expiry shows as EXPIRED.
    static func view(_ request: CancellationRequest, nowMs: Int64) -> CancellationView {
        var view = CancellationView()
        view.id = request.id
        view.orderID = request.orderID
        let (lifecycle, _) = CancellationStateMachine().handle(request.lifecycle, .tick(nowMs: nowMs))
        view.state = lifecycle.state.rawValue
        view.lines = request.lines.map { CancelLine(lineID: $0.lineID, quantity: $0.quantity ?? 0) }
        view.reasonCode = request.reasonCode
        view.actor = request.actor
        view.storeCredit = request.storeCredit
        view.quote = Self.view(request.quote)
        view.expiresAtMs = request.lifecycle.expiresAtMs
        view.createdMs = request.createdMs
        view.updatedMs = request.updatedMs
        view.failedAttempts = Int64(request.lifecycle.failedAttempts)
        return view
    }

    static func view(_ allocation: RefundAllocation) -> RefundAllocationView {
        RefundAllocationView(
            id: allocation.id,
            refundID: allocation.refundID,
            cancellationID: allocation.cancellationID,
            tenderID: allocation.tenderID,
            method: allocation.method.rawValue,
            amount: allocation.amount,
            currency: allocation.currency,
            state: allocation.state.rawValue,
            reason: allocation.reason,
            accepted: allocation.accepted,
            fallback: allocation.fallback.rawValue,
            replaces: allocation.replaces,
            createdMs: allocation.createdMs,
            updatedMs: allocation.updatedMs
        )
    }

    static func view(_ refund: Refund) -> RefundView {
        var view = RefundView()
        view.refundID = refund.refundID
        view.cancellationID = refund.cancellationID
        view.amount = refund.amount
        view.currency = refund.currency
        view.allocations = refund.allocations.map {
            TenderAllocationView(tenderID: $0.tenderID, method: $0.method.rawValue, amount: $0.amount)
        }
        view.createdMs = refund.createdMs
        return view
    }

    static func view(_ line: Line) -> LineView {
        var view = LineView()
        view.id = line.id
        view.sku = line.sku
        view.kind = line.kind.rawValue
        view.parentLineID = line.parentLineID ?? ""
        view.optional = line.optional
        view.quantity = line.quantity
        view.cancelledQuantity = line.cancelledQuantity
        view.unitPrice = line.unitPrice
        view.discount = line.discount
        view.taxRateBps = line.taxRateBps
        view.fulfilment = line.fulfilment.map {
            FulfilmentView(
                location: $0.location,
                node: $0.node.rawValue,
                status: $0.status.rawValue,
                partnerAcceptsCancel: $0.partnerAcceptsCancel
            )
        }
        view.period = line.period.map { PaidPeriodView(startMs: $0.startMs, endMs: $0.endMs, amount: $0.amount) }
        view.net = line.net
        view.allocatedDiscount = line.allocatedDiscount
        view.paidNet = line.paidNet
        view.tax = line.tax
        return view
    }

    static func view(_ entry: HistoryEntry) -> HistoryEntryView {
        HistoryEntryView(
            seq: entry.seq,
            atMs: entry.atMs,
            actor: entry.actor,
            event: entry.event,
            detail: entry.detail,
            subject: entry.subject,
            fromState: entry.from,
            toState: entry.to
        )
    }

    static func view(_ pool: StockPool) -> StockPoolView {
        StockPoolView(
            sku: pool.sku,
            location: pool.location,
            onHand: pool.onHand,
            reserved: pool.reserved,
            available: pool.available
        )
    }

    /// A dead letter with the first `excerptBytes` of the payload it was read with, and no payload.
    static func view(_ letter: DeadLetter, excerptBytes: Int) -> DeadLetterView {
        var view = DeadLetterView()
        view.id = letter.id
        view.kind = letter.kind
        view.priority = letter.priority
        view.reason = letter.reason
        view.detail = letter.detail
        view.subject = letter.subject
        view.attempts = letter.attempts
        view.createdMs = letter.createdMs
        view.updatedMs = letter.updatedMs
        view.payloadExcerpt = ByteBuffer(bytes: letter.payload.prefix(excerptBytes))
        view.payloadBytes = letter.payloadBytes
        view.payloadSHA256 = letter.payloadSHA256
        view.state = letter.state
        view.resolvedMs = letter.resolvedMs
        return view
    }

    static func view(_ event: DeadLetterEvent) -> DeadLetterEventView {
        DeadLetterEventView(atMs: event.atMs, actor: event.actor, event: event.event, detail: event.detail)
    }

    static func view(_ shard: ShardHealth) -> ShardHealthView {
        ShardHealthView(
            index: UInt32(shard.index),
            open: shard.open,
            queueDepth: UInt32(clamping: shard.queueDepth),
            outboxBacklog: shard.outboxBacklog,
            deadLetters: shard.deadLetters,
            orders: shard.orders,
            outboxOldestAgeMs: shard.outboxOldestAgeMs,
            emailBacklog: shard.emailBacklog,
            emailOldestAgeMs: shard.emailOldestAgeMs
        )
    }

    static func view(_ event: StockEvent) -> StockUpdate {
        StockUpdate(
            sku: event.sku,
            seq: event.seq,
            atMs: event.atMs,
            location: event.location,
            onHand: event.onHand,
            reserved: event.reserved,
            available: max(0, event.onHand - event.reserved),
            cause: event.cause,
            reference: event.reference
        )
    }
}

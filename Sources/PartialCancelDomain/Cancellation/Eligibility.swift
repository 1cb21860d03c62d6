/// How refunds are computed for an order (SPEC section 5), chosen per channel and account tier.
public enum RefundPolicy: String, Sendable, Hashable, CaseIterable, Codable {
    /// Discounts stay with the lines they were allocated to; shipping is refunded with the last shippable line.
    case proportional
    /// Thresholds are re-evaluated on what remains; what no longer qualifies is deducted from the refund.
    case reprice
}

/// The cancellation rules from the server's config (SPEC section 7).
public struct CancellationPolicy: Sendable, Hashable {
    /// A rule for one channel and account tier (`*` matches any); the most specific match applies.
    public struct Rule: Sendable, Hashable {
        public var channel: String
        public var tier: String
        /// Cancellation allowed only this long after the order was placed (`CHANNEL_RULE`).
        public var cancelWindowMinutes: Int64?
        public var refundPolicy: RefundPolicy?

        public init(
            channel: String = "*",
            tier: String = "*",
            cancelWindowMinutes: Int64? = nil,
            refundPolicy: RefundPolicy? = nil
        ) {
            self.channel = channel
            self.tier = tier
            self.cancelWindowMinutes = cancelWindowMinutes
            self.refundPolicy = refundPolicy
        }

        public var name: String { "\(channel)/\(tier)" }

        func specificity(for order: Order) -> Int? {
            guard channel == "*" || channel == order.channel, tier == "*" || tier == order.account.tier else {
                return nil
            }
            return (channel == "*" ? 0 : 2) + (tier == "*" ? 0 : 1)
        }
    }

    public var refundPolicy: RefundPolicy = .proportional
    public var rules: [Rule] = []
    /// Tender kinds a cancellation cannot be refunded to (`PAYMENT_METHOD_NOT_ELIGIBLE`).
    public var ineligibleTenderKinds: Set<TenderKind> = []

    public init(
        refundPolicy: RefundPolicy = .proportional,
        rules: [Rule] = [],
        ineligibleTenderKinds: Set<TenderKind> = []
    ) {
        self.refundPolicy = refundPolicy
        self.rules = rules
        self.ineligibleTenderKinds = ineligibleTenderKinds
    }

    /// The most specific rule for the order's channel and tier (ties: the first listed).
    public func rule(for order: Order) -> Rule? {
        var best: (Int, Rule)?
        for rule in rules {
            guard let score = rule.specificity(for: order) else { continue }
            if best == nil || score > best!.0 { best = (score, rule) }
        }
        return best?.1
    }

    public func refundPolicy(for order: Order) -> RefundPolicy { rule(for: order)?.refundPolicy ?? refundPolicy }
}

/// A line (or some units of it) the caller wants cancelled; `quantity` nil means all remaining units.
public struct RequestedLine: Sendable, Hashable, Codable {
    public var lineID: String
    public var quantity: Int64?

    public init(lineID: String, quantity: Int64? = nil) {
        self.lineID = lineID
        self.quantity = quantity
    }
}

/// Why a line may not be cancelled, and which rule said so.
public struct EligibilityReason: Sendable, Hashable, Codable {
    public var code: String
    public var rule: String
    public var detail: String

    /// The reason codes of SPEC section 7, the one list of them.
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// A required bundle component cannot be cancelled without its bundle.
        case bundleComponentRequired = "BUNDLE_COMPONENT_REQUIRED"
        /// A pending request covers the line already.
        case cancellationPending = "CANCELLATION_PENDING"
        /// The channel's cancellation window has passed.
        case channelRule = "CHANNEL_RULE"
        /// The line (or a component) is released to the warehouse, picked or shipped.
        case fulfilmentInProgress = "FULFILMENT_IN_PROGRESS"
        /// Every unit of the line is cancelled already.
        case lineAlreadyCancelled = "LINE_ALREADY_CANCELLED"
        /// The order has no such line.
        case lineNotFound = "LINE_NOT_FOUND"
        /// The order is not confirmed (pending or cancelled).
        case orderNotConfirmed = "ORDER_NOT_CONFIRMED"
        /// The order has shipped.
        case orderShipped = "ORDER_SHIPPED"
        /// A tender's kind is one the policy does not refund.
        case paymentMethodNotEligible = "PAYMENT_METHOD_NOT_ELIGIBLE"
        /// More units requested than remain.
        case quantityExceedsRemaining = "QUANTITY_EXCEEDS_REMAINING"
        /// A quantity below 1, or a line requested twice.
        case quantityInvalid = "QUANTITY_INVALID"
        /// The 3PL or dropship partner no longer accepts cancellation.
        case thirdPartyLogistics = "THIRD_PARTY_LOGISTICS"
    }

    public init(_ code: Code, rule: String, detail: String = "") {
        self.code = code.rawValue
        self.rule = rule
        self.detail = detail
    }
}

/// The answer for one requested line.
public struct LineVerdict: Sendable, Hashable, Codable {
    public var lineID: String
    /// The units it would cancel (the request's, or all remaining); 0 when that cannot be told.
    public var quantity: Int64
    public var reasons: [EligibilityReason]
    public var eligible: Bool { reasons.isEmpty }
}

/// SPEC section 7: may these lines be cancelled now?
public enum Eligibility {
    public static func evaluate(
        _ order: Order,
        _ requested: [RequestedLine],
        pendingLineIDs: Set<String>,
        policy: CancellationPolicy,
        nowMs: Int64
    ) -> [LineVerdict] {
        var orderReasons: [EligibilityReason] = []
        switch order.status {
        case .pending:
            orderReasons.append(EligibilityReason(.orderNotConfirmed, rule: "order.status", detail: "status PENDING"))
        case .cancelled:
            orderReasons.append(EligibilityReason(.orderNotConfirmed, rule: "order.status", detail: "status CANCELLED"))
        case .shipped:
            orderReasons.append(EligibilityReason(.orderShipped, rule: "order.status", detail: "status SHIPPED"))
        case .confirmed: break
        }
        if let rule = policy.rule(for: order), let window = rule.cancelWindowMinutes,
            nowMs > order.placedAtMs + window * 60_000
        {
            orderReasons.append(
                EligibilityReason(
                    .channelRule,
                    rule: "channel_rule \(rule.name) cancel_window_minutes=\(window)",
                    detail: "placed \((nowMs - order.placedAtMs) / 60_000) minutes ago"
                )
            )
        }
        for tender in order.tenders where policy.ineligibleTenderKinds.contains(tender.kind) {
            orderReasons.append(
                EligibilityReason(
                    .paymentMethodNotEligible,
                    rule: "payment.ineligible_kinds",
                    detail: "tender \(tender.id) is \(tender.kind.rawValue)"
                )
            )
        }

        let requestedIDs = Dictionary(requested.map { ($0.lineID, $0) }, uniquingKeysWith: { first, _ in first })
        var seen = Set<String>()
        return requested.map { request in
            var reasons = orderReasons
            guard seen.insert(request.lineID).inserted else {
                return LineVerdict(
                    lineID: request.lineID,
                    quantity: 0,
                    reasons: [
                        EligibilityReason(.quantityInvalid, rule: "request.lines", detail: "line requested twice")
                    ]
                )
            }
            guard let line = order.line(request.lineID) else {
                return LineVerdict(
                    lineID: request.lineID,
                    quantity: 0,
                    reasons: reasons + [
                        EligibilityReason(
                            .lineNotFound,
                            rule: "order.lines",
                            detail:
                                "no line \(request.lineID); the order's lines: \(order.lines.map(\.id).joined(separator: ", "))"
                        )
                    ]
                )
            }
            let remaining = line.remainingQuantity
            let quantity = request.quantity ?? remaining
            if remaining == 0 {
                reasons.append(
                    EligibilityReason(
                        .lineAlreadyCancelled,
                        rule: "line.cancelled_quantity",
                        detail: "all \(line.quantity) units cancelled"
                    )
                )
            } else if quantity <= 0 {
                reasons.append(
                    EligibilityReason(
                        .quantityInvalid,
                        rule: "request.quantity",
                        detail: "quantity must be at least 1, got \(quantity)"
                    )
                )
            } else if quantity > remaining {
                reasons.append(
                    EligibilityReason(
                        .quantityExceedsRemaining,
                        rule: "line.remaining_quantity",
                        detail: "\(quantity) requested, \(remaining) remaining"
                    )
                )
            }
            // The line and, for a bundle, its components must still be stoppable.
            var fulfilmentLines = [line]
            if line.kind == .bundle { fulfilmentLines += order.lines.filter { $0.parentLineID == line.id } }
            if line.kind == .bundleComponent, let parent = line.parentLineID.flatMap(order.line) {
                fulfilmentLines.append(parent)
            }
            for candidate in fulfilmentLines {
                guard let fulfilment = candidate.fulfilment else { continue }
                switch fulfilment.status {
                case .shipped:
                    reasons.append(
                        EligibilityReason(
                            .orderShipped,
                            rule: "line.fulfilment.status",
                            detail: "line \(candidate.id) SHIPPED"
                        )
                    )
                case .releasedToWarehouse, .picked:
                    reasons.append(
                        EligibilityReason(
                            .fulfilmentInProgress,
                            rule: "line.fulfilment.status",
                            detail: "line \(candidate.id) \(fulfilment.status.rawValue)"
                        )
                    )
                case .reserved:
                    break
                }
                if (fulfilment.node == .thirdPartyLogistics || fulfilment.node == .dropship)
                    && !fulfilment.partnerAcceptsCancel
                {
                    reasons.append(
                        EligibilityReason(
                            .thirdPartyLogistics,
                            rule: "line.fulfilment.partner_accepts_cancel",
                            detail: "line \(candidate.id) at \(fulfilment.location) (\(fulfilment.node.rawValue))"
                        )
                    )
                }
            }
            if line.kind == .bundleComponent, !line.optional {
                let parentRequested = line.parentLineID.map { requestedIDs[$0] != nil } ?? false
                if !parentRequested {
                    reasons.append(
                        EligibilityReason(
                            .bundleComponentRequired,
                            rule: "line.optional",
                            detail:
                                "\(line.id) is a required part of \(line.parentLineID ?? "its bundle"); cancel the bundle"
                        )
                    )
                }
            }
            let related = Set(
                [line.id] + (line.parentLineID.map { [$0] } ?? [])
                    + order.lines.filter { $0.parentLineID == line.id }.map(\.id)
            )
            if !related.isDisjoint(with: pendingLineIDs) {
                reasons.append(
                    EligibilityReason(
                        .cancellationPending,
                        rule: "cancellation.pending",
                        detail: "a pending request covers line \(line.id)"
                    )
                )
            }
            return LineVerdict(lineID: line.id, quantity: max(0, quantity), reasons: Self.unique(reasons))
        }
    }

    private static func unique(_ reasons: [EligibilityReason]) -> [EligibilityReason] {
        var seen = Set<EligibilityReason>()
        return reasons.filter { seen.insert($0).inserted }
    }
}

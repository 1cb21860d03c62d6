import NIOCore
import PartialCancelDomain

/// A confirmation a client was told of: it must be in the databases, unchanged.
public struct AcknowledgedRefund: Sendable, Hashable {
    public var cancellationID: String
    public var refundID: String
    public var amount: Int64
    public init(cancellationID: String, refundID: String, amount: Int64) {
        self.cancellationID = cancellationID
        self.refundID = refundID
        self.amount = amount
    }
}

/// What `Storage.audit` found: counts, and every broken rule in words.
public struct AuditReport: Sendable {
    public var orders = 0
    public var requests = 0
    public var refunds = 0
    public var acknowledged = 0
    public var outboxMessages = 0
    public var pools = 0
    public var violations: [String] = []
}

/// What one shard (or database) holds, for the audit.
package struct AuditSnapshot: Sendable {
    package var orders: [Order] = []
    /// Order id → total when the order was ingested (`orders.ingested_total`).
    package var ingestedTotals: [String: Int64] = [:]
    package var requests: [CancellationRequest] = []
    package var refunds: [Refund] = []
    /// Outbox messages: id, destination shard, delivered.
    package var outbox: [(id: String, destination: Int, delivered: Bool)] = []
    package var applied: Set<String> = []
    package var stock: [StockPool] = []
    /// Broken rules of the change histories, in words.
    package var historyViolations: [String] = []

    package init() {}
}

extension AuditReport {
    /// SPEC section 12, checked from what the shards (or databases) of a quiet store hold (no
    /// server writing): no refund issued twice; per order Σ refunds = what it says it refunded and
    /// original total = current total + refunded; every confirmed request has exactly its quoted
    /// refund and nothing else has one; every acknowledged refund is present unchanged; every
    /// outbox message delivered and applied exactly once at its destination; every pool's reserved
    /// count = Σ the open reservations of the orders; `onHand` pools (by sku prefix) hold what was
    /// set; order and stock histories are numbered without a gap, and each pool's last recorded
    /// change is its state. The same checks for every backend.
    package static func check(
        _ shards: [AuditSnapshot],
        acknowledged: [AcknowledgedRefund],
        onHand: [String: Int64]
    ) -> AuditReport {
        let discrepancies = StockDiscrepancy.find(
            orders: shards.flatMap(\.orders),
            pools: shards.flatMap(\.stock)
        )
        var report = AuditReport()
        var violations: [String] = []
        let requests = Dictionary(
            shards.flatMap(\.requests).map { ($0.id, $0) },
            uniquingKeysWith: { first, _ in first }
        )
        let refunds = shards.flatMap(\.refunds)
        report.orders = shards.map(\.orders.count).reduce(0, +)
        report.requests = requests.count
        report.refunds = refunds.count

        // Refunds: unique ids, one per request, only for confirmed requests, exactly the quote.
        var refundByCancellation: [String: Refund] = [:]
        var refundIDs = Set<String>()
        for refund in refunds {
            if !refundIDs.insert(refund.refundID).inserted {
                violations.append("refund id \(refund.refundID) issued twice")
            }
            if refundByCancellation.updateValue(refund, forKey: refund.cancellationID) != nil {
                violations.append("cancellation \(refund.cancellationID) has more than one refund")
            }
            guard let request = requests[refund.cancellationID] else {
                violations.append("refund \(refund.refundID) for unknown cancellation \(refund.cancellationID)")
                continue
            }
            if refund.amount != request.quote.refundTotal {
                violations.append(
                    "refund \(refund.refundID) is \(refund.amount), its binding quote \(request.quote.refundTotal)"
                )
            }
        }
        for request in requests.values {
            let settled = request.lifecycle.state == .confirmed || request.lifecycle.state == .completed
            if settled && refundByCancellation[request.id] == nil {
                violations.append("\(request.id) is \(request.lifecycle.state.rawValue) without a refund")
            }
            if !settled && refundByCancellation[request.id] != nil {
                violations.append("\(request.id) is \(request.lifecycle.state.rawValue) but has a refund")
            }
            if request.lifecycle.state == .confirmed {
                violations.append("\(request.id) is still CONFIRMED: a stock release never completed")
            }
        }

        // Orders: the money adds up.
        let ingested = shards.reduce(into: [String: Int64]()) { $0.merge($1.ingestedTotals) { first, _ in first } }
        let refundsByOrder = Dictionary(grouping: refunds, by: \.orderID)
        for order in shards.flatMap(\.orders) {
            let refunded = (refundsByOrder[order.id] ?? []).map(\.amount).reduce(0, +)
            if refunded != order.totals.refunded {
                violations.append(
                    "\(order.id): refunds add to \(refunded), the order says \(order.totals.refunded)"
                )
            }
            if order.tenders.map(\.refunded).reduce(0, +) != refunded {
                violations.append("\(order.id): tenders show a different refunded sum than \(refunded)")
            }
            if let original = ingested[order.id], original != order.totals.total + refunded {
                violations.append(
                    "\(order.id): total \(order.totals.total) + refunded \(refunded) ≠ total at intake \(original)"
                )
            }
        }

        // Acknowledged refunds survived unchanged.
        for ack in acknowledged {
            report.acknowledged += 1
            guard let refund = refundByCancellation[ack.cancellationID] else {
                violations.append(
                    "acknowledged confirmation \(ack.cancellationID) (refund \(ack.refundID)) is missing"
                )
                continue
            }
            if refund.refundID != ack.refundID || refund.amount != ack.amount {
                violations.append(
                    "\(ack.cancellationID): acknowledged refund \(ack.refundID) \(ack.amount), stored \(refund.refundID) \(refund.amount)"
                )
            }
        }

        // Cross-shard messages: delivered, and applied exactly once (applied_messages is keyed by id).
        for (shard, snapshot) in shards.enumerated() {
            for message in snapshot.outbox {
                report.outboxMessages += 1
                if !message.delivered {
                    violations.append("outbox message \(message.id) of shard \(shard) is undelivered")
                }
                guard shards.indices.contains(message.destination) else {
                    violations.append("outbox message \(message.id) names shard \(message.destination)")
                    continue
                }
                if message.delivered && !shards[message.destination].applied.contains(message.id) {
                    violations.append(
                        "outbox message \(message.id) is marked delivered but shard \(message.destination) never applied it"
                    )
                }
            }
        }

        // Histories: what watchers resume from and the audit trail.
        violations += shards.flatMap(\.historyViolations)

        // Stock.
        violations += discrepancies.map { "stock \($0)" }
        let pools = shards.flatMap(\.stock)
        report.pools = pools.count
        for pool in pools {
            for (prefix, expected) in onHand where pool.sku.hasPrefix(prefix) && pool.onHand != expected {
                violations.append("stock \(pool.sku)@\(pool.location): on hand \(pool.onHand), set to \(expected)")
            }
        }
        report.violations = violations
        return report
    }
}

extension Storage {
    /// `AuditReport.check` over this store's shards.
    public func audit(
        acknowledged: [AcknowledgedRefund] = [],
        onHand: [String: Int64] = [:],
        on loop: any EventLoop
    ) -> EventLoopFuture<AuditReport> {
        let snapshots = workers.indices.map { index in on(index, loop) { try $0.auditSnapshot() } }
        return EventLoopFuture.whenAllSucceed(snapshots, on: loop).map { shards in
            AuditReport.check(shards, acknowledged: acknowledged, onHand: onHand)
        }
    }
}

import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PartialCancelDomain

// Storage: Idempotency keys.
extension Storage {
    /// Claims an idempotency scope (principal, method, key) for a request with `fingerprint`.
    public func claimIdempotency(
        scope: String,
        fingerprint: [UInt8],
        nowMs: Int64,
        retentionMs: Int64,
        staleAfterMs: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<IdempotencyClaim> {
        on(router.shard(forOrder: "idem:" + scope), loop) { store in
            try store.claimIdempotency(
                scope: scope,
                fingerprint: fingerprint,
                nowMs: nowMs,
                retentionMs: retentionMs,
                staleAfterMs: staleAfterMs
            )
        }
    }

    /// Stores the reply of a claimed scope.
    public func completeIdempotency(
        scope: String,
        status: [UInt8],
        response: [UInt8],
        nowMs: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<Void> {
        on(router.shard(forOrder: "idem:" + scope), loop) { store in
            try store.completeIdempotency(scope: scope, status: status, response: response, nowMs: nowMs)
        }
    }

    /// Gives a claim back (the call failed in a way worth retrying).
    public func releaseIdempotency(scope: String, on loop: any EventLoop) -> EventLoopFuture<Void> {
        on(router.shard(forOrder: "idem:" + scope), loop) { store in try store.releaseIdempotency(scope: scope) }
    }

    /// Records a fulfilment update reported for a line (by the warehouse or a partner): status and
    /// whether the partner still accepts cancellation. The order's version goes up, so quotes made
    /// before it are checked again at confirmation.
    public func updateFulfilment(
        orderID: String,
        lineID: String,
        status: FulfilmentStatus,
        partnerAcceptsCancel: Bool? = nil,
        actor: String,
        on loop: any EventLoop
    ) -> EventLoopFuture<Order?> {
        on(router.shard(forOrder: orderID), loop) { store in
            try store.transaction {
                guard var order = try store.order(orderID),
                    let index = order.lines.firstIndex(where: { $0.id == lineID }),
                    let before = order.lines[index].fulfilment
                else { return nil }
                let statusBefore = order.status
                // Components share their bundle's fulfilment.
                for i in order.lines.indices where i == index || order.lines[i].parentLineID == lineID {
                    order.lines[i].fulfilment?.status = status
                    if let partnerAcceptsCancel {
                        order.lines[i].fulfilment?.partnerAcceptsCancel = partnerAcceptsCancel
                    }
                }
                if order.lines.allSatisfy({
                    $0.fulfilment == nil || $0.fulfilment?.status == .shipped || $0.remainingQuantity == 0
                }),
                    order.lines.contains(where: { $0.fulfilment?.status == .shipped })
                {
                    order.status = .shipped
                }
                order.version += 1
                try store.update(order)
                try store.appendHistory(
                    orderID: orderID,
                    actor: actor,
                    event: "FULFILMENT_UPDATED",
                    subject: lineID,
                    from: before.status.rawValue,
                    to: status.rawValue
                )
                if order.status != statusBefore {
                    try store.appendHistory(
                        orderID: orderID,
                        actor: actor,
                        event: "ORDER_STATUS_CHANGED",
                        subject: orderID,
                        from: statusBefore.rawValue,
                        to: order.status.rawValue
                    )
                }
                return order
            }
        }
    }

    /// An order's state in a history entry: status and what the customer pays.
    static func summary(_ order: Order) -> String {
        "\(order.status.rawValue), total \(order.totals.total) \(order.currency.code)"
    }
}

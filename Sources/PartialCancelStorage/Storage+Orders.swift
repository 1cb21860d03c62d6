import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PartialCancelDomain

// Storage: Orders.
extension Storage {
    /// Stores a newly priced order with its stock reservations, or returns the order already stored
    /// under its id (an ingest retried with the same channel and external id).
    public func ingest(_ order: Order, actor: String, on loop: any EventLoop) -> EventLoopFuture<IngestOutcome> {
        let shard = router.shard(forOrder: order.id)
        let router = self.router
        return on(shard, loop) { store in
            try store.transaction {
                if let existing = try store.order(order.id) {
                    return (IngestOutcome(order: existing, created: false), false)
                }
                try store.insert(order)
                try store.appendHistory(orderID: order.id, actor: actor, .ingested(order))
                let sent = try store.route(order.intakeReservations(), router: router)
                return (IngestOutcome(order: order, created: true), sent)
            }
        }.map { outcome, sent in
            if sent { self.deliver(from: shard) }
            return outcome
        }
    }

    /// The order and its history, or nil.
    public func order(_ id: String, on loop: any EventLoop) -> EventLoopFuture<(order: Order, history: [HistoryEntry])?>
    {
        on(router.shard(forOrder: id), loop) { store in
            guard let order = try store.order(id) else { return nil }
            return (order, try store.history(id))
        }
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
                order.recordFulfilment(lineID: lineID, status: status, partnerAcceptsCancel: partnerAcceptsCancel)
                order.version += 1
                try store.update(order)
                try store.appendHistory(
                    orderID: orderID,
                    actor: actor,
                    .fulfilmentUpdated(lineID: lineID, from: before.status, to: status)
                )
                if order.status != statusBefore {
                    try store.appendHistory(
                        orderID: orderID,
                        actor: actor,
                        .orderStatusChanged(orderID, from: statusBefore, to: order.status)
                    )
                }
                return order
            }
        }
    }
}

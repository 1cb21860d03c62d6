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
}

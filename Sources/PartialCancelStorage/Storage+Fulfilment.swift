import NIOCore
import PartialCancelDomain

// Storage: Fulfilment events.
extension Storage {
    /// Records a batch of one order's fulfilment events in one transaction of the order's shard.
    /// One process owns the shard, so its worker's order serialises this with every other change
    /// of the order (a confirmation included).
    public func recordFulfilment(
        orderID: String,
        events: [FulfilmentEvent],
        actor: String,
        nowMs: Int64,
        on loop: any EventLoop,
        decide: @escaping @Sendable (Order, [CancellationRequest], [FulfilmentEvent]) throws -> FulfilmentWrite
    ) -> EventLoopFuture<FulfilmentRecordResult?> {
        let shard = router.shard(forOrder: orderID)
        let router = self.router
        return on(shard, loop) { store -> (FulfilmentRecordResult?, Bool) in
            try store.transaction {
                guard let order = try store.order(orderID) else { return (nil, false) }
                let recorded = try store.recordedFulfilmentEvents(events)
                let fresh = events.filter { recorded[FulfilmentEventKey($0).value] == nil }
                let pending = try store.cancellationRequests(orderID: orderID).filter { $0.isPending(at: nowMs) }
                let write = try decide(order, pending, fresh)
                let decision = write.decision
                for outcome in decision.outcomes where outcome.result != .refused {
                    try store.insert(outcome, receivedMs: nowMs)
                }
                if decision.order != order { try store.update(decision.order) }
                for record in decision.history { try store.appendHistory(orderID: orderID, actor: actor, record) }
                for abort in decision.aborted { try store.update(abort.after) }
                for notification in write.notifications { try store.add(notification) }
                let sent = try store.route(decision.consumed, router: router)
                return (FulfilmentRecordResult(events: events, recorded: recorded, decision: decision), sent)
            }
        }.map { result, sent in
            if sent { self.deliver(from: shard) }
            return result
        }
    }
}

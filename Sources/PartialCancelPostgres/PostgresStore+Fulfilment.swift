import NIOCore
import PartialCancelDomain
import PartialCancelStorage
import PostgresNIO

// PostgresStore: fulfilment events.
extension PostgresStore: FulfilmentStore {
    /// The order's row lock serialises the batch with every other change of the order on any node:
    /// a confirmation racing a PICKED event either sees the line picked, or cancelled its units first.
    public func recordFulfilment(
        orderID: String,
        events: [FulfilmentEvent],
        actor: String,
        nowMs: Int64,
        on loop: any EventLoop,
        decide: @escaping @Sendable (Order, [CancellationRequest], [FulfilmentEvent]) throws -> FulfilmentWrite
    ) -> EventLoopFuture<FulfilmentRecordResult?> {
        let database = database(forOrder: orderID)
        return future(on: loop) {
            let (result, queued) = try await database.transaction { tx -> (FulfilmentRecordResult?, Bool) in
                guard let order = try await self.lockOrder(orderID, in: tx) else { return (nil, false) }
                var recorded: [String: FulfilmentEventOutcome] = [:]
                for event in events {
                    guard
                        let row = try await tx.first(
                            """
                            SELECT order_id, line_id, result, detail, order_version FROM fulfilment_events
                            WHERE source = \(event.source) AND event_id = \(event.eventID)
                            """
                        )
                    else { continue }
                    let (order, line, result, detail, version) = try row.decode(
                        (String, String, String, String, Int64).self
                    )
                    recorded[FulfilmentEventKey(event).value] = FulfilmentEventKey.recorded(
                        event,
                        orderID: order,
                        lineID: line,
                        result: result,
                        detail: detail,
                        orderVersion: version
                    )
                }
                let fresh = events.filter { recorded[FulfilmentEventKey($0).value] == nil }
                let pending = try await self.requests(orderID: orderID, in: tx).map(\.request)
                    .filter { $0.isPending(at: nowMs) }
                let write = try decide(order, pending, fresh)
                let decision = write.decision
                for outcome in decision.outcomes where outcome.result != .refused {
                    try await tx.run(
                        """
                        INSERT INTO fulfilment_events (source, event_id, order_id, line_id, result, detail, order_version,
                                                       occurred_ms, received_ms)
                        VALUES (\(outcome.source), \(outcome.eventID), \(outcome.orderID), \(outcome.lineID),
                                \(outcome.result.rawValue), \(outcome.detail), \(outcome.orderVersion),
                                \(outcome.occurredMs), \(nowMs))
                        """
                    )
                }
                if decision.order != order { try await self.update(decision.order, from: order, in: tx) }
                for record in decision.history {
                    try await self.appendHistory(tx, orderID: orderID, actor: actor, record)
                }
                for abort in decision.aborted { try await self.update(abort.after, in: tx) }
                for notification in write.notifications { try await self.add(notification, in: tx) }
                let queued = try await self.route(decision.consumed, from: database, in: tx)
                return (FulfilmentRecordResult(events: events, recorded: recorded, decision: decision), queued)
            }
            if queued { self.deliver(from: database.index) }
            return result
        }
    }
}

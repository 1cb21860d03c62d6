import PartialCancelDomain

// ShardStore: Fulfilment events.
extension ShardStore {
    /// The outcomes recorded for events with these (source, event id) keys.
    func recordedFulfilmentEvents(_ events: [FulfilmentEvent]) throws -> [String: FulfilmentEventOutcome] {
        var found: [String: FulfilmentEventOutcome] = [:]
        for event in events {
            try db.query(
                """
                SELECT order_id, line_id, result, detail, order_version, occurred_ms
                FROM fulfilment_events WHERE source = ?1 AND event_id = ?2
                """,
                [.text(event.source), .text(event.eventID)]
            ) { row in
                found[FulfilmentEventKey(event).value] = FulfilmentEventKey.recorded(
                    event,
                    orderID: row.text(0),
                    lineID: row.text(1),
                    result: row.text(2),
                    detail: row.text(3),
                    orderVersion: row.int(4)
                )
            }
        }
        return found
    }

    func insert(_ outcome: FulfilmentEventOutcome, receivedMs: Int64) throws {
        try db.run(
            """
            INSERT INTO fulfilment_events (source, event_id, order_id, line_id, result, detail, order_version, occurred_ms, received_ms)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
            """,
            [
                .text(outcome.source), .text(outcome.eventID), .text(outcome.orderID), .text(outcome.lineID),
                .text(outcome.result.rawValue), .text(outcome.detail), .integer(outcome.orderVersion),
                .integer(outcome.occurredMs), .integer(receivedMs),
            ]
        )
    }
}

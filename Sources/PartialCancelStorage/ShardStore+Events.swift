import PartialCancelDomain

// ShardStore: the event outbox for touchpoints' webhooks (docs/EVENTS.md).
extension ShardStore {
    /// Writes an order history entry's event for each subscription that wants its type.
    func routeOrderEvent(orderID: String, seq: Int64, atMs: Int64, _ record: HistoryRecord) throws {
        let routes = configuration.eventRoutes
        guard !routes.isEmpty, let type = TouchpointEvent.type(ofHistoryEvent: record.event) else { return }
        let subscriptions = routes.subscriptions(for: type)
        guard !subscriptions.isEmpty else { return }
        let state = try db.first(
            "SELECT version, status, total, COALESCE(ingested_total, total) FROM orders WHERE id = ?1",
            [.text(orderID)]
        ) { EventOrderState(version: $0.int(0), status: $0.text(1), total: $0.int(2), refunded: $0.int(3) - $0.int(2)) }
        let payload = TouchpointEvent.orderPayload(
            type: type,
            orderID: orderID,
            seq: seq,
            atMs: atMs,
            record: record,
            order: state
        )
        for subscription in subscriptions {
            try insertEvent(
                subscription: subscription,
                key: orderID,
                seq: seq,
                type: type,
                payload: payload,
                atMs: atMs
            )
        }
    }

    /// Writes a stock change's event for each subscription that wants `stock.changed`.
    func routeStockEvent(_ pool: StockPool, seq: Int64, atMs: Int64, cause: String, reference: String) throws {
        let subscriptions = configuration.eventRoutes.subscriptions(for: TouchpointEvent.stockChanged)
        guard !subscriptions.isEmpty else { return }
        let payload = TouchpointEvent.stockPayload(pool, seq: seq, atMs: atMs, cause: cause, reference: reference)
        for subscription in subscriptions {
            try insertEvent(
                subscription: subscription,
                key: "sku:\(pool.sku)",
                seq: seq,
                type: TouchpointEvent.stockChanged,
                payload: payload,
                atMs: atMs
            )
        }
    }

    private func insertEvent(
        subscription: String,
        key: String,
        seq: Int64,
        type: String,
        payload: [UInt8],
        atMs: Int64
    ) throws {
        try db.run(
            """
            INSERT INTO event_outbox (subscription, key, seq, type, payload, state, attempts, next_attempt_ms, last_error, created_ms)
            VALUES (?1, ?2, ?3, ?4, ?5, 'PENDING', 0, ?6, '', ?6)
            """,
            [.text(subscription), .text(key), .integer(seq), .text(type), .blob(payload), .integer(atMs)]
        )
    }

    /// Up to `limit` keys' pending events, each key's in seq order from the first not yet sent:
    /// only keys whose first open event is PENDING (not DEAD) and due.
    func dueEvents(nowMs: Int64, limit: Int, perKey: Int) throws -> [[OutboundEvent]] {
        var heads: [(subscription: String, key: String, seq: Int64)] = []
        try db.query(
            """
            SELECT e.subscription, e.key, e.seq FROM event_outbox e
            WHERE e.state = 'PENDING' AND e.next_attempt_ms <= ?1
              AND NOT EXISTS (SELECT 1 FROM event_outbox p WHERE p.subscription = e.subscription AND p.key = e.key
                              AND p.seq < e.seq AND p.state <> 'SENT')
            ORDER BY e.next_attempt_ms, e.id LIMIT ?2
            """,
            [.integer(nowMs), .integer(Int64(limit))]
        ) { heads.append(($0.text(0), $0.text(1), $0.int(2))) }
        return try heads.map { head in
            var group: [OutboundEvent] = []
            try db.query(
                """
                SELECT id, seq, type, payload, attempts FROM event_outbox
                WHERE subscription = ?1 AND key = ?2 AND seq >= ?3 AND state = 'PENDING' ORDER BY seq LIMIT ?4
                """,
                [.text(head.subscription), .text(head.key), .integer(head.seq), .integer(Int64(perKey))]
            ) { row in
                group.append(
                    OutboundEvent(
                        id: "ev-\(index)-\(row.int(0))",
                        subscription: head.subscription,
                        key: head.key,
                        seq: row.int(1),
                        type: row.text(2),
                        payload: row.blob(3),
                        attempts: Int(row.int(4))
                    )
                )
            }
            return group
        }
    }

    func eventSent(row: Int64) throws {
        try db.run(
            "UPDATE event_outbox SET state = 'SENT', sent_ms = ?2 WHERE id = ?1 AND state = 'PENDING'",
            [.integer(row), .integer(now())]
        )
    }

    func eventRetry(row: Int64, error: String, nextAttemptMs: Int64) throws {
        try db.run(
            "UPDATE event_outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_ms = ?3 WHERE id = ?1 AND state = 'PENDING'",
            [.integer(row), .text(error), .integer(nextAttemptMs)]
        )
    }

    func eventDead(_ event: OutboundEvent, row: Int64, error: String) throws {
        try transaction {
            let changed = try db.run(
                "UPDATE event_outbox SET state = 'DEAD', attempts = attempts + 1, last_error = ?2 WHERE id = ?1 AND state = 'PENDING'",
                [.integer(row), .text(error)]
            )
            guard changed == 1 else { return }
            _ = try addDeadLetter(
                kind: EventDeadLetter.kind,
                priority: 0,
                reason: "DELIVERY_FAILED",
                detail:
                    "\(event.attempts + 1) attempts to \(event.subscription); last error: \(error); later events of \(event.key) wait",
                subject: event.id,
                payload: event.payload
            )
        }
    }

    func reviveEvent(row: Int64) throws -> Bool {
        try db.run(
            "UPDATE event_outbox SET state = 'PENDING', attempts = 0, next_attempt_ms = ?2 WHERE id = ?1 AND state = 'DEAD'",
            [.integer(row), .integer(now())]
        ) == 1
    }

    /// Forgets sent events older than `beforeMs`.
    func pruneEvents(beforeMs: Int64) throws -> Int {
        try db.run("DELETE FROM event_outbox WHERE state = 'SENT' AND sent_ms < ?1", [.integer(beforeMs)])
    }
}

import NIOCore
import PartialCancelDomain
import PartialCancelStorage
import PostgresNIO

// PostgresStore: the event outbox for touchpoints' webhooks, in the database of the event's key.
extension PostgresStore: EventOutboxStore {
    /// How long a node that took a key's events to send holds them (as payments' lease).
    static let eventLeaseMs: Int64 = 30_000

    func routeOrderEvent(
        _ tx: Transaction,
        orderID: String,
        seq: Int64,
        atMs: Int64,
        _ record: HistoryRecord
    ) async throws {
        guard let type = TouchpointEvent.type(ofHistoryEvent: record.event) else { return }
        let subscriptions = configuration.eventRoutes.subscriptions(for: type)
        guard !subscriptions.isEmpty else { return }
        var state: EventOrderState?
        if let row = try await tx.first(
            "SELECT version, status, total, ingested_total FROM orders WHERE id = \(orderID)"
        ) {
            let (version, status, total, ingested) = try row.decode((Int64, String, Int64, Int64).self)
            state = EventOrderState(version: version, status: status, total: total, refunded: ingested - total)
        }
        let payload = TouchpointEvent.orderPayload(
            type: type,
            orderID: orderID,
            seq: seq,
            atMs: atMs,
            record: record,
            order: state
        )
        for subscription in subscriptions {
            try await insertEvent(
                tx,
                subscription: subscription,
                key: orderID,
                seq: seq,
                type: type,
                payload: payload,
                atMs: atMs
            )
        }
    }

    func routeStockEvent(
        _ tx: Transaction,
        _ pool: StockPool,
        seq: Int64,
        atMs: Int64,
        cause: String,
        reference: String
    ) async throws {
        let subscriptions = configuration.eventRoutes.subscriptions(for: TouchpointEvent.stockChanged)
        guard !subscriptions.isEmpty else { return }
        let payload = TouchpointEvent.stockPayload(pool, seq: seq, atMs: atMs, cause: cause, reference: reference)
        for subscription in subscriptions {
            try await insertEvent(
                tx,
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
        _ tx: Transaction,
        subscription: String,
        key: String,
        seq: Int64,
        type: String,
        payload: [UInt8],
        atMs: Int64
    ) async throws {
        try await tx.run(
            """
            INSERT INTO event_outbox (subscription, key, seq, type, payload, state, attempts, next_attempt_ms, last_error,
                                      created_ms)
            VALUES (\(subscription), \(key), \(seq), \(type), \(payload.bytea), 'PENDING', 0, \(atMs), '', \(atMs))
            """
        )
    }

    /// Each database's due keys for this node: the head of each key (its first event not sent) is
    /// leased in the statement that finds it, skipping heads another node holds; the key's later
    /// pending events follow it, sent only by the node that holds the head.
    public func dueEvents(
        nowMs: Int64,
        limit: Int,
        perKey: Int,
        on loop: any EventLoop
    ) -> EventLoopFuture<[[OutboundEvent]]> {
        future(on: loop) {
            var groups: [[OutboundEvent]] = []
            for database in self.databases {
                let heads = try await database.rows(
                    """
                    UPDATE event_outbox SET next_attempt_ms = \(nowMs + Self.eventLeaseMs)
                    WHERE id IN (
                        SELECT e.id FROM event_outbox e
                        WHERE e.state = 'PENDING' AND e.next_attempt_ms <= \(nowMs)
                          AND NOT EXISTS (SELECT 1 FROM event_outbox p WHERE p.subscription = e.subscription
                                          AND p.key = e.key AND p.seq < e.seq AND p.state <> 'SENT')
                        ORDER BY e.next_attempt_ms, e.id LIMIT \(limit) FOR UPDATE SKIP LOCKED
                    )
                    RETURNING subscription, key, seq
                    """
                )
                for head in heads {
                    let (subscription, key, seq) = try head.decode((String, String, Int64).self)
                    let rows = try await database.rows(
                        """
                        SELECT id, seq, type, payload, attempts FROM event_outbox
                        WHERE subscription = \(subscription) AND key = \(key) AND seq >= \(seq) AND state = 'PENDING'
                        ORDER BY seq LIMIT \(perKey)
                        """
                    )
                    groups.append(
                        try rows.map { row in
                            let (id, seq, type, payload, attempts) = try row.decode(
                                (Int64, Int64, String, ByteBuffer, Int64).self
                            )
                            return OutboundEvent(
                                id: "ev-\(database.index)-\(id)",
                                subscription: subscription,
                                key: key,
                                seq: seq,
                                type: type,
                                payload: [UInt8](bytea: payload),
                                attempts: Int(attempts)
                            )
                        }
                    )
                }
            }
            return groups
        }
    }

    public func eventSent(_ event: OutboundEvent, on loop: any EventLoop) -> EventLoopFuture<Void> {
        guard let (database, row) = address(event.id, prefix: "ev") else { return loop.makeSucceededVoidFuture() }
        return future(on: loop) {
            _ = try await database.rows(
                """
                UPDATE event_outbox SET state = 'SENT', sent_ms = \(self.clock.nowMs())
                WHERE id = \(row) AND state = 'PENDING'
                """
            )
        }
    }

    public func eventRetry(
        _ event: OutboundEvent,
        error: String,
        nextAttemptMs: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<Void> {
        guard let (database, row) = address(event.id, prefix: "ev") else { return loop.makeSucceededVoidFuture() }
        return future(on: loop) {
            _ = try await database.rows(
                """
                UPDATE event_outbox SET attempts = attempts + 1, last_error = \(error), next_attempt_ms = \(nextAttemptMs)
                WHERE id = \(row) AND state = 'PENDING'
                """
            )
        }
    }

    public func eventDead(_ event: OutboundEvent, error: String, on loop: any EventLoop) -> EventLoopFuture<Void> {
        guard let (database, row) = address(event.id, prefix: "ev") else { return loop.makeSucceededVoidFuture() }
        return future(on: loop) {
            try await database.transaction { tx in
                let changed = try await tx.changed(
                    """
                    UPDATE event_outbox SET state = 'DEAD', attempts = attempts + 1, last_error = \(error)
                    WHERE id = \(row) AND state = 'PENDING' RETURNING 1
                    """
                )
                guard changed == 1 else { return }
                _ = try await self.addDeadLetter(
                    in: tx,
                    database: database,
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
    }

    public func reviveEvent(deadLetter: DeadLetter, on loop: any EventLoop) -> EventLoopFuture<Bool> {
        guard let (database, row) = address(deadLetter.subject, prefix: "ev"),
            let (letterDatabase, letterRow) = address(deadLetter.id, prefix: "dl")
        else { return loop.makeSucceededFuture(false) }
        return future(on: loop) {
            let revived =
                try await database.rows(
                    """
                    UPDATE event_outbox SET state = 'PENDING', attempts = 0, next_attempt_ms = \(self.clock.nowMs())
                    WHERE id = \(row) AND state = 'DEAD' RETURNING 1
                    """
                ).count == 1
            try await self.resolve(letterRow, in: letterDatabase, actor: "system")
            return revived
        }
    }

    public func pruneEvents(beforeMs: Int64, on loop: any EventLoop) -> EventLoopFuture<Int> {
        future(on: loop) {
            var pruned = 0
            for database in self.databases {
                pruned += try await database.rows(
                    "DELETE FROM event_outbox WHERE state = 'SENT' AND sent_ms < \(beforeMs) RETURNING 1"
                ).count
            }
            return pruned
        }
    }
}

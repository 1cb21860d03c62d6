import Foundation
import NIOCore
import PartialCancelDomain
import PartialCancelStorage
import PostgresNIO

// PostgresStore: orders and their history.
extension PostgresStore: OrderStore {
    public func ingest(_ order: Order, actor: String, on loop: any EventLoop) -> EventLoopFuture<IngestOutcome> {
        let database = database(forOrder: order.id)
        return future(on: loop) {
            let (outcome, queued) = try await database.transaction { tx -> (IngestOutcome, Bool) in
                let now = self.clock.nowMs()
                let inserted = try await tx.changed(
                    """
                    INSERT INTO orders (id, channel, external_id, account_id, status, version, total, ingested_total, body,
                                        created_ms, updated_ms)
                    VALUES (\(order.id), \(order.channel), \(order.externalID), \(order.account.id), \(order.status.rawValue),
                            \(order.version), \(order.totals.total), \(order.totals.total), \(try BodyCodec.encode(order).bytea),
                            \(now), \(now))
                    ON CONFLICT DO NOTHING RETURNING 1
                    """
                )
                guard inserted == 1 else {
                    // Stored before (by this node or another, committed): the ingest is a retry.
                    guard let existing = try await self.readOrder(order.id, in: tx) else {
                        throw StorageError(
                            code: 0,
                            "order \(order.id) conflicts with a stored order of another id (same channel and external id)"
                        )
                    }
                    return (IngestOutcome(order: existing, created: false), false)
                }
                try await self.appendHistory(tx, orderID: order.id, actor: actor, .ingested(order))
                let queued = try await self.route(order.intakeReservations(), from: database, in: tx)
                return (IngestOutcome(order: order, created: true), queued)
            }
            if queued { self.deliver(from: database.index) }
            return outcome
        }
    }

    public func order(_ id: String, on loop: any EventLoop) -> EventLoopFuture<(order: Order, history: [HistoryEntry])?>
    {
        let database = database(forOrder: id)
        return future(on: loop) {
            // One statement, one snapshot: the order and the history that led to it.
            let rows = try await database.rows(
                """
                SELECT o.body, h.seq, h.at_ms, h.actor, h.event, h.subject, h.from_state, h.to_state, h.detail
                FROM orders o LEFT JOIN order_history h ON h.order_id = o.id
                WHERE o.id = \(id) ORDER BY h.seq
                """
            )
            guard let first = rows.first else { return nil }
            let order = try BodyCodec.decode(Order.self, from: [UInt8](bytea: try first.decode(ByteBuffer.self)))
            let history = try rows.compactMap { row -> HistoryEntry? in
                let (_, seq, atMs, actor, event, subject, from, to, detail) = try row.decode(
                    (ByteBuffer, Int64?, Int64?, String?, String?, String?, String?, String?, String?).self
                )
                guard let seq else { return nil }
                return HistoryEntry(
                    seq: seq,
                    atMs: atMs ?? 0,
                    actor: actor ?? "",
                    event: event ?? "",
                    subject: subject ?? "",
                    from: from ?? "",
                    to: to ?? "",
                    detail: detail ?? ""
                )
            }
            return (order, history)
        }
    }

    // MARK: Rows of orders, shared by the other concerns

    func readOrder(_ id: String, in tx: Transaction) async throws -> Order? {
        guard let row = try await tx.first("SELECT body FROM orders WHERE id = \(id)") else { return nil }
        return try BodyCodec.decode(Order.self, from: [UInt8](bytea: try row.decode(ByteBuffer.self)))
    }

    /// Reads an order and locks its row until the transaction ends: every change to an order
    /// starts here, so that changes to one order are serialised across nodes.
    func lockOrder(_ id: String, in tx: Transaction) async throws -> Order? {
        guard let row = try await tx.first("SELECT body FROM orders WHERE id = \(id) FOR UPDATE") else { return nil }
        return try BodyCodec.decode(Order.self, from: [UInt8](bytea: try row.decode(ByteBuffer.self)))
    }

    /// Writes an order over the version it was read at (locked): a row at another version means
    /// a writer that did not lock, and fails the transaction instead of losing its update.
    func update(_ order: Order, from previous: Order, in tx: Transaction) async throws {
        let changed = try await tx.changed(
            """
            UPDATE orders SET status = \(order.status.rawValue), version = \(order.version), total = \(order.totals.total),
                body = \(try BodyCodec.encode(order).bytea), updated_ms = \(clock.nowMs())
            WHERE id = \(order.id) AND version = \(previous.version) RETURNING 1
            """
        )
        guard changed == 1 else {
            throw StorageError(
                code: 0,
                "order \(order.id) changed under its lock (version \(previous.version) expected)"
            )
        }
    }

    /// Appends an entry to an order's history, numbered after the last (the order is locked, or
    /// was inserted by this transaction), and wakes the order's watchers on every node at commit.
    /// Appends an entry to the order's history and, in the same statement (one round trip), wakes
    /// the order's watchers on every node when the transaction commits (NOTIFY is transactional:
    /// a rolled-back change wakes nobody; PostgreSQL delivers a payload sent twice in one
    /// transaction once).
    func appendHistory(_ tx: Transaction, orderID: String, actor: String, _ record: HistoryRecord) async throws {
        let now = clock.nowMs()
        let rows = try await tx.rows(
            """
            WITH entry AS (
                INSERT INTO order_history (order_id, seq, at_ms, actor, event, subject, from_state, to_state, detail)
                VALUES (\(orderID), (SELECT COALESCE(MAX(seq), 0) + 1 FROM order_history WHERE order_id = \(orderID)),
                        \(now), \(actor), \(record.event), \(record.subject), \(record.from), \(record.to),
                        \(record.detail))
                RETURNING seq
            )
            SELECT seq, pg_notify(\(PostgresChangeFeed.channel), \(PostgresChangeFeed.payload(.order(orderID))))::text FROM entry
            """
        )
        if let row = rows.first, !configuration.eventRoutes.isEmpty {
            let (seq, _) = try row.decode((Int64, String).self)
            try await routeOrderEvent(tx, orderID: orderID, seq: seq, atMs: now, record)
        }
    }
}

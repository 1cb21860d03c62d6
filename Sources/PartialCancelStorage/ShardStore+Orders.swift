import CSQLite
import Crypto
import Foundation
import NIOConcurrencyHelpers
import PartialCancelDomain

// ShardStore: Orders.
extension ShardStore {
    func order(_ id: String) throws -> Order? {
        if let cached = orders.value(id) { return cached }
        guard let body = try db.first("SELECT body FROM orders WHERE id = ?1", [.text(id)], { $0.blob(0) }) else {
            return nil
        }
        let order = try BodyCodec.decode(Order.self, from: body)
        orders.read(id, order)
        return order
    }

    func insert(_ order: Order) throws {
        let time = now()
        try db.run(
            """
            INSERT INTO orders (id, channel, external_id, account_id, status, version, total, body, created_ms, updated_ms,
                                ingested_total)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?7)
            """,
            [
                .text(order.id), .text(order.channel), .text(order.externalID), .text(order.account.id),
                .text(order.status.rawValue),
                .integer(order.version), .integer(order.totals.total), .blob(try BodyCodec.encode(order)),
                .integer(time),
            ]
        )
        orders.wrote(order.id, order)
    }

    /// Appends an entry to an order's history (numbered after the last) and records it for the
    /// order's watchers.
    func appendHistory(orderID: String, actor: String, _ record: HistoryRecord) throws {
        let (event, subject, from, to, detail) = (record.event, record.subject, record.from, record.to, record.detail)
        let time = now()
        let seq =
            try db.first(
                """
                INSERT INTO order_history (order_id, seq, at_ms, actor, event, detail, subject, from_state, to_state)
                VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM order_history WHERE order_id = ?1), ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                RETURNING seq
                """,
                [
                    .text(orderID), .integer(time), .text(actor), .text(event), .text(detail), .text(subject),
                    .text(from), .text(to),
                ]
            ) { $0.int(0) } ?? 0
        try routeOrderEvent(orderID: orderID, seq: seq, atMs: time, record)
        changes.record(
            .order(
                id: orderID,
                entry: HistoryEntry(
                    seq: seq,
                    atMs: time,
                    actor: actor,
                    event: event,
                    subject: subject,
                    from: from,
                    to: to,
                    detail: detail
                ),
                seq: seq,
                order: nil
            )
        )
    }

    /// An order's history entries after `seq`, oldest first.
    func history(_ orderID: String, after seq: Int64 = 0) throws -> [HistoryEntry] {
        var entries: [HistoryEntry] = []
        try db.query(
            """
            SELECT seq, at_ms, actor, event, subject, from_state, to_state, detail FROM order_history
            WHERE order_id = ?1 AND seq > ?2 ORDER BY seq
            """,
            [.text(orderID), .integer(seq)]
        ) { row in
            entries.append(
                HistoryEntry(
                    seq: row.int(0),
                    atMs: row.int(1),
                    actor: row.text(2),
                    event: row.text(3),
                    subject: row.text(4),
                    from: row.text(5),
                    to: row.text(6),
                    detail: row.text(7)
                )
            )
        }
        return entries
    }

    /// The sequence number of an order's last history entry (0: none).
    func lastHistorySeq(_ orderID: String) throws -> Int64 {
        try db.first("SELECT COALESCE(MAX(seq), 0) FROM order_history WHERE order_id = ?1", [.text(orderID)]) {
            $0.int(0)
        } ?? 0
    }

    func allOrders() throws -> [Order] {
        var bodies: [[UInt8]] = []
        try db.query("SELECT body FROM orders ORDER BY id") { bodies.append($0.blob(0)) }
        return try bodies.map { try BodyCodec.decode(Order.self, from: $0) }
    }

    var orderCount: Int64 { (try? db.first("SELECT COUNT(*) FROM orders") { $0.int(0) }) ?? 0 }
}

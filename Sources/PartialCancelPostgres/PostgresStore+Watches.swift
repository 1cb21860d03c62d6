import Foundation
import NIOCore
import PartialCancelDomain
import PartialCancelStorage
import PostgresNIO

// PostgresStore: watches of orders and stock, fed by every node's commits (PostgresChangeFeed).
extension PostgresStore: ChangeFeedStore {
    public func watchOrder(
        _ id: String,
        after seq: Int64,
        subscriber: any ChangeSubscriber,
        on loop: any EventLoop,
        check: @escaping @Sendable (Order) throws -> Void
    ) -> EventLoopFuture<Bool> {
        let database = database(forOrder: id)
        return future(on: loop) {
            // The order and its last position in one statement: one snapshot.
            guard
                let row = try await database.rows(
                    """
                    SELECT body, (SELECT COALESCE(MAX(seq), 0) FROM order_history WHERE order_id = \(id))
                    FROM orders WHERE id = \(id)
                    """
                ).first
            else { return false }
            let (body, last) = try row.decode((ByteBuffer, Int64).self)
            let order = try BodyCodec.decode(Order.self, from: [UInt8](bytea: body))
            try check(order)
            guard seq <= last else { throw WatchError.ahead(subject: id, seq: seq, last: last) }
            var cursor = last
            if seq == 0 {
                subscriber.offer(.order(id: id, entry: nil, seq: last, order: order))
            } else {
                let events = try await self.orderChanges(id, after: seq, in: database)
                for event in events { subscriber.offer(event) }
                cursor = max(seq, events.last?.seq ?? seq)
            }
            self.feed.add(subscriber, for: .order(id), cursor: cursor)
            return true
        }
    }

    public func watchStock(
        _ cursors: [(sku: String, after: Int64)],
        subscriber: any ChangeSubscriber,
        on loop: any EventLoop
    ) -> EventLoopFuture<Void> {
        let cursors = cursors.map { (sku: $0.sku, after: $0.after) }
        return future(on: loop) {
            for cursor in cursors {
                let database = self.database(forSKU: cursor.sku)
                let rows = try await database.rows(
                    """
                    SELECT s.last, p.location, p.on_hand, p.reserved
                    FROM (SELECT COALESCE((SELECT last_seq FROM stock_sequences WHERE sku = \(cursor.sku)), 0) AS last) s
                    LEFT JOIN stock p ON p.sku = \(cursor.sku)
                    ORDER BY p.location COLLATE "C"
                    """
                )
                var last: Int64 = 0
                if let first = rows.first {
                    let (stored, _, _, _) = try first.decode((Int64, String?, Int64?, Int64?).self)
                    last = stored
                }
                guard cursor.after <= last else {
                    throw WatchError.ahead(subject: cursor.sku, seq: cursor.after, last: last)
                }
                var position = last
                if cursor.after == 0 {
                    let now = self.clock.nowMs()
                    for row in rows {
                        let (_, location, onHand, reserved) = try row.decode((Int64, String?, Int64?, Int64?).self)
                        guard let location, let onHand, let reserved else { continue }
                        subscriber.offer(
                            .stock(
                                StockEvent(
                                    sku: cursor.sku,
                                    seq: last,
                                    atMs: now,
                                    location: location,
                                    onHand: onHand,
                                    reserved: reserved,
                                    cause: "SNAPSHOT",
                                    reference: ""
                                )
                            )
                        )
                    }
                } else {
                    let events = try await self.stockChanges(cursor.sku, after: cursor.after, in: database)
                    for event in events { subscriber.offer(event) }
                    position = max(cursor.after, events.last?.seq ?? cursor.after)
                }
                self.feed.add(subscriber, for: .sku(cursor.sku), cursor: position)
            }
        }
    }

    public func unwatch(_ subscriber: any ChangeSubscriber, keys: [WatchKey]) {
        feed.remove(subscriber, for: keys)
    }

    public var watchCount: Int { feed.count }

    /// What the feed reads for a key.
    func changes(_ key: WatchKey, after seq: Int64) async throws -> [ChangeEvent] {
        switch key {
        case .order(let id): try await orderChanges(id, after: seq, in: database(forOrder: id))
        case .sku(let sku): try await stockChanges(sku, after: seq, in: database(forSKU: sku))
        }
    }

    /// An order's history after `seq`; the last entry carries the order as it is after it (one
    /// statement: the order and its entries from one snapshot).
    func orderChanges(_ id: String, after seq: Int64, in database: PostgresDatabase) async throws -> [ChangeEvent] {
        let rows = try await database.rows(
            """
            SELECT h.seq, h.at_ms, h.actor, h.event, h.subject, h.from_state, h.to_state, h.detail,
                   CASE WHEN h.seq = o.last THEN o.body END
            FROM order_history h,
                 (SELECT body, (SELECT MAX(seq) FROM order_history WHERE order_id = \(id)) AS last FROM orders WHERE id = \(id)) o
            WHERE h.order_id = \(id) AND h.seq > \(seq) ORDER BY h.seq
            """
        )
        return try rows.map { row in
            let (seq, atMs, actor, event, subject, from, to, detail, body) = try row.decode(
                (Int64, Int64, String, String, String, String, String, String, ByteBuffer?).self
            )
            let entry = HistoryEntry(
                seq: seq,
                atMs: atMs,
                actor: actor,
                event: event,
                subject: subject,
                from: from,
                to: to,
                detail: detail
            )
            let order = try body.map { try BodyCodec.decode(Order.self, from: [UInt8](bytea: $0)) }
            return .order(id: id, entry: entry, seq: seq, order: order)
        }
    }

    func stockChanges(_ sku: String, after seq: Int64, in database: PostgresDatabase) async throws -> [ChangeEvent] {
        try await database.rows(
            """
            SELECT seq, at_ms, location, on_hand, reserved, cause, reference FROM stock_history
            WHERE sku = \(sku) AND seq > \(seq) ORDER BY seq
            """
        ).map { row in
            let (seq, atMs, location, onHand, reserved, cause, reference) = try row.decode(
                (Int64, Int64, String, Int64, Int64, String, String).self
            )
            return .stock(
                StockEvent(
                    sku: sku,
                    seq: seq,
                    atMs: atMs,
                    location: location,
                    onHand: onHand,
                    reserved: reserved,
                    cause: cause,
                    reference: reference
                )
            )
        }
    }
}

import CSQLite
import Crypto
import Foundation
import NIOConcurrencyHelpers
import PartialCancelDomain

// ShardStore: Audit (reads everything; never on the request path).
extension ShardStore {
    func auditSnapshot() throws -> AuditSnapshot {
        var snapshot = AuditSnapshot()
        snapshot.orders = try allOrders()
        try db.query("SELECT id, ingested_total FROM orders WHERE ingested_total IS NOT NULL") { row in
            snapshot.ingestedTotals[row.text(0)] = row.int(1)
        }
        var bodies: [[UInt8]] = []
        try db.query("SELECT body FROM cancellation_requests") { bodies.append($0.blob(0)) }
        snapshot.requests = try bodies.map { try BodyCodec.decode(CancellationRequest.self, from: $0) }
        bodies = []
        try db.query("SELECT body FROM refunds") { bodies.append($0.blob(0)) }
        snapshot.refunds = try bodies.map { try BodyCodec.decode(Refund.self, from: $0) }
        try db.query("SELECT message_id, destination, delivered_ms IS NOT NULL FROM outbox") { row in
            snapshot.outbox.append((row.text(0), Int(row.int(1)), row.int(2) != 0))
        }
        try db.query("SELECT message_id FROM applied_messages") { snapshot.applied.insert($0.text(0)) }
        snapshot.stock = try allStock()
        // Histories are numbered 1…n without a gap, and each pool's last change is its state.
        try db.query(
            "SELECT order_id, COUNT(*), MIN(seq), MAX(seq) FROM order_history GROUP BY order_id HAVING MIN(seq) != 1 OR MAX(seq) != COUNT(*)"
        ) { row in
            snapshot.historyViolations.append(
                "\(row.text(0)): history entries \(row.int(2))…\(row.int(3)) are \(row.int(1)), not numbered without a gap"
            )
        }
        try db.query(
            "SELECT sku, COUNT(*), MAX(seq) FROM stock_history GROUP BY sku HAVING MIN(seq) != 1 OR MAX(seq) != COUNT(*)"
        ) { row in
            snapshot.historyViolations.append(
                "stock history of \(row.text(0)): \(row.int(1)) changes up to \(row.int(2)), not numbered without a gap"
            )
        }
        try db.query(
            """
            SELECT s.sku, s.location, s.on_hand, s.reserved, h.on_hand, h.reserved FROM stock s
            JOIN stock_history h ON h.sku = s.sku AND h.location = s.location
            WHERE h.seq = (SELECT MAX(seq) FROM stock_history WHERE sku = s.sku AND location = s.location)
              AND (h.on_hand != s.on_hand OR h.reserved != s.reserved)
            """
        ) { row in
            snapshot.historyViolations.append(
                "stock \(row.text(0))@\(row.text(1)): on hand \(row.int(2)) reserved \(row.int(3)), its last recorded change says \(row.int(4)) and \(row.int(5))"
            )
        }
        return snapshot
    }

    var outboxBacklog: Int64 { outboxBacklogAndOldest.count }

    /// Undelivered cross-shard messages and when the oldest was written.
    var outboxBacklogAndOldest: (count: Int64, oldestMs: Int64?) {
        (try? db.first("SELECT COUNT(*), MIN(created_ms) FROM outbox WHERE delivered_ms IS NULL") { row in
            (row.int(0), row.int(0) == 0 ? nil : row.int(1))
        }) ?? (0, nil)
    }

    /// Customer emails not yet sent (nor given up on) and when the oldest was written.
    var emailBacklogAndOldest: (count: Int64, oldestMs: Int64?) {
        (try? db.first("SELECT COUNT(*), MIN(created_ms) FROM email_outbox WHERE state = 'PENDING'") { row in
            (row.int(0), row.int(0) == 0 ? nil : row.int(1))
        }) ?? (0, nil)
    }
}

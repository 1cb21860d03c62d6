import NIOCore
import PartialCancelDomain
import PartialCancelStorage
import PostgresNIO

// PostgresStore: the audit (reads everything; never on the request path).
extension PostgresStore {
    /// The same checks as for SQLite (`AuditReport.check`), over what every database holds, each
    /// read in one REPEATABLE READ transaction. Run it with no node writing and the outboxes
    /// delivered (`waitForDelivery`).
    public func audit(
        acknowledged: [AcknowledgedRefund] = [],
        onHand: [String: Int64] = [:],
        on loop: any EventLoop
    ) -> EventLoopFuture<AuditReport> {
        future(on: loop) {
            var shards: [AuditSnapshot] = []
            for database in self.databases { shards.append(try await self.auditSnapshot(database)) }
            return AuditReport.check(shards, acknowledged: acknowledged, onHand: onHand)
        }
    }

    private func auditSnapshot(_ database: PostgresDatabase) async throws -> AuditSnapshot {
        try await database.transaction { tx in
            try await tx.run("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            var snapshot = AuditSnapshot()
            func bodies<T: Decodable>(_ type: T.Type, _ query: PostgresQuery) async throws -> [T] {
                try await tx.rows(query).map { row in
                    try BodyCodec.decode(T.self, from: [UInt8](bytea: try row.decode(ByteBuffer.self)))
                }
            }
            snapshot.orders = try await bodies(Order.self, "SELECT body FROM orders ORDER BY id")
            for row in try await tx.rows("SELECT id, ingested_total FROM orders") {
                let (id, total) = try row.decode((String, Int64).self)
                snapshot.ingestedTotals[id] = total
            }
            snapshot.requests = try await bodies(CancellationRequest.self, "SELECT body FROM cancellation_requests")
            snapshot.refunds = try await bodies(Refund.self, "SELECT body FROM refunds")
            for row in try await tx.rows("SELECT message_id, destination, delivered_ms IS NOT NULL FROM outbox") {
                let (id, destination, delivered) = try row.decode((String, Int32, Bool).self)
                snapshot.outbox.append((id, Int(destination), delivered))
            }
            for row in try await tx.rows("SELECT message_id FROM applied_messages") {
                snapshot.applied.insert(try row.decode(String.self))
            }
            for row in try await tx.rows("SELECT sku, location, on_hand, reserved FROM stock ORDER BY sku, location") {
                let (sku, location, onHand, reserved) = try row.decode((String, String, Int64, Int64).self)
                snapshot.stock.append(StockPool(sku: sku, location: location, onHand: onHand, reserved: reserved))
            }
            // Histories are numbered 1…n without a gap, and each pool's last change is its state.
            for row in try await tx.rows(
                """
                SELECT order_id, COUNT(*), MIN(seq), MAX(seq) FROM order_history GROUP BY order_id
                HAVING MIN(seq) <> 1 OR MAX(seq) <> COUNT(*)
                """
            ) {
                let (id, count, first, last) = try row.decode((String, Int64, Int64, Int64).self)
                snapshot.historyViolations.append(
                    "\(id): history entries \(first)…\(last) are \(count), not numbered without a gap"
                )
            }
            for row in try await tx.rows(
                """
                SELECT sku, COUNT(*), MAX(seq) FROM stock_history GROUP BY sku
                HAVING MIN(seq) <> 1 OR MAX(seq) <> COUNT(*)
                """
            ) {
                let (sku, count, last) = try row.decode((String, Int64, Int64).self)
                snapshot.historyViolations.append(
                    "stock history of \(sku): \(count) changes up to \(last), not numbered without a gap"
                )
            }
            for row in try await tx.rows(
                """
                SELECT s.sku, s.location, s.on_hand, s.reserved, h.on_hand, h.reserved FROM stock s
                JOIN stock_history h ON h.sku = s.sku AND h.location = s.location
                WHERE h.seq = (SELECT MAX(seq) FROM stock_history WHERE sku = s.sku AND location = s.location)
                  AND (h.on_hand <> s.on_hand OR h.reserved <> s.reserved)
                """
            ) {
                let (sku, location, onHand, reserved, recordedOnHand, recordedReserved) = try row.decode(
                    (String, String, Int64, Int64, Int64, Int64).self
                )
                snapshot.historyViolations.append(
                    "stock \(sku)@\(location): on hand \(onHand) reserved \(reserved), its last recorded change says \(recordedOnHand) and \(recordedReserved)"
                )
            }
            return snapshot
        }
    }
}

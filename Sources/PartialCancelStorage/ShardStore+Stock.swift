import CSQLite
import Crypto
import Foundation
import NIOConcurrencyHelpers
import PartialCancelDomain

// ShardStore: Stock.
extension ShardStore {
    func stock(sku: String, location: String?) throws -> [StockPool] {
        var pools: [StockPool] = []
        let map: (Row) -> Void = { row in
            pools.append(StockPool(sku: row.text(0), location: row.text(1), onHand: row.int(2), reserved: row.int(3)))
        }
        if let location {
            try db.query(
                "SELECT sku, location, on_hand, reserved FROM stock WHERE sku = ?1 AND location = ?2",
                [.text(sku), .text(location)],
                row: map
            )
        } else {
            try db.query(
                "SELECT sku, location, on_hand, reserved FROM stock WHERE sku = ?1 ORDER BY location",
                [.text(sku)],
                row: map
            )
        }
        return pools
    }

    func setOnHand(sku: String, location: String, onHand: Int64) throws -> StockPool {
        try db.run(
            """
            INSERT INTO stock (sku, location, on_hand, reserved, updated_ms) VALUES (?1, ?2, ?3, 0, ?4)
            ON CONFLICT (sku, location) DO UPDATE SET on_hand = excluded.on_hand, updated_ms = excluded.updated_ms
            """,
            [.text(sku), .text(location), .integer(onHand), .integer(now())]
        )
        let pool = try stock(sku: sku, location: location)[0]
        try recordStockChange(pool, cause: "SET_ON_HAND", reference: "")
        return pool
    }

    /// Numbers a pool's new state in its sku's stock history and records it for the sku's watchers.
    private func recordStockChange(_ pool: StockPool, cause: String, reference: String) throws {
        let time = now()
        let seq =
            try db.first(
                """
                INSERT INTO stock_history (sku, seq, at_ms, location, on_hand, reserved, cause, reference)
                VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM stock_history WHERE sku = ?1), ?2, ?3, ?4, ?5, ?6, ?7)
                RETURNING seq
                """,
                [
                    .text(pool.sku), .integer(time), .text(pool.location), .integer(pool.onHand),
                    .integer(pool.reserved),
                    .text(cause), .text(reference),
                ]
            ) { $0.int(0) } ?? 0
        try routeStockEvent(pool, seq: seq, atMs: time, cause: cause, reference: reference)
        changes.record(
            .stock(
                StockEvent(
                    sku: pool.sku,
                    seq: seq,
                    atMs: time,
                    location: pool.location,
                    onHand: pool.onHand,
                    reserved: pool.reserved,
                    cause: cause,
                    reference: reference
                )
            )
        )
    }

    /// A sku's stock history after `seq`, oldest first.
    func stockHistory(sku: String, after seq: Int64) throws -> [StockEvent] {
        var events: [StockEvent] = []
        try db.query(
            """
            SELECT seq, at_ms, location, on_hand, reserved, cause, reference FROM stock_history WHERE sku = ?1 AND seq > ?2 ORDER BY seq
            """,
            [.text(sku), .integer(seq)]
        ) { row in
            events.append(
                StockEvent(
                    sku: sku,
                    seq: row.int(0),
                    atMs: row.int(1),
                    location: row.text(2),
                    onHand: row.int(3),
                    reserved: row.int(4),
                    cause: row.text(5),
                    reference: row.text(6)
                )
            )
        }
        return events
    }

    /// The sequence number of a sku's last stock change (0: none).
    func lastStockSeq(_ sku: String) throws -> Int64 {
        try db.first("SELECT COALESCE(MAX(seq), 0) FROM stock_history WHERE sku = ?1", [.text(sku)]) { $0.int(0) } ?? 0
    }

    /// Applies a stock change exactly once: the message id is recorded with the change, in the
    /// caller's transaction. Returns false when it had been applied before.
    @discardableResult
    func apply(_ change: StockChange) throws -> Bool {
        let time = now()
        let inserted = try db.run(
            "INSERT OR IGNORE INTO applied_messages (message_id, applied_ms) VALUES (?1, ?2)",
            [.text(change.id), .integer(time)]
        )
        guard inserted == 1 else { return false }
        // A release or consumption never takes a count below zero; a reservation on an unknown pool
        // creates it with nothing on hand.
        try db.run(
            """
            INSERT INTO stock (sku, location, on_hand, reserved, updated_ms) VALUES (?1, ?2, 0, MAX(?3, 0), ?4)
            ON CONFLICT (sku, location) DO UPDATE SET reserved = MAX(reserved + ?3, 0), on_hand = MAX(on_hand + ?5, 0),
                updated_ms = excluded.updated_ms
            """,
            [
                .text(change.sku), .text(change.location), .integer(change.reservedDelta), .integer(time),
                .integer(change.onHandDelta),
            ]
        )
        if let pool = try stock(sku: change.sku, location: change.location).first {
            try recordStockChange(pool, cause: change.kind.rawValue, reference: change.id)
        }
        return true
    }

    func allStock() throws -> [StockPool] {
        var pools: [StockPool] = []
        try db.query("SELECT sku, location, on_hand, reserved FROM stock ORDER BY sku, location") { row in
            pools.append(StockPool(sku: row.text(0), location: row.text(1), onHand: row.int(2), reserved: row.int(3)))
        }
        return pools
    }
}

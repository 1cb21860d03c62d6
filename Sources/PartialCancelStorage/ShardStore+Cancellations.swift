import CSQLite
import Crypto
import Foundation
import NIOConcurrencyHelpers
import PartialCancelDomain

// ShardStore: Cancellation requests.
extension ShardStore {
    /// An order's requests in one query: decoded ones come from the cache, the others are decoded once.
    func cancellationRequests(orderID: String) throws -> [CancellationRequest] {
        var rows: [(id: String, body: [UInt8])] = []
        try db.query("SELECT id, body FROM cancellation_requests WHERE order_id = ?1 ORDER BY number", [.text(orderID)])
        { rows.append(($0.text(0), $0.blob(1))) }
        return try rows.map { row in
            if let cached = requests.value(row.id) { return cached }
            let request = try BodyCodec.decode(CancellationRequest.self, from: row.body)
            requests.read(row.id, request)
            return request
        }
    }

    func cancellationRequest(_ id: String) throws -> (request: CancellationRequest, tokenHash: [UInt8])? {
        if let cached = requests.value(id) {
            guard
                let hash = try db.first(
                    "SELECT token_sha256 FROM cancellation_requests WHERE id = ?1",
                    [.text(id)],
                    { $0.blob(0) }
                )
            else { return nil }
            return (cached, hash)
        }
        guard
            let (body, hash) = try db.first(
                "SELECT body, token_sha256 FROM cancellation_requests WHERE id = ?1",
                [.text(id)],
                { ($0.blob(0), $0.blob(1)) }
            )
        else {
            return nil
        }
        let request = try BodyCodec.decode(CancellationRequest.self, from: body)
        requests.read(id, request)
        return (request, hash)
    }

    func nextCancellationNumber(orderID: String) throws -> Int {
        Int(
            try db.first(
                "SELECT COALESCE(MAX(number), 0) + 1 FROM cancellation_requests WHERE order_id = ?1",
                [.text(orderID)]
            ) { $0.int(0) } ?? 1
        )
    }

    func insert(_ request: CancellationRequest, number: Int, tokenHash: [UInt8]) throws {
        try db.run(
            """
            INSERT INTO cancellation_requests (id, order_id, number, state, token_sha256, body, created_ms, updated_ms)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
            """,
            [
                .text(request.id), .text(request.orderID), .integer(Int64(number)),
                .text(request.lifecycle.state.rawValue), .blob(tokenHash),
                .blob(try BodyCodec.encode(request)), .integer(request.createdMs),
            ]
        )
        requests.wrote(request.id, request)
    }

    func update(_ request: CancellationRequest) throws {
        let changed = try db.run(
            "UPDATE cancellation_requests SET state = ?2, body = ?3, updated_ms = ?4 WHERE id = ?1",
            [
                .text(request.id), .text(request.lifecycle.state.rawValue), .blob(try BodyCodec.encode(request)),
                .integer(request.updatedMs),
            ]
        )
        if changed > 0 { requests.wrote(request.id, request) }
    }

    func update(_ order: Order) throws {
        let changed = try db.run(
            "UPDATE orders SET status = ?2, version = ?3, total = ?4, body = ?5, updated_ms = ?6 WHERE id = ?1",
            [
                .text(order.id), .text(order.status.rawValue), .integer(order.version), .integer(order.totals.total),
                .blob(try BodyCodec.encode(order)), .integer(now()),
            ]
        )
        if changed > 0 { orders.wrote(order.id, order) }
    }

    func insert(_ refund: Refund) throws {
        try db.run(
            """
            INSERT INTO refunds (refund_id, cancellation_id, order_id, amount, currency, body, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
            """,
            [
                .text(refund.refundID), .text(refund.cancellationID), .text(refund.orderID), .integer(refund.amount),
                .text(refund.currency),
                .blob(try BodyCodec.encode(refund)), .integer(refund.createdMs),
            ]
        )
    }

    func refund(cancellationID: String) throws -> Refund? {
        try db.first("SELECT body FROM refunds WHERE cancellation_id = ?1", [.text(cancellationID)]) { $0.blob(0) }
            .map { try BodyCodec.decode(Refund.self, from: $0) }
    }

    func refunds(orderID: String) throws -> [Refund] {
        var bodies: [[UInt8]] = []
        try db.query("SELECT body FROM refunds WHERE order_id = ?1 ORDER BY created_ms, refund_id", [.text(orderID)]) {
            bodies.append($0.blob(0))
        }
        return try bodies.map { try BodyCodec.decode(Refund.self, from: $0) }
    }

    /// Cancellation ids whose stock releases still wait in this shard's outbox.
    func cancellationsAwaitingRelease(_ ids: Set<String>) throws -> Set<String> {
        var waiting = Set<String>()
        for id in ids {
            let pending =
                try db.first(
                    "SELECT 1 FROM outbox WHERE delivered_ms IS NULL AND message_id >= ?1 AND message_id < ?2",
                    [.text(id + "/release/"), .text(id + "/release0")]
                ) { _ in true } ?? false
            if pending { waiting.insert(id) }
        }
        return waiting
    }
}

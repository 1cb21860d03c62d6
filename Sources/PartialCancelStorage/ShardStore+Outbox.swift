import CSQLite
import Crypto
import Foundation
import NIOConcurrencyHelpers
import PartialCancelDomain

// ShardStore: Outbox.
extension ShardStore {
    /// Applies the stock changes that belong to this shard now and queues the others in the outbox,
    /// in the caller's transaction. Returns whether anything was queued (to be delivered after commit).
    func route(_ changes: [StockChange], router: ShardRouter) throws -> Bool {
        var queued = false
        for change in changes {
            let destination = router.shard(forSKU: change.sku)
            if destination == index {
                try apply(change)
            } else {
                try enqueue(change, destination: destination)
                queued = true
            }
        }
        return queued
    }

    func enqueue(_ change: StockChange, destination: Int) throws {
        try db.run(
            "INSERT INTO outbox (message_id, destination, kind, payload, created_ms) VALUES (?1, ?2, 'stock', ?3, ?4)",
            [.text(change.id), .integer(Int64(destination)), .blob(try BodyCodec.encode(change)), .integer(now())]
        )
    }

    func pendingOutbox(limit: Int) throws -> [OutboxMessage] {
        var messages: [OutboxMessage] = []
        var failure: (any Error)?
        try db.query(
            "SELECT seq, message_id, destination, payload FROM outbox WHERE delivered_ms IS NULL ORDER BY seq LIMIT ?1",
            [.integer(Int64(limit))]
        ) { row in
            do {
                let change = try BodyCodec.decode(StockChange.self, from: row.blob(3))
                messages.append(
                    OutboxMessage(seq: row.int(0), messageID: row.text(1), destination: Int(row.int(2)), change: change)
                )
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        return messages
    }

    /// Marks messages delivered and completes the cancellations whose last stock release that was,
    /// in one transaction.
    func markDelivered(_ messages: [OutboxMessage], complete: (CancellationRequest) -> CancellationRequest?) throws {
        let time = now()
        try transaction {
            for message in messages {
                try db.run(
                    "UPDATE outbox SET delivered_ms = ?2 WHERE seq = ?1",
                    [.integer(message.seq), .integer(time)]
                )
            }
            let released = Set(
                messages.compactMap { message -> String? in
                    guard message.change.kind == .release, let range = message.messageID.range(of: "/release/") else {
                        return nil
                    }
                    return String(message.messageID[..<range.lowerBound])
                }
            )
            let stillWaiting = try cancellationsAwaitingRelease(released)
            for id in released.subtracting(stillWaiting) {
                guard let (request, _) = try cancellationRequest(id), let completed = complete(request) else {
                    continue
                }
                try update(completed)
                try appendHistory(
                    orderID: request.orderID,
                    actor: "system",
                    .cancellationChanged(request, completed, detail: "stock released")
                )
            }
        }
    }
}

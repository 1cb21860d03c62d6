import Foundation
import NIOCore
import PartialCancelDomain
import PartialCancelStorage
import PostgresNIO

// PostgresStore: stock pools, and stock changes between the databases of a shard map.
extension PostgresStore: StockStore {
    public func setOnHand(
        sku: String,
        location: String,
        onHand: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<StockPool> {
        let database = database(forSKU: sku)
        return future(on: loop) {
            try await database.transaction { tx -> StockPool in
                let now = self.clock.nowMs()
                guard
                    let row = try await tx.first(
                        """
                        INSERT INTO stock (sku, location, on_hand, reserved, updated_ms) VALUES (\(sku), \(location), \(onHand), 0, \(now))
                        ON CONFLICT (sku, location) DO UPDATE SET on_hand = excluded.on_hand, updated_ms = excluded.updated_ms
                        RETURNING on_hand, reserved
                        """
                    )
                else { throw StorageError(code: 0, "stock \(sku) at \(location) was not written") }
                let (stored, reserved) = try row.decode((Int64, Int64).self)
                let pool = StockPool(sku: sku, location: location, onHand: stored, reserved: reserved)
                try await self.recordStockChange(pool, cause: "SET_ON_HAND", reference: "", in: tx)
                return pool
            }
        }
    }

    public func stock(sku: String, location: String?, on loop: any EventLoop) -> EventLoopFuture<[StockPool]> {
        let database = database(forSKU: sku)
        return future(on: loop) {
            let rows =
                if let location {
                    try await database.rows(
                        "SELECT location, on_hand, reserved FROM stock WHERE sku = \(sku) AND location = \(location)"
                    )
                } else {
                    try await database.rows(
                        "SELECT location, on_hand, reserved FROM stock WHERE sku = \(sku) ORDER BY location COLLATE \"C\""
                    )
                }
            return try rows.map { row in
                let (location, onHand, reserved) = try row.decode((String, Int64, Int64).self)
                return StockPool(sku: sku, location: location, onHand: onHand, reserved: reserved)
            }
        }
    }

    // MARK: Changes

    /// Applies the changes whose stock lives in `database` now, in the caller's transaction, and
    /// queues the others in its outbox. Returns whether anything was queued (to deliver after
    /// commit). Pools are changed in (sku, location) order, so that two transactions touching
    /// the same pools cannot deadlock.
    func route(_ changes: [StockChange], from database: PostgresDatabase, in tx: Transaction) async throws -> Bool {
        var queued = false
        for change in changes.sorted(by: { ($0.sku, $0.location, $0.id) < ($1.sku, $1.location, $1.id) }) {
            let destination = router.shard(forSKU: change.sku)
            if destination == database.index {
                try await apply(change, in: tx)
            } else {
                try await tx.run(
                    """
                    INSERT INTO outbox (message_id, destination, kind, cancellation_id, payload, created_ms)
                    VALUES (\(change.id), \(destination), 'stock', \(Self.cancellationID(of: change)),
                            \(try BodyCodec.encode(change).bytea), \(clock.nowMs()))
                    """
                )
                queued = true
            }
        }
        return queued
    }

    /// The cancellation a release belongs to (`ID/release/…`), or "" for a reservation.
    static func cancellationID(of change: StockChange) -> String {
        guard change.kind == .release, let range = change.id.range(of: "/release/") else { return "" }
        return String(change.id[..<range.lowerBound])
    }

    /// Applies a stock change exactly once: its message id is recorded with the change, in the
    /// caller's transaction. A release or consumption never takes a count below zero; a reservation on an
    /// unknown pool creates it with nothing on hand. Returns false when applied before.
    @discardableResult
    func apply(_ change: StockChange, in tx: Transaction) async throws -> Bool {
        let now = clock.nowMs()
        guard
            let row = try await tx.first(
                """
                WITH applied AS (
                    INSERT INTO applied_messages (message_id, applied_ms) VALUES (\(change.id), \(now))
                    ON CONFLICT DO NOTHING RETURNING 1
                )
                INSERT INTO stock (sku, location, on_hand, reserved, updated_ms)
                SELECT \(change.sku), \(change.location), 0, GREATEST(\(change.reservedDelta), 0), \(now) FROM applied
                ON CONFLICT (sku, location) DO UPDATE
                    SET reserved = GREATEST(stock.reserved + \(change.reservedDelta), 0),
                        on_hand = GREATEST(stock.on_hand + \(change.onHandDelta), 0), updated_ms = excluded.updated_ms
                RETURNING on_hand, reserved
                """
            )
        else { return false }
        let (onHand, reserved) = try row.decode((Int64, Int64).self)
        try await recordStockChange(
            StockPool(sku: change.sku, location: change.location, onHand: onHand, reserved: reserved),
            cause: change.kind.rawValue,
            reference: change.id,
            in: tx
        )
        return true
    }

    /// Numbers a pool's new state in its sku's history (the sku's sequence row is locked until
    /// commit, so numbers follow commit order) and, in the same statement, wakes the sku's watchers
    /// at commit.
    func recordStockChange(_ pool: StockPool, cause: String, reference: String, in tx: Transaction) async throws {
        let now = clock.nowMs()
        let rows = try await tx.rows(
            """
            WITH seq AS (
                INSERT INTO stock_sequences (sku, last_seq) VALUES (\(pool.sku), 1)
                ON CONFLICT (sku) DO UPDATE SET last_seq = stock_sequences.last_seq + 1 RETURNING last_seq
            ), entry AS (
                INSERT INTO stock_history (sku, seq, at_ms, location, on_hand, reserved, cause, reference)
                SELECT \(pool.sku), last_seq, \(now), \(pool.location), \(pool.onHand), \(pool.reserved),
                       \(cause), \(reference) FROM seq
                RETURNING seq
            )
            SELECT seq, pg_notify(\(PostgresChangeFeed.channel), \(PostgresChangeFeed.payload(.sku(pool.sku))))::text FROM entry
            """
        )
        if let row = rows.first, !configuration.eventRoutes.isEmpty {
            let (seq, _) = try row.decode((Int64, String).self)
            try await routeStockEvent(tx, pool, seq: seq, atMs: now, cause: cause, reference: reference)
        }
    }

    // MARK: Delivery between databases

    /// Delivers `index`'s undelivered outbox messages. Safe at any time, on any node, any number
    /// of times: the rows being delivered are locked (others skip them) and each destination
    /// applies a message id once.
    func deliver(from index: Int) {
        let start = delivering[index].withLockedValue { state -> Bool in
            if state.running {
                state.again = true
                return false
            }
            state = (true, false)
            return true
        }
        guard start else { return }
        Task {
            while true {
                var more = false
                do {
                    more = try await deliveryPass(from: databases[index])
                } catch {
                    logger.error(
                        "outbox delivery failed; it will be retried",
                        metadata: ["database": "\(databases[index].name)", "error": "\(error)"]
                    )
                }
                let again = delivering[index].withLockedValue { state -> Bool in
                    if more || state.again {
                        state.again = false
                        return true
                    }
                    state.running = false
                    return false
                }
                if !again { return }
            }
        }
    }

    /// One batch: lock the oldest undelivered messages, apply them at their destinations, mark
    /// them delivered and complete the cancellations whose last release that was, in the
    /// source's transaction. Returns whether a full batch went (more may wait).
    private func deliveryPass(from source: PostgresDatabase) async throws -> Bool {
        let batch = configuration.deliveryBatch
        return try await source.transaction { tx -> Bool in
            let messages = try await tx.rows(
                """
                SELECT seq, destination, payload FROM outbox WHERE delivered_ms IS NULL
                ORDER BY seq LIMIT \(batch) FOR UPDATE SKIP LOCKED
                """
            ).map { row in
                let (seq, destination, payload) = try row.decode((Int64, Int32, ByteBuffer).self)
                return (
                    seq: seq, destination: Int(destination),
                    change: try BodyCodec.decode(StockChange.self, from: [UInt8](bytea: payload))
                )
            }
            guard !messages.isEmpty else { return false }
            for (destination, group) in Dictionary(grouping: messages, by: \.destination) {
                guard databases.indices.contains(destination) else {
                    throw StorageError(code: 0, "outbox message for database \(destination), which the shard map lacks")
                }
                try await databases[destination].transaction { remote in
                    for message in group.sorted(by: {
                        ($0.change.sku, $0.change.location) < ($1.change.sku, $1.change.location)
                    }) {
                        try await self.apply(message.change, in: remote)
                    }
                }
            }
            // The destinations have committed; if this commit is lost, the messages go again and
            // are ignored there as applied.
            let now = clock.nowMs()
            for message in messages {
                try await tx.run("UPDATE outbox SET delivered_ms = \(now) WHERE seq = \(message.seq)")
            }
            let released = Set(messages.map { Self.cancellationID(of: $0.change) }.filter { !$0.isEmpty })
            for id in released.sorted() {
                try await completeIfReleased(id, in: tx)
            }
            return messages.count == batch
        }
    }

    /// Completes a confirmed cancellation once none of its releases waits in the outbox.
    private func completeIfReleased(_ id: String, in tx: Transaction) async throws {
        guard let orderID = CancellationRequest.orderID(fromRequestID: id),
            try await lockOrder(orderID, in: tx) != nil,
            try await tx.first("SELECT 1 FROM outbox WHERE cancellation_id = \(id) AND delivered_ms IS NULL LIMIT 1")
                == nil,
            let request = try await requests(orderID: orderID, in: tx).first(where: { $0.request.id == id })?.request,
            let completed = request.completedAfterStockRelease(nowMs: clock.nowMs())
        else { return }
        try await update(completed, in: tx)
        try await appendHistory(
            tx,
            orderID: orderID,
            actor: "system",
            .cancellationChanged(request, completed, detail: "stock released")
        )
    }

    public func waitForDelivery(on loop: any EventLoop) -> EventLoopFuture<Void> {
        future(on: loop) {
            while true {
                var waiting = 0
                for database in self.databases {
                    let row = try await database.rows("SELECT COUNT(*) FROM outbox WHERE delivered_ms IS NULL").first
                    waiting += Int(try row?.decode(Int64.self) ?? 0)
                }
                if waiting == 0 { return }
                for index in self.databases.indices { self.deliver(from: index) }
                try await Task.sleep(nanoseconds: 5_000_000)
            }
        }
    }
}

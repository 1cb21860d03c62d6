import Foundation
import NIOCore
import PartialCancelDomain
import PartialCancelStorage
import PostgresNIO

// PostgresStore: dead letters (`dl-DATABASE-N`), in the database of their key.
extension PostgresStore: DeadLetterStore {
    /// The columns every dead-letter read starts with (`deadLetter(_:database:)` maps them).
    static let deadLetterColumns = """
        id, kind, priority, reason, detail, subject, attempts, created_ms, updated_ms, length(payload), payload_sha256,
        resolution, resolved_ms
        """

    public func addDeadLetter(
        key: String,
        kind: String,
        priority: Int64,
        reason: String,
        detail: String,
        subject: String,
        payload: [UInt8],
        on loop: any EventLoop
    ) -> EventLoopFuture<String> {
        let database = database(forOrder: key)
        return future(on: loop) {
            try await database.transaction { tx in
                try await self.addDeadLetter(
                    in: tx,
                    database: database,
                    kind: kind,
                    priority: priority,
                    reason: reason,
                    detail: detail,
                    subject: subject,
                    payload: payload
                )
            }
        }
    }

    func addDeadLetter(
        in tx: Transaction,
        database: PostgresDatabase,
        kind: String,
        priority: Int64,
        reason: String,
        detail: String,
        subject: String,
        payload: [UInt8]
    ) async throws -> String {
        let now = clock.nowMs()
        guard
            let row = try await tx.first(
                """
                INSERT INTO dead_letters (kind, priority, reason, detail, subject, payload, payload_sha256, attempts,
                                          created_ms, updated_ms)
                VALUES (\(kind), \(priority), \(reason), \(detail), \(subject), \(payload.bytea), \(sha256Hex(payload)), 1,
                        \(now), \(now))
                RETURNING id
                """
            )
        else { throw StorageError(code: 0, "\(database.name): dead letter not stored") }
        let id = try row.decode(Int64.self)
        try await appendDeadLetterEvent(
            id,
            actor: "system",
            event: "DEAD_LETTERED",
            detail: "\(reason): \(detail)",
            in: tx
        )
        return "dl-\(database.index)-\(id)"
    }

    public func deadLetters(
        limit: Int,
        after position: DeadLetterPosition?,
        excerptBytes: Int,
        on loop: any EventLoop
    ) -> EventLoopFuture<(letters: [DeadLetter], more: Bool)> {
        future(on: loop) {
            var letters: [DeadLetter] = []
            // Each database's first limit + 1: the page is among them, and one more says whether any follow.
            for database in self.databases {
                let columns = Self.deadLetterColumns
                var query: PostgresQuery =
                    "SELECT \(unescaped: columns), substring(payload FROM 1 FOR \(Int32(clamping: excerptBytes))) FROM dead_letters WHERE resolved_ms IS NULL"
                if let position {
                    // Ties with the position on priority and age come after it only in a database
                    // that sorts after the position's (or in its database, with a later row).
                    let row: Int64 =
                        database.index < position.shard ? .max : database.index == position.shard ? position.row : -1
                    query = """
                        SELECT \(unescaped: columns), substring(payload FROM 1 FOR \(Int32(clamping: excerptBytes))) FROM dead_letters
                        WHERE resolved_ms IS NULL AND (priority < \(position.priority) OR (priority = \(position.priority)
                            AND (created_ms > \(position.createdMs) OR (created_ms = \(position.createdMs) AND id > \(row)))))
                        ORDER BY priority DESC, created_ms, id LIMIT \(limit + 1)
                        """
                } else {
                    query.sql += " ORDER BY priority DESC, created_ms, id LIMIT \(limit + 1)"
                }
                for row in try await database.rows(query) {
                    letters.append(try Self.deadLetter(row, database: database))
                }
            }
            let sorted = letters.sorted { $0.position.precedes($1.position) }
            return (Array(sorted.prefix(limit)), sorted.count > limit)
        }
    }

    public func deadLetters(limit: Int, on loop: any EventLoop) -> EventLoopFuture<[DeadLetter]> {
        deadLetters(limit: limit, after: nil, excerptBytes: Int(Int32.max), on: loop).map(\.letters)
    }

    public func deadLetterRecord(
        _ id: String,
        excerptBytes: Int,
        on loop: any EventLoop
    ) -> EventLoopFuture<(letter: DeadLetter, history: [DeadLetterEvent])?> {
        guard let (database, row) = address(id, prefix: "dl") else { return loop.makeSucceededFuture(nil) }
        return future(on: loop) {
            try await database.transaction { tx in
                try await self.deadLetterRecord(row, excerptBytes: excerptBytes, in: tx, database: database)
            }
        }
    }

    func deadLetterRecord(
        _ row: Int64,
        excerptBytes: Int,
        in tx: Transaction,
        database: PostgresDatabase
    ) async throws -> (letter: DeadLetter, history: [DeadLetterEvent])? {
        guard
            let found = try await tx.first(
                """
                SELECT \(unescaped: Self.deadLetterColumns), substring(payload FROM 1 FOR \(Int32(clamping: excerptBytes)))
                FROM dead_letters WHERE id = \(row)
                """
            )
        else { return nil }
        let history = try await tx.rows(
            "SELECT at_ms, actor, event, detail FROM dead_letter_history WHERE dead_letter_id = \(row) ORDER BY seq"
        ).map { row in
            let (atMs, actor, event, detail) = try row.decode((Int64, String, String, String).self)
            return DeadLetterEvent(atMs: atMs, actor: actor, event: event, detail: detail)
        }
        return (try Self.deadLetter(found, database: database), history)
    }

    public func deadLetterPayload(
        _ id: String,
        offset: Int64,
        length: Int,
        on loop: any EventLoop
    ) -> EventLoopFuture<[UInt8]?> {
        guard let (database, row) = address(id, prefix: "dl") else { return loop.makeSucceededFuture(nil) }
        return future(on: loop) {
            try await database.rows(
                "SELECT substring(payload FROM \(Int32(clamping: offset + 1)) FOR \(Int32(clamping: length))) FROM dead_letters WHERE id = \(row)"
            ).first.map { [UInt8](bytea: try $0.decode(ByteBuffer.self)) }
        }
    }

    public func discardDeadLetter(
        _ id: String,
        actor: String,
        reason: String,
        excerptBytes: Int,
        on loop: any EventLoop
    ) -> EventLoopFuture<DeadLetterDiscard> {
        guard let (database, row) = address(id, prefix: "dl") else { return loop.makeSucceededFuture(.notFound) }
        return future(on: loop) {
            try await database.transaction { tx -> DeadLetterDiscard in
                let now = self.clock.nowMs()
                let changed = try await tx.changed(
                    """
                    UPDATE dead_letters SET resolved_ms = \(now), updated_ms = \(now), resolution = 'DISCARDED'
                    WHERE id = \(row) AND resolved_ms IS NULL RETURNING 1
                    """
                )
                if changed > 0 {
                    try await self.appendDeadLetterEvent(row, actor: actor, event: "DISCARDED", detail: reason, in: tx)
                }
                guard
                    let (letter, _) = try await self.deadLetterRecord(
                        row,
                        excerptBytes: excerptBytes,
                        in: tx,
                        database: database
                    )
                else { return .notFound }
                return changed > 0 ? .discarded(letter) : .alreadyResolved(letter)
            }
        }
    }

    public func deadLetter(_ id: String, on loop: any EventLoop) -> EventLoopFuture<DeadLetter?> {
        guard let (database, row) = address(id, prefix: "dl") else { return loop.makeSucceededFuture(nil) }
        return future(on: loop) {
            try await database.rows(
                """
                SELECT \(unescaped: Self.deadLetterColumns), payload FROM dead_letters
                WHERE id = \(row) AND resolved_ms IS NULL
                """
            ).first.map { try Self.deadLetter($0, database: database) }
        }
    }

    public func resolveDeadLetter(_ id: String, actor: String, on loop: any EventLoop) -> EventLoopFuture<Void> {
        guard let (database, row) = address(id, prefix: "dl") else { return loop.makeSucceededVoidFuture() }
        return future(on: loop) { try await self.resolve(row, in: database, actor: actor) }
    }

    func resolve(_ row: Int64, in database: PostgresDatabase, actor: String) async throws {
        try await database.transaction { tx in
            let now = self.clock.nowMs()
            let changed = try await tx.changed(
                """
                UPDATE dead_letters SET resolved_ms = \(now), updated_ms = \(now), resolution = 'REDRIVEN'
                WHERE id = \(row) AND resolved_ms IS NULL RETURNING 1
                """
            )
            if changed > 0 {
                try await self.appendDeadLetterEvent(row, actor: actor, event: "REDRIVEN", detail: "", in: tx)
            }
        }
    }

    public func failDeadLetterAgain(
        _ id: String,
        reason: String,
        detail: String,
        actor: String,
        on loop: any EventLoop
    ) -> EventLoopFuture<Void> {
        guard let (database, row) = address(id, prefix: "dl") else { return loop.makeSucceededVoidFuture() }
        return future(on: loop) {
            try await database.transaction { tx in
                try await tx.run(
                    """
                    UPDATE dead_letters SET attempts = attempts + 1, reason = \(reason), detail = \(detail),
                        updated_ms = \(self.clock.nowMs())
                    WHERE id = \(row)
                    """
                )
                try await self.appendDeadLetterEvent(
                    row,
                    actor: actor,
                    event: "REDRIVE_FAILED",
                    detail: "\(reason): \(detail)",
                    in: tx
                )
            }
        }
    }

    func appendDeadLetterEvent(
        _ row: Int64,
        actor: String,
        event: String,
        detail: String,
        in tx: Transaction
    ) async throws {
        try await tx.run(
            """
            INSERT INTO dead_letter_history (dead_letter_id, at_ms, actor, event, detail)
            VALUES (\(row), \(clock.nowMs()), \(actor), \(event), \(detail))
            """
        )
    }

    static func deadLetter(_ row: PostgresRow, database: PostgresDatabase) throws -> DeadLetter {
        let (id, kind, priority, reason, detail, subject, attempts, createdMs, updatedMs) = try row.decode(
            (Int64, String, Int64, String, String, String, Int64, Int64, Int64).self
        )
        let columns = row.makeRandomAccess()
        let length = try columns[9].decode(Int32.self)
        let sha = try columns[10].decode(String.self)
        let resolution = try columns[11].decode(String.self)
        let resolvedMs = try columns[12].decode(Int64?.self)
        let payload = try columns[13].decode(ByteBuffer.self)
        return DeadLetter(
            id: "dl-\(database.index)-\(id)",
            kind: kind,
            priority: priority,
            reason: reason,
            detail: detail,
            subject: subject,
            payload: [UInt8](bytea: payload),
            attempts: attempts,
            createdMs: createdMs,
            updatedMs: updatedMs,
            payloadBytes: Int64(length),
            payloadSHA256: sha,
            state: resolvedMs == nil ? "OPEN" : resolution,
            resolvedMs: resolvedMs ?? 0,
            shard: database.index,
            row: id
        )
    }
}

// PostgresStore: health and lifecycle.
extension PostgresStore: StoreHealth {
    /// A database that cannot be reached is reported by `health` (not open); PostgreSQL has no
    /// per-database "disk full" state to keep here.
    public var unwritableShards: [String] { [] }

    public func health(on loop: any EventLoop) -> EventLoopFuture<[ShardHealth]> {
        future(on: loop) {
            var shards: [ShardHealth] = []
            for database in self.databases {
                do {
                    guard
                        let row = try await database.rows(
                            """
                            SELECT (SELECT COUNT(*) FROM outbox WHERE delivered_ms IS NULL),
                                   (SELECT MIN(created_ms) FROM outbox WHERE delivered_ms IS NULL),
                                   (SELECT COUNT(*) FROM dead_letters WHERE resolved_ms IS NULL),
                                   (SELECT COUNT(*) FROM orders),
                                   (SELECT COUNT(*) FROM email_outbox WHERE state = 'PENDING'),
                                   (SELECT MIN(created_ms) FROM email_outbox WHERE state = 'PENDING')
                            """
                        ).first
                    else { continue }
                    let (outbox, outboxOldest, deadLetters, orders, emails, emailOldest) = try row.decode(
                        (Int64, Int64?, Int64, Int64, Int64, Int64?).self
                    )
                    let now = self.clock.nowMs()
                    var health = ShardHealth(
                        index: database.index,
                        open: true,
                        queueDepth: 0,
                        outboxBacklog: outbox,
                        deadLetters: deadLetters,
                        orders: orders
                    )
                    health.outboxOldestAgeMs = outboxOldest.map { max(0, now - $0) } ?? 0
                    health.emailBacklog = emails
                    health.emailOldestAgeMs = emailOldest.map { max(0, now - $0) } ?? 0
                    shards.append(health)
                } catch {
                    // Out of reach: not ready, and its counts are unknown.
                    shards.append(
                        ShardHealth(
                            index: database.index,
                            open: false,
                            queueDepth: 0,
                            outboxBacklog: 0,
                            deadLetters: 0,
                            orders: 0
                        )
                    )
                }
            }
            return shards
        }
    }
}

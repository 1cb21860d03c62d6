import PartialCancelDomain

// ShardStore: refund allocations (the payment outbox).
extension ShardStore {
    func insert(_ allocation: RefundAllocation) throws {
        try db.run(
            """
            INSERT INTO refund_allocations (id, order_id, refund_id, state, accepted, dead, attempts, next_attempt_ms,
                                            last_error, amount, body, created_ms, updated_ms)
            VALUES (?1, ?2, ?3, ?4, 0, 0, 0, ?5, '', ?6, ?7, ?5, ?5)
            """,
            [
                .text(allocation.id), .text(allocation.orderID), .text(allocation.refundID),
                .text(allocation.state.rawValue), .integer(allocation.createdMs), .integer(allocation.amount),
                .blob(try BodyCodec.encode(allocation)),
            ]
        )
    }

    func update(_ allocation: RefundAllocation) throws {
        try db.run(
            "UPDATE refund_allocations SET state = ?2, accepted = ?3, body = ?4, updated_ms = ?5 WHERE id = ?1",
            [
                .text(allocation.id), .text(allocation.state.rawValue), .integer(allocation.accepted ? 1 : 0),
                .blob(try BodyCodec.encode(allocation)), .integer(allocation.updatedMs),
            ]
        )
    }

    func refundAllocation(_ id: String) throws -> RefundAllocation? {
        try db.first("SELECT body FROM refund_allocations WHERE id = ?1", [.text(id)]) { $0.blob(0) }
            .map { try BodyCodec.decode(RefundAllocation.self, from: $0) }
    }

    func refundAllocations(orderID: String) throws -> [RefundAllocation] {
        var bodies: [[UInt8]] = []
        try db.query(
            "SELECT body FROM refund_allocations WHERE order_id = ?1 ORDER BY created_ms, id",
            [.text(orderID)]
        ) { bodies.append($0.blob(0)) }
        return try bodies.map { try BodyCodec.decode(RefundAllocation.self, from: $0) }
    }

    func duePayments(nowMs: Int64, limit: Int) throws -> [DuePayment] {
        var rows: [(body: [UInt8], attempts: Int)] = []
        try db.query(
            """
            SELECT body, attempts FROM refund_allocations
            WHERE state = 'PENDING' AND accepted = 0 AND dead = 0 AND next_attempt_ms <= ?1
            ORDER BY next_attempt_ms, id LIMIT ?2
            """,
            [.integer(nowMs), .integer(Int64(limit))]
        ) { rows.append(($0.blob(0), Int($0.int(1)))) }
        return try rows.map {
            DuePayment(allocation: try BodyCodec.decode(RefundAllocation.self, from: $0.body), attempts: $0.attempts)
        }
    }

    func paymentAccepted(_ id: String) throws {
        guard var allocation = try refundAllocation(id), allocation.state == .pending else { return }
        allocation.accepted = true
        allocation.updatedMs = now()
        try update(allocation)
    }

    func paymentRetry(_ id: String, error: String, nextAttemptMs: Int64) throws {
        try db.run(
            """
            UPDATE refund_allocations SET attempts = attempts + 1, last_error = ?2, next_attempt_ms = ?3, updated_ms = ?4
            WHERE id = ?1 AND state = 'PENDING'
            """,
            [.text(id), .text(error), .integer(nextAttemptMs), .integer(now())]
        )
    }

    func paymentDead(_ payment: DuePayment, error: String) throws {
        try transaction {
            let changed = try db.run(
                """
                UPDATE refund_allocations SET dead = 1, attempts = attempts + 1, last_error = ?2, updated_ms = ?3
                WHERE id = ?1 AND state = 'PENDING' AND dead = 0
                """,
                [.text(payment.allocation.id), .text(error), .integer(now())]
            )
            guard changed == 1 else { return }
            let allocation = payment.allocation
            _ = try addDeadLetter(
                kind: PaymentDeadLetter.kind,
                priority: allocation.amount,
                reason: "DELIVERY_FAILED",
                detail: "\(payment.attempts + 1) attempts; last error: \(error)",
                subject: allocation.id,
                payload: PaymentDeadLetter.payload(allocation)
            )
        }
    }

    /// Puts a dead allocation back in the queue, for a redrive.
    func revivePayment(_ id: String) throws -> Bool {
        try db.run(
            """
            UPDATE refund_allocations SET dead = 0, attempts = 0, next_attempt_ms = ?2, updated_ms = ?2
            WHERE id = ?1 AND dead = 1 AND state = 'PENDING'
            """,
            [.text(id), .integer(now())]
        ) == 1
    }
}

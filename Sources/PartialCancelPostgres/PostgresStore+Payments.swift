import NIOCore
import PartialCancelDomain
import PartialCancelStorage
import PostgresNIO

// PostgresStore: refund allocations (the payment outbox), in the database of their order.
extension PostgresStore: PaymentStore {
    /// How long a node that took due allocations to send holds them: another node sends them only
    /// once this has passed without a result (the node died mid-send).
    static let paymentLeaseMs: Int64 = 30_000

    private func database(ofAllocation id: String) -> PostgresDatabase? {
        RefundAllocation.orderID(fromAllocationID: id).map { database(forOrder: $0) }
    }

    func insert(_ allocation: RefundAllocation, in tx: Transaction) async throws {
        try await tx.run(
            """
            INSERT INTO refund_allocations (id, order_id, refund_id, state, accepted, dead, attempts, next_attempt_ms,
                                            last_error, amount, body, created_ms, updated_ms)
            VALUES (\(allocation.id), \(allocation.orderID), \(allocation.refundID), \(allocation.state.rawValue),
                    false, false, 0, \(allocation.createdMs), '', \(allocation.amount),
                    \(try BodyCodec.encode(allocation).bytea), \(allocation.createdMs), \(allocation.createdMs))
            """
        )
    }

    private func update(_ allocation: RefundAllocation, in tx: Transaction) async throws {
        try await tx.run(
            """
            UPDATE refund_allocations SET state = \(allocation.state.rawValue), accepted = \(allocation.accepted),
                body = \(try BodyCodec.encode(allocation).bytea), updated_ms = \(allocation.updatedMs)
            WHERE id = \(allocation.id)
            """
        )
    }

    private static func decode(_ row: PostgresRow) throws -> RefundAllocation {
        try BodyCodec.decode(RefundAllocation.self, from: [UInt8](bytea: try row.decode(ByteBuffer.self)))
    }

    public func refundAllocations(orderID: String, on loop: any EventLoop) -> EventLoopFuture<[RefundAllocation]> {
        let database = database(forOrder: orderID)
        return future(on: loop) {
            try await database.rows(
                "SELECT body FROM refund_allocations WHERE order_id = \(orderID) ORDER BY created_ms, id"
            ).map(Self.decode)
        }
    }

    /// Takes the due allocations of every database for this node: each is leased (its next attempt
    /// moved past the lease) in the statement that reads it, skipping rows another node holds.
    public func duePayments(nowMs: Int64, limit: Int, on loop: any EventLoop) -> EventLoopFuture<[DuePayment]> {
        future(on: loop) {
            var due: [DuePayment] = []
            for database in self.databases {
                let rows = try await database.rows(
                    """
                    UPDATE refund_allocations SET next_attempt_ms = \(nowMs + Self.paymentLeaseMs)
                    WHERE id IN (
                        SELECT id FROM refund_allocations
                        WHERE state = 'PENDING' AND NOT accepted AND NOT dead AND next_attempt_ms <= \(nowMs)
                        ORDER BY next_attempt_ms, id LIMIT \(limit) FOR UPDATE SKIP LOCKED
                    )
                    RETURNING body, attempts
                    """
                )
                for row in rows {
                    let (body, attempts) = try row.decode((ByteBuffer, Int64).self)
                    due.append(
                        DuePayment(
                            allocation: try BodyCodec.decode(RefundAllocation.self, from: [UInt8](bytea: body)),
                            attempts: Int(attempts)
                        )
                    )
                }
            }
            return due
        }
    }

    public func paymentAccepted(_ payment: DuePayment, on loop: any EventLoop) -> EventLoopFuture<Void> {
        guard let database = database(ofAllocation: payment.allocation.id) else {
            return loop.makeSucceededVoidFuture()
        }
        return future(on: loop) {
            try await database.transaction { tx in
                guard
                    let row = try await tx.first(
                        "SELECT body FROM refund_allocations WHERE id = \(payment.allocation.id) FOR UPDATE"
                    )
                else { return }
                var allocation = try Self.decode(row)
                guard allocation.state == .pending else { return }
                allocation.accepted = true
                allocation.updatedMs = self.clock.nowMs()
                try await self.update(allocation, in: tx)
            }
        }
    }

    public func paymentRetry(
        _ payment: DuePayment,
        error: String,
        nextAttemptMs: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<Void> {
        guard let database = database(ofAllocation: payment.allocation.id) else {
            return loop.makeSucceededVoidFuture()
        }
        return future(on: loop) {
            _ = try await database.rows(
                """
                UPDATE refund_allocations SET attempts = attempts + 1, last_error = \(error),
                    next_attempt_ms = \(nextAttemptMs), updated_ms = \(self.clock.nowMs())
                WHERE id = \(payment.allocation.id) AND state = 'PENDING'
                """
            )
        }
    }

    public func paymentDead(_ payment: DuePayment, error: String, on loop: any EventLoop) -> EventLoopFuture<Void> {
        guard let database = database(ofAllocation: payment.allocation.id) else {
            return loop.makeSucceededVoidFuture()
        }
        let allocation = payment.allocation
        return future(on: loop) {
            try await database.transaction { tx in
                let changed = try await tx.changed(
                    """
                    UPDATE refund_allocations SET dead = true, attempts = attempts + 1, last_error = \(error),
                        updated_ms = \(self.clock.nowMs())
                    WHERE id = \(allocation.id) AND state = 'PENDING' AND NOT dead RETURNING 1
                    """
                )
                guard changed == 1 else { return }
                _ = try await self.addDeadLetter(
                    in: tx,
                    database: database,
                    kind: PaymentDeadLetter.kind,
                    priority: allocation.amount,
                    reason: "DELIVERY_FAILED",
                    detail: "\(payment.attempts + 1) attempts; last error: \(error)",
                    subject: allocation.id,
                    payload: PaymentDeadLetter.payload(allocation)
                )
            }
        }
    }

    public func revivePayment(deadLetter: DeadLetter, on loop: any EventLoop) -> EventLoopFuture<Bool> {
        guard let database = database(ofAllocation: deadLetter.subject),
            let (letterDatabase, letterRow) = address(deadLetter.id, prefix: "dl")
        else { return loop.makeSucceededFuture(false) }
        return future(on: loop) {
            let now = self.clock.nowMs()
            let revived =
                try await database.rows(
                    """
                    UPDATE refund_allocations SET dead = false, attempts = 0, next_attempt_ms = \(now), updated_ms = \(now)
                    WHERE id = \(deadLetter.subject) AND dead AND state = 'PENDING' RETURNING 1
                    """
                ).count == 1
            try await self.resolve(letterRow, in: letterDatabase, actor: "system")
            return revived
        }
    }

    /// The order's row lock first, as every change of an order: a result and anything else that
    /// writes the order's history are serialised across nodes.
    public func settlePayment(
        _ id: String,
        actor: String,
        on loop: any EventLoop,
        decide: @escaping @Sendable (RefundAllocation) -> PaymentSettlement
    ) -> EventLoopFuture<PaymentSettlement?> {
        guard let database = database(ofAllocation: id), let orderID = RefundAllocation.orderID(fromAllocationID: id)
        else { return loop.makeSucceededFuture(nil) }
        return future(on: loop) {
            try await database.transaction { tx -> PaymentSettlement? in
                guard try await self.lockOrder(orderID, in: tx) != nil,
                    let row = try await tx.first("SELECT body FROM refund_allocations WHERE id = \(id) FOR UPDATE")
                else { return nil }
                let settlement = decide(try Self.decode(row))
                if case .settled(let settled, let record, let replacement) = settlement {
                    try await self.update(settled, in: tx)
                    if let replacement { try await self.insert(replacement, in: tx) }
                    try await self.appendHistory(tx, orderID: orderID, actor: actor, record)
                }
                return settlement
            }
        }
    }
}

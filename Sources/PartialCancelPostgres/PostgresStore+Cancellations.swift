import Foundation
import NIOCore
import PartialCancelDomain
import PartialCancelStorage
import PostgresNIO

// PostgresStore: cancellation requests and refunds. Each call locks the order's row first, then
// reads its requests: the domain's decision sees the state no other node can change meanwhile.
extension PostgresStore: CancellationStore {
    public func orderWithPendingLines(
        _ id: String,
        nowMs: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<(order: Order, pendingLineIDs: Set<String>)?> {
        let database = database(forOrder: id)
        return future(on: loop) {
            try await database.transaction { tx -> (order: Order, pendingLineIDs: Set<String>)? in
                guard let order = try await self.readOrder(id, in: tx) else { return nil }
                let pending = try await self.requests(orderID: id, in: tx).map(\.request).filter {
                    $0.isPending(at: nowMs)
                }
                return (order, pending.reduce(into: Set<String>()) { $0.formUnion($1.coveredLineIDs(in: order)) })
            }
        }
    }

    public func createCancellation(
        orderID: String,
        nowMs: Int64,
        on loop: any EventLoop,
        decide:
            @escaping @Sendable (Order, Set<String>, String) throws -> (
                CancellationRequest, [UInt8], PortalNotification
            )?
    ) -> EventLoopFuture<CancellationRequest?> {
        let database = database(forOrder: orderID)
        return future(on: loop) {
            try await database.transaction { tx -> CancellationRequest? in
                guard let order = try await self.lockOrder(orderID, in: tx) else { return nil }
                let stored = try await self.requests(orderID: orderID, in: tx)
                let pendingLines = stored.map(\.request).filter { $0.isPending(at: nowMs) }
                    .reduce(into: Set<String>()) { $0.formUnion($1.coveredLineIDs(in: order)) }
                let number = (stored.map(\.number).max() ?? 0) + 1
                guard
                    let (request, tokenHash, notification) = try decide(
                        order,
                        pendingLines,
                        CancellationRequest.id(orderID: orderID, number: Int(number))
                    )
                else { return nil }
                try await tx.run(
                    """
                    INSERT INTO cancellation_requests (id, order_id, number, state, token_sha256, body, created_ms, updated_ms)
                    VALUES (\(request.id), \(orderID), \(number), \(request.lifecycle.state.rawValue), \(tokenHash.bytea),
                            \(try BodyCodec.encode(request).bytea), \(request.createdMs), \(request.createdMs))
                    """
                )
                try await self.add(notification, in: tx)
                try await self.appendHistory(
                    tx,
                    orderID: orderID,
                    actor: request.actor,
                    .cancellationRequested(request)
                )
                return request
            }
        }
    }

    /// Every node shares the presenter's wrong-token count (`token_failures`): a presenter at its
    /// limit is refused before the request is read, and a wrong token is counted once its
    /// transaction committed; a count past the limit turns the answer into TOKEN_ATTEMPTS_LIMITED.
    public func settleCancellation(
        _ id: String,
        actor: String,
        presenter: TokenPresenter?,
        nowMs: Int64,
        on loop: any EventLoop,
        decide: @escaping @Sendable (CancellationRequest, [UInt8], Order, Set<String>) throws -> CancellationDecision
    ) -> EventLoopFuture<CancellationResult?> {
        guard let orderID = CancellationRequest.orderID(fromRequestID: id) else { return loop.makeSucceededFuture(nil) }
        let database = database(forOrder: orderID)
        return future(on: loop) {
            if let presenter { try await self.refuseIfLimited(presenter, nowMs: nowMs) }
            let (result, queued) = try await database.transaction {
                tx -> (Result<CancellationResult?, any Error>, Bool) in
                guard let order = try await self.lockOrder(orderID, in: tx) else { return (.success(nil), false) }
                let stored = try await self.requests(orderID: orderID, in: tx)
                guard let this = stored.first(where: { $0.request.id == id }) else { return (.success(nil), false) }
                let request = this.request
                let otherLines = stored.map(\.request).filter { $0.id != id && $0.isPending(at: nowMs) }
                    .reduce(into: Set<String>()) { $0.formUnion($1.coveredLineIDs(in: order)) }
                switch try decide(request, this.tokenHash, order, otherLines) {
                case .refuse(let updated, let error):
                    if let updated {
                        try await self.update(updated, in: tx)
                        // A wrong token is recorded with its caller; the lock it may cause, by the system.
                        if updated.lifecycle.failedAttempts != request.lifecycle.failedAttempts {
                            try await self.appendHistory(
                                tx,
                                orderID: orderID,
                                actor: actor,
                                .tokenRejected(request, updated)
                            )
                        }
                        if updated.lifecycle.state != request.lifecycle.state {
                            try await self.appendHistory(
                                tx,
                                orderID: orderID,
                                actor: "system",
                                .cancellationChanged(request, updated)
                            )
                        }
                    }
                    return (.failure(error), false)
                case .earlier:
                    let refund = try await self.refund(cancellationID: id, in: tx)
                    return (
                        .success(CancellationResult(request: request, order: order, refund: refund, earlier: true)),
                        false
                    )
                case .decline(let updated, let notification):
                    try await self.update(updated, in: tx)
                    try await self.add(notification, in: tx)
                    try await self.appendHistory(
                        tx,
                        orderID: orderID,
                        actor: actor,
                        .cancellationChanged(request, updated)
                    )
                    return (.success(CancellationResult(request: updated, order: order, refund: nil)), false)
                case .withdraw(let updated, let notification, let reason):
                    try await self.update(updated, in: tx)
                    try await self.add(notification, in: tx)
                    try await self.appendHistory(
                        tx,
                        orderID: orderID,
                        actor: actor,
                        .cancellationChanged(request, updated, detail: "reason: \(reason)")
                    )
                    return (.success(CancellationResult(request: updated, order: order, refund: nil)), false)
                case .confirm(var confirmed, let after, let refund, let allocations, let releases, let notification):
                    try await self.update(after, from: order, in: tx)
                    try await tx.run(
                        """
                        INSERT INTO refunds (refund_id, cancellation_id, order_id, amount, currency, body, created_ms)
                        VALUES (\(refund.refundID), \(refund.cancellationID), \(refund.orderID), \(refund.amount),
                                \(refund.currency), \(try BodyCodec.encode(refund).bytea), \(refund.createdMs))
                        """
                    )
                    for allocation in allocations { try await self.insert(allocation, in: tx) }
                    try await self.add(notification, in: tx)
                    let queued = try await self.route(releases, from: database, in: tx)
                    try await self.appendHistory(
                        tx,
                        orderID: orderID,
                        actor: actor,
                        .cancellationChanged(request, confirmed)
                    )
                    try await self.appendHistory(
                        tx,
                        orderID: orderID,
                        actor: actor,
                        .orderUpdated(order, after, cancelled: request.lines)
                    )
                    try await self.appendHistory(tx, orderID: orderID, actor: actor, .refundIssued(refund))
                    if !queued, let completed = confirmed.completedAfterStockRelease(nowMs: self.clock.nowMs()) {
                        try await self.appendHistory(
                            tx,
                            orderID: orderID,
                            actor: "system",
                            .cancellationChanged(
                                confirmed,
                                completed,
                                detail: releases.isEmpty ? "no stock to release" : "stock released"
                            )
                        )
                        confirmed = completed
                    }
                    try await self.update(confirmed, in: tx)
                    return (.success(CancellationResult(request: confirmed, order: after, refund: refund)), queued)
                }
            }
            if queued { self.deliver(from: database.index) }
            if let presenter, case .failure(let error) = result,
                (error as? any WrongTokenRefusal)?.countsAsWrongToken == true
            {
                try await self.countWrongToken(presenter, nowMs: nowMs)
            }
            return try result.get()
        }
    }

    public func releaseStatus(
        _ id: String,
        on loop: any EventLoop
    ) -> EventLoopFuture<(request: CancellationRequest, releases: [StockChange], waiting: Bool)?> {
        guard let orderID = CancellationRequest.orderID(fromRequestID: id) else { return loop.makeSucceededFuture(nil) }
        let database = database(forOrder: orderID)
        return future(on: loop) {
            let status = try await database.transaction {
                tx -> (request: CancellationRequest, releases: [StockChange], waiting: Bool)? in
                guard let order = try await self.readOrder(orderID, in: tx),
                    let request = try await self.requests(orderID: orderID, in: tx).first(where: { $0.request.id == id }
                    )?
                    .request
                else { return nil }
                // The same releases the confirmation scheduled: they depend on the lines and units.
                let releases = Cancellation.releases(request.quote, cancellationID: id, order: order)
                let waiting = try await tx.first(
                    "SELECT 1 FROM outbox WHERE cancellation_id = \(id) AND delivered_ms IS NULL LIMIT 1"
                )
                return (request, releases, waiting != nil)
            }
            if status?.waiting == true { self.deliver(from: database.index) }
            return status
        }
    }

    public func refunds(orderID: String, on loop: any EventLoop) -> EventLoopFuture<[Refund]> {
        let database = database(forOrder: orderID)
        return future(on: loop) {
            try await database.rows(
                "SELECT body FROM refunds WHERE order_id = \(orderID) ORDER BY created_ms, refund_id COLLATE \"C\""
            ).map { try BodyCodec.decode(Refund.self, from: [UInt8](bytea: try $0.decode(ByteBuffer.self))) }
        }
    }

    public func cancellation(_ id: String, on loop: any EventLoop) -> EventLoopFuture<CancellationRequest?> {
        guard let orderID = CancellationRequest.orderID(fromRequestID: id) else { return loop.makeSucceededFuture(nil) }
        let database = database(forOrder: orderID)
        return future(on: loop) {
            try await database.rows("SELECT body FROM cancellation_requests WHERE id = \(id)").first.map {
                try BodyCodec.decode(CancellationRequest.self, from: [UInt8](bytea: try $0.decode(ByteBuffer.self)))
            }
        }
    }

    // MARK: Rows of requests and refunds

    /// An order's requests, oldest first, with their numbers and token hashes.
    func requests(
        orderID: String,
        in tx: Transaction
    ) async throws -> [(request: CancellationRequest, number: Int64, tokenHash: [UInt8])] {
        try await tx.rows(
            "SELECT number, token_sha256, body FROM cancellation_requests WHERE order_id = \(orderID) ORDER BY number"
        ).map { row in
            let (number, hash, body) = try row.decode((Int64, ByteBuffer, ByteBuffer).self)
            return (
                try BodyCodec.decode(CancellationRequest.self, from: [UInt8](bytea: body)), number, [UInt8](bytea: hash)
            )
        }
    }

    func update(_ request: CancellationRequest, in tx: Transaction) async throws {
        try await tx.run(
            """
            UPDATE cancellation_requests SET state = \(request.lifecycle.state.rawValue),
                body = \(try BodyCodec.encode(request).bytea), updated_ms = \(request.updatedMs)
            WHERE id = \(request.id)
            """
        )
    }

    func refund(cancellationID: String, in tx: Transaction) async throws -> Refund? {
        try await tx.first("SELECT body FROM refunds WHERE cancellation_id = \(cancellationID)").map {
            try BodyCodec.decode(Refund.self, from: [UInt8](bytea: try $0.decode(ByteBuffer.self)))
        }
    }
}

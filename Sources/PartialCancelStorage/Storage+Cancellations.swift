import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PartialCancelDomain

// Storage: Cancellation requests.
extension Storage {
    /// The order and the ids of the lines its pending requests cover at `nowMs`.
    public func orderWithPendingLines(
        _ id: String,
        nowMs: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<(order: Order, pendingLineIDs: Set<String>)?> {
        on(router.shard(forOrder: id), loop) { store in
            guard let order = try store.order(id) else { return nil }
            let pending = try store.cancellationRequests(orderID: id).filter { $0.isPending(at: nowMs) }
            return (order, pending.reduce(into: Set<String>()) { $0.formUnion($1.coveredLineIDs(in: order)) })
        }
    }

    /// Creates a cancellation request in one transaction of the order's shard: `decide` sees the
    /// order, the lines of its pending requests and the new request's id, and returns the request,
    /// its token's hash and the customer's notification (or throws to refuse, writing nothing).
    public func createCancellation(
        orderID: String,
        nowMs: Int64,
        on loop: any EventLoop,
        decide:
            @escaping @Sendable (Order, Set<String>, String) throws -> (
                CancellationRequest, [UInt8], PortalNotification
            )?
    )
        -> EventLoopFuture<CancellationRequest?>
    {
        on(router.shard(forOrder: orderID), loop) { store in
            try store.transaction {
                guard let order = try store.order(orderID) else { return nil }
                let pending = try store.cancellationRequests(orderID: orderID).filter { $0.isPending(at: nowMs) }
                let pendingLines = pending.reduce(into: Set<String>()) { $0.formUnion($1.coveredLineIDs(in: order)) }
                let number = try store.nextCancellationNumber(orderID: orderID)
                guard
                    let (request, tokenHash, notification) = try decide(
                        order,
                        pendingLines,
                        CancellationRequest.id(orderID: orderID, number: number)
                    )
                else {
                    return nil
                }
                try store.insert(request, number: number, tokenHash: tokenHash)
                try store.add(notification)
                try store.appendHistory(orderID: orderID, actor: request.actor, .cancellationRequested(request))
                return request
            }
        }
    }

    /// What a cancellation becomes once its stock is back, decided by the domain; nil leaves it
    /// unchanged.
    var completeAfterRelease: @Sendable (CancellationRequest) -> CancellationRequest? {
        let clock = self.clock
        return { request in request.completedAfterStockRelease(nowMs: clock.nowMs()) }
    }

    /// Confirms, declines or withdraws a request in one transaction of its order's shard. `decide`
    /// sees the request, its token hash, the order and the lines of the order's other pending requests.
    /// One process owns the shards, so `presenter`'s wrong tokens are left to that process's
    /// in-memory limiter (the server's), which is exact here.
    public func settleCancellation(
        _ id: String,
        actor: String,
        presenter: TokenPresenter?,
        nowMs: Int64,
        on loop: any EventLoop,
        decide: @escaping @Sendable (CancellationRequest, [UInt8], Order, Set<String>) throws -> CancellationDecision
    )
        -> EventLoopFuture<CancellationResult?>
    {
        guard let orderID = CancellationRequest.orderID(fromRequestID: id) else { return loop.makeSucceededFuture(nil) }
        let shard = router.shard(forOrder: orderID)
        let router = self.router
        let complete = self.completeAfterRelease
        return on(shard, loop) { store -> (Result<CancellationResult?, any Error>, Bool) in
            try store.transaction {
                guard let (request, tokenHash) = try store.cancellationRequest(id), let order = try store.order(orderID)
                else { return (.success(nil), false) }
                let others = try store.cancellationRequests(orderID: orderID).filter {
                    $0.id != id && $0.isPending(at: nowMs)
                }
                let otherLines = others.reduce(into: Set<String>()) { $0.formUnion($1.coveredLineIDs(in: order)) }
                switch try decide(request, tokenHash, order, otherLines) {
                case .refuse(let updated, let error):
                    if let updated {
                        try store.update(updated)
                        // A wrong token is recorded with its caller; the lock it may cause, by the system.
                        if updated.lifecycle.failedAttempts != request.lifecycle.failedAttempts {
                            try store.appendHistory(orderID: orderID, actor: actor, .tokenRejected(request, updated))
                        }
                        if updated.lifecycle.state != request.lifecycle.state {
                            try store.appendHistory(
                                orderID: orderID,
                                actor: "system",
                                .cancellationChanged(request, updated)
                            )
                        }
                    }
                    return (.failure(error), false)
                case .earlier:
                    return (
                        .success(
                            CancellationResult(
                                request: request,
                                order: order,
                                refund: try store.refund(cancellationID: id),
                                earlier: true
                            )
                        ), false
                    )
                case .decline(let updated, let notification):
                    try store.update(updated)
                    try store.add(notification)
                    try store.appendHistory(orderID: orderID, actor: actor, .cancellationChanged(request, updated))
                    return (.success(CancellationResult(request: updated, order: order, refund: nil)), false)
                case .withdraw(let updated, let notification, let reason):
                    try store.update(updated)
                    try store.add(notification)
                    try store.appendHistory(
                        orderID: orderID,
                        actor: actor,
                        .cancellationChanged(request, updated, detail: "reason: \(reason)")
                    )
                    return (.success(CancellationResult(request: updated, order: order, refund: nil)), false)
                case .confirm(var confirmed, let after, let refund, let allocations, let releases, let notification):
                    try store.update(after)
                    try store.insert(refund)
                    for allocation in allocations { try store.insert(allocation) }
                    try store.add(notification)
                    let sent = try store.route(releases, router: router)
                    try store.appendHistory(orderID: orderID, actor: actor, .cancellationChanged(request, confirmed))
                    try store.appendHistory(
                        orderID: orderID,
                        actor: actor,
                        .orderUpdated(order, after, cancelled: request.lines)
                    )
                    try store.appendHistory(orderID: orderID, actor: actor, .refundIssued(refund))
                    if !sent, let completed = complete(confirmed) {
                        try store.appendHistory(
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
                    try store.update(confirmed)
                    return (.success(CancellationResult(request: confirmed, order: after, refund: refund)), sent)
                }
            }
        }.flatMapThrowing { result, sent in
            if sent { self.deliver(from: shard) }
            return try result.get()
        }
    }

    /// Where a confirmed cancellation's stock releases stand: the request, and whether any release
    /// still waits in the outbox. A waiting one is delivered again now (idempotently).
    public func releaseStatus(
        _ id: String,
        on loop: any EventLoop
    ) -> EventLoopFuture<(request: CancellationRequest, releases: [StockChange], waiting: Bool)?> {
        guard let orderID = CancellationRequest.orderID(fromRequestID: id) else { return loop.makeSucceededFuture(nil) }
        let shard = router.shard(forOrder: orderID)
        return on(shard, loop) { store -> (request: CancellationRequest, releases: [StockChange], waiting: Bool)? in
            guard let (request, _) = try store.cancellationRequest(id), let order = try store.order(orderID) else {
                return nil
            }
            // The same releases the confirmation scheduled: they depend on the lines and units, not on quantities left.
            let releases = Cancellation.releases(request.quote, cancellationID: id, order: order)
            return (request, releases, !(try store.cancellationsAwaitingRelease([id]).isEmpty))
        }.map { status in
            if status?.waiting == true { self.deliver(from: shard) }
            return status
        }
    }

    /// The refunds recorded for an order.
    public func refunds(orderID: String, on loop: any EventLoop) -> EventLoopFuture<[Refund]> {
        on(router.shard(forOrder: orderID), loop) { try $0.refunds(orderID: orderID) }
    }

    /// A cancellation request, if it exists.
    public func cancellation(_ id: String, on loop: any EventLoop) -> EventLoopFuture<CancellationRequest?> {
        guard let orderID = CancellationRequest.orderID(fromRequestID: id) else { return loop.makeSucceededFuture(nil) }
        return on(router.shard(forOrder: orderID), loop) { store in try store.cancellationRequest(id)?.request }
    }
}

/// What a confirmation or decline decided, for storage to carry out in the same transaction.
public enum CancellationDecision: Sendable {
    /// Refuse: persist the request's new lifecycle (if any), commit, then fail with `error`.
    case refuse(CancellationRequest?, any Error)
    /// Confirmed: the order after the cancellation, the refund and its instructions to the payment
    /// service, the stock to release, the customer's message.
    case confirm(CancellationRequest, Order, Refund, [RefundAllocation], [StockChange], PortalNotification)
    /// Confirmed before: answer with what was recorded then.
    case earlier
    case decline(CancellationRequest, PortalNotification)
    /// Withdrawn by an agent or operator: the request, the customer's message, and the reason
    /// for the history.
    case withdraw(CancellationRequest, PortalNotification, reason: String)
}

/// The outcome of a confirmation or decline, after commit.
public struct CancellationResult: Sendable {
    public var request: CancellationRequest
    public var order: Order
    public var refund: Refund?
    /// Settled before (`CancellationDecision.earlier`): the answer recorded then, nothing done now.
    public var earlier: Bool

    package init(request: CancellationRequest, order: Order, refund: Refund?, earlier: Bool = false) {
        self.request = request
        self.order = order
        self.refund = refund
        self.earlier = earlier
    }
}

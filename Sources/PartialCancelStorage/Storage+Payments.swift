import NIOCore
import PartialCancelDomain

/// What a `payment` dead letter holds: the allocation's id as its subject, and a readable summary.
package enum PaymentDeadLetter {
    package static let kind = "payment"

    package static func payload(_ allocation: RefundAllocation) -> [UInt8] {
        Array(
            "Allocation: \(allocation.id)\nAmount: \(allocation.amount) \(allocation.currency)\nMethod: \(allocation.method.rawValue)\nTender: \(allocation.tenderID)"
                .utf8
        )
    }
}

// Storage: refund allocations (the payment outbox).
extension Storage {
    private func shard(ofAllocation id: String) -> Int? {
        RefundAllocation.orderID(fromAllocationID: id).map { router.shard(forOrder: $0) }
    }

    public func refundAllocations(orderID: String, on loop: any EventLoop) -> EventLoopFuture<[RefundAllocation]> {
        on(router.shard(forOrder: orderID), loop) { try $0.refundAllocations(orderID: orderID) }
    }

    public func duePayments(nowMs: Int64, limit: Int, on loop: any EventLoop) -> EventLoopFuture<[DuePayment]> {
        let perShard = workers.indices.map { index in on(index, loop) { try $0.duePayments(nowMs: nowMs, limit: limit) }
        }
        return EventLoopFuture.whenAllSucceed(perShard, on: loop).map { Array($0.joined()) }
    }

    public func paymentAccepted(_ payment: DuePayment, on loop: any EventLoop) -> EventLoopFuture<Void> {
        guard let shard = shard(ofAllocation: payment.allocation.id) else { return loop.makeSucceededVoidFuture() }
        return on(shard, loop) { try $0.paymentAccepted(payment.allocation.id) }
    }

    public func paymentRetry(
        _ payment: DuePayment,
        error: String,
        nextAttemptMs: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<Void> {
        guard let shard = shard(ofAllocation: payment.allocation.id) else { return loop.makeSucceededVoidFuture() }
        // Lost on a power failure, the attempt is simply made again.
        return on(shard, loop, durable: false) {
            try $0.paymentRetry(payment.allocation.id, error: error, nextAttemptMs: nextAttemptMs)
        }
    }

    public func paymentDead(_ payment: DuePayment, error: String, on loop: any EventLoop) -> EventLoopFuture<Void> {
        guard let shard = shard(ofAllocation: payment.allocation.id) else { return loop.makeSucceededVoidFuture() }
        return on(shard, loop) { try $0.paymentDead(payment, error: error) }
    }

    public func revivePayment(deadLetter: DeadLetter, on loop: any EventLoop) -> EventLoopFuture<Bool> {
        guard let shard = shard(ofAllocation: deadLetter.subject), let address = deadLetterAddress(deadLetter.id) else {
            return loop.makeSucceededFuture(false)
        }
        return on(shard, loop) { store in try store.revivePayment(deadLetter.subject) }.flatMap { revived in
            self.on(address.shard, loop) { try $0.resolveDeadLetter(rowID: address.row) }.map { revived }
        }
    }

    public func settlePayment(
        _ id: String,
        actor: String,
        on loop: any EventLoop,
        decide: @escaping @Sendable (RefundAllocation) -> PaymentSettlement
    ) -> EventLoopFuture<PaymentSettlement?> {
        guard let shard = shard(ofAllocation: id) else { return loop.makeSucceededFuture(nil) }
        return on(shard, loop) { store -> PaymentSettlement? in
            try store.transaction {
                guard let allocation = try store.refundAllocation(id) else { return nil }
                let settlement = decide(allocation)
                if case .settled(let settled, let record, let replacement) = settlement {
                    try store.update(settled)
                    if let replacement { try store.insert(replacement) }
                    try store.appendHistory(orderID: allocation.orderID, actor: actor, record)
                }
                return settlement
            }
        }
    }
}

import NIOCore
import PartialCancelDomain

// Storage: the event outbox for touchpoints' webhooks.
extension Storage {
    public func dueEvents(
        nowMs: Int64,
        limit: Int,
        perKey: Int,
        on loop: any EventLoop
    ) -> EventLoopFuture<[[OutboundEvent]]> {
        let perShard = workers.indices.map { index in
            on(index, loop) { try $0.dueEvents(nowMs: nowMs, limit: limit, perKey: perKey) }
        }
        return EventLoopFuture.whenAllSucceed(perShard, on: loop).map { Array($0.joined()) }
    }

    public func eventSent(_ event: OutboundEvent, on loop: any EventLoop) -> EventLoopFuture<Void> {
        guard let address = address(event.id, prefix: "ev") else { return loop.makeSucceededVoidFuture() }
        // Lost on a power failure, the event is delivered again: at least once, as promised.
        return on(address.shard, loop, durable: false) { try $0.eventSent(row: address.row) }
    }

    public func eventRetry(
        _ event: OutboundEvent,
        error: String,
        nextAttemptMs: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<Void> {
        guard let address = address(event.id, prefix: "ev") else { return loop.makeSucceededVoidFuture() }
        return on(address.shard, loop, durable: false) {
            try $0.eventRetry(row: address.row, error: error, nextAttemptMs: nextAttemptMs)
        }
    }

    public func eventDead(_ event: OutboundEvent, error: String, on loop: any EventLoop) -> EventLoopFuture<Void> {
        guard let address = address(event.id, prefix: "ev") else { return loop.makeSucceededVoidFuture() }
        return on(address.shard, loop) { try $0.eventDead(event, row: address.row, error: error) }
    }

    public func reviveEvent(deadLetter: DeadLetter, on loop: any EventLoop) -> EventLoopFuture<Bool> {
        guard let event = address(deadLetter.subject, prefix: "ev"), let letter = deadLetterAddress(deadLetter.id)
        else {
            return loop.makeSucceededFuture(false)
        }
        return on(event.shard, loop) { try $0.reviveEvent(row: event.row) }.flatMap { revived in
            self.on(letter.shard, loop) { try $0.resolveDeadLetter(rowID: letter.row) }.map { revived }
        }
    }

    public func pruneEvents(beforeMs: Int64, on loop: any EventLoop) -> EventLoopFuture<Int> {
        let perShard = workers.indices.map { index in
            on(index, loop, durable: false) { try $0.pruneEvents(beforeMs: beforeMs) }
        }
        return EventLoopFuture.whenAllSucceed(perShard, on: loop).map { $0.reduce(0, +) }
    }
}

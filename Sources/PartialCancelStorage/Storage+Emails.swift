import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PartialCancelDomain

// Storage: Email outbox.
extension Storage {
    /// Emails due for delivery, from every shard.
    public func dueEmails(nowMs: Int64, limit: Int, on loop: any EventLoop) -> EventLoopFuture<[OutboundEmail]> {
        let perShard = workers.indices.map { index in on(index, loop) { try $0.dueEmails(nowMs: nowMs, limit: limit) } }
        return EventLoopFuture.whenAllSucceed(perShard, on: loop).map { Array($0.joined()) }
    }

    private func emailShard(_ email: OutboundEmail) -> Int? { address(email.id, prefix: "e")?.shard }

    public func emailSent(_ email: OutboundEmail, on loop: any EventLoop) -> EventLoopFuture<Void> {
        guard let shard = emailShard(email) else { return loop.makeSucceededVoidFuture() }
        // Lost on a power failure, the email is sent again: at least once, as email always is.
        return on(shard, loop, durable: false) { try $0.emailSent(rowID: email.rowID) }
    }

    public func emailFailed(
        _ email: OutboundEmail,
        error: String,
        nextAttemptMs: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<Void> {
        guard let shard = emailShard(email) else { return loop.makeSucceededVoidFuture() }
        return on(shard, loop, durable: false) {
            try $0.emailFailed(rowID: email.rowID, error: error, nextAttemptMs: nextAttemptMs)
        }
    }

    /// Gives up on an email: it becomes a dead letter (kind `notification`) that can be re-driven.
    public func emailDead(_ email: OutboundEmail, error: String, on loop: any EventLoop) -> EventLoopFuture<Void> {
        guard let shard = emailShard(email) else { return loop.makeSucceededVoidFuture() }
        return on(shard, loop) { try $0.emailDead(email, error: error) }
    }

    /// Re-queues the email a `notification` dead letter is about, and closes the dead letter.
    public func reviveEmail(deadLetter: DeadLetter, on loop: any EventLoop) -> EventLoopFuture<Bool> {
        guard let email = address(deadLetter.subject, prefix: "e"), let address = deadLetterAddress(deadLetter.id)
        else {
            return loop.makeSucceededFuture(false)
        }
        return on(email.shard, loop) { store in try store.transaction { try store.reviveEmail(rowID: email.row) } }
            .flatMap { revived in
                self.on(address.shard, loop) { try $0.resolveDeadLetter(rowID: address.row) }.map { revived }
            }
    }
}

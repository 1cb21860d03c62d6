import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PartialCancelDomain

// Storage: Cross-shard delivery.
extension Storage {
    /// Delivers the shard's undelivered outbox messages to their destinations. Safe to run at any
    /// time and any number of times: receivers apply each message id once.
    func deliver(from shard: Int) {
        let start = delivering[shard].withLockedValue { state -> Bool in
            if state.running {
                state.again = true
                return false
            }
            state = (true, false)
            return true
        }
        guard start else { return }
        deliveryPass(from: shard)
    }

    private func deliveryPass(from shard: Int) {
        let batch = configuration.deliveryBatch
        let loop = eventLoop
        on(shard, loop) { store in try store.pendingOutbox(limit: batch) }.flatMap {
            messages -> EventLoopFuture<Bool> in
            guard !messages.isEmpty else { return loop.makeSucceededFuture(false) }
            let byDestination = Dictionary(grouping: messages, by: \.destination)
            let applied = byDestination.map { destination, group in
                self.on(destination, loop) { store in
                    try store.transaction { for message in group { try store.apply(message.change) } }
                }
            }
            let complete = self.completeAfterRelease
            return EventLoopFuture.andAllSucceed(applied, on: loop).flatMap {
                // The destination has durably applied them; if this mark is lost, they are delivered
                // again and the destination ignores them as already applied.
                self.on(shard, loop, durable: false) { store in try store.markDelivered(messages, complete: complete) }
            }.map { messages.count == batch }
        }.whenComplete { result in
            if case .failure(let error) = result {
                self.logger.error(
                    "outbox delivery failed; it will be retried",
                    metadata: ["shard": "\(shard)", "error": "\(error)"]
                )
            }
            let more = (try? result.get()) ?? false
            let again = self.delivering[shard].withLockedValue { state -> Bool in
                if more || state.again {
                    state.again = false
                    return true
                }
                state.running = false
                return false
            }
            if again { self.deliveryPass(from: shard) }
        }
    }

    /// Waits until no shard has undelivered outbox messages (for tests and orderly shutdown).
    public func waitForDelivery(on loop: any EventLoop) -> EventLoopFuture<Void> {
        let backlogs = workers.indices.map { index in on(index, loop) { $0.outboxBacklog } }
        return EventLoopFuture.whenAllSucceed(backlogs, on: loop).flatMap { counts in
            if counts.allSatisfy({ $0 == 0 }) { return loop.makeSucceededVoidFuture() }
            for index in self.workers.indices { self.deliver(from: index) }
            return loop.scheduleTask(in: .milliseconds(5)) {}.futureResult.flatMap { self.waitForDelivery(on: loop) }
        }
    }
}

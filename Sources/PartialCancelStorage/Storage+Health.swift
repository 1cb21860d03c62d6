import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PartialCancelDomain

// Storage: Health.
extension Storage {
    /// Why shards cannot write (their disk is full), one line each; empty when all can. Health
    /// updates it by probing those shards.
    public var unwritableShards: [String] { fullness.compactMap { $0.withLockedValue { $0 } } }

    /// Each shard's state. A shard whose last write failed for lack of space first tries a write
    /// of its own (the storage probe), so that it reports ready again by itself once space is back,
    /// even when no caller writes to it meanwhile.
    public func health(on loop: any EventLoop) -> EventLoopFuture<[ShardHealth]> {
        let shards = workers.map { worker in
            let depth = worker.queueDepth
            let index = worker.index
            let probed: EventLoopFuture<Void> =
                fullness[index].withLockedValue { $0 } == nil
                ? loop.makeSucceededVoidFuture()
                : worker.submit(on: loop) { store in try store.probeWrite() }.recover { _ in }
            return probed.flatMap {
                worker.submit(on: loop) { store in
                    let now = store.now()
                    let outbox = store.outboxBacklogAndOldest
                    let email = store.emailBacklogAndOldest
                    return ShardHealth(
                        index: store.index,
                        open: true,
                        queueDepth: depth,
                        outboxBacklog: outbox.count,
                        deadLetters: store.openDeadLetterCount,
                        orders: store.orderCount,
                        outboxOldestAgeMs: outbox.oldestMs.map { max(0, now - $0) } ?? 0,
                        emailBacklog: email.count,
                        emailOldestAgeMs: email.oldestMs.map { max(0, now - $0) } ?? 0,
                        storageFull: store.storageFull
                    )
                }
            }.flatMapErrorThrowing { error in
                // This read shared a group commit that failed for lack of space: the shard is open
                // and readable, but cannot write; its counts are unknown this time.
                guard let storageError = error as? StorageError, storageError.isStorageFull else { throw error }
                return ShardHealth(
                    index: index,
                    open: true,
                    queueDepth: depth,
                    outboxBacklog: 0,
                    deadLetters: 0,
                    orders: 0,
                    storageFull: self.fullness[index].withLockedValue { $0 }
                        ?? "shard \(index) cannot write: storage is full (\(storageError))"
                )
            }
        }
        return EventLoopFuture.whenAllSucceed(shards, on: loop)
    }
}

import Foundation
import NIOCore
import PartialCancelDomain

// Storage: Portal inbox.
extension Storage {

    /// An account's portal inbox across all shards, newest first.
    public func notifications(
        accountID: String,
        limit: Int,
        on loop: any EventLoop
    ) -> EventLoopFuture<[StoredNotification]> {
        let perShard = workers.indices.map { index in
            on(index, loop) { try $0.notifications(accountID: accountID, limit: limit) }
        }
        return EventLoopFuture.whenAllSucceed(perShard, on: loop).map { lists in
            Array(lists.joined().sorted { ($0.createdMs, $0.id) > ($1.createdMs, $1.id) }.prefix(limit))
        }
    }
}

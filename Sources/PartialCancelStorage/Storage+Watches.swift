import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PartialCancelDomain

// Storage: Watching.
extension Storage {
    /// Starts watching an order: queues, on the order's shard, the history entries after `seq`
    /// (the last one carrying the current order) or, for `seq` 0, a snapshot of the order now;
    /// then `subscriber` gets every later committed entry. Returns false (watching nothing) when
    /// the order does not exist; throws `WatchError.ahead` for a `seq` past the order's history, and
    /// what `check` throws (given the order, before anything is queued).
    public func watchOrder(
        _ id: String,
        after seq: Int64,
        subscriber: any ChangeSubscriber,
        on loop: any EventLoop,
        check: @escaping @Sendable (Order) throws -> Void
    ) -> EventLoopFuture<Bool> {
        let hub = self.hub
        return on(router.shard(forOrder: id), loop, durable: false) { store in
            guard let order = try store.order(id) else { return false }
            try check(order)
            let last = try store.lastHistorySeq(id)
            guard seq <= last else { throw WatchError.ahead(subject: id, seq: seq, last: last) }
            if seq == 0 {
                subscriber.offer(.order(id: id, entry: nil, seq: last, order: order))
            } else {
                let entries = try store.history(id, after: seq)
                for (index, entry) in entries.enumerated() {
                    subscriber.offer(
                        .order(id: id, entry: entry, seq: entry.seq, order: index == entries.count - 1 ? order : nil)
                    )
                }
            }
            hub.add(subscriber, for: .order(id))
            return true
        }
    }

    /// Starts watching skus: for each, on its shard, the stock changes after its `seq` or, for
    /// `seq` 0, a snapshot of each of its pools now (none for a sku without stock yet); then every
    /// later committed change. Throws `WatchError.ahead` for a `seq` past a sku's history.
    public func watchStock(
        _ cursors: [(sku: String, after: Int64)],
        subscriber: any ChangeSubscriber,
        on loop: any EventLoop
    ) -> EventLoopFuture<Void> {
        let hub = self.hub
        let started = cursors.map { cursor in
            on(router.shard(forSKU: cursor.sku), loop, durable: false) { store in
                let last = try store.lastStockSeq(cursor.sku)
                guard cursor.after <= last else {
                    throw WatchError.ahead(subject: cursor.sku, seq: cursor.after, last: last)
                }
                if cursor.after == 0 {
                    for pool in try store.stock(sku: cursor.sku, location: nil) {
                        subscriber.offer(
                            .stock(
                                StockEvent(
                                    sku: pool.sku,
                                    seq: last,
                                    atMs: store.now(),
                                    location: pool.location,
                                    onHand: pool.onHand,
                                    reserved: pool.reserved,
                                    cause: "SNAPSHOT",
                                    reference: ""
                                )
                            )
                        )
                    }
                } else {
                    for event in try store.stockHistory(sku: cursor.sku, after: cursor.after) {
                        subscriber.offer(.stock(event))
                    }
                }
                hub.add(subscriber, for: .sku(cursor.sku))
            }
        }
        return EventLoopFuture.andAllSucceed(started, on: loop)
    }

    /// Stops `subscriber`'s watches on `keys`. Safe to call more than once.
    public func unwatch(_ subscriber: any ChangeSubscriber, keys: [WatchKey]) {
        hub.remove(subscriber, for: keys)
    }

    /// Watches open now (one per subscriber and key).
    public var watchCount: Int { hub.count }

}

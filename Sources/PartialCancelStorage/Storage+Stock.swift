import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PartialCancelDomain

// Storage: Stock.
extension Storage {
    public func setOnHand(
        sku: String,
        location: String,
        onHand: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<StockPool> {
        on(router.shard(forSKU: sku), loop) { store in
            try store.transaction { try store.setOnHand(sku: sku, location: location, onHand: onHand) }
        }
    }

    public func stock(sku: String, location: String?, on loop: any EventLoop) -> EventLoopFuture<[StockPool]> {
        on(router.shard(forSKU: sku), loop) { store in try store.stock(sku: sku, location: location) }
    }
}

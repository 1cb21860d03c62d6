import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PartialCancelDomain

// Storage: Audit.
extension Storage {
    /// Every stored order, from every shard (audits and tests; not for the request path).
    public func allOrders(on loop: any EventLoop) -> EventLoopFuture<[Order]> {
        let perShard = workers.indices.map { index in on(index, loop) { try $0.allOrders() } }
        return EventLoopFuture.whenAllSucceed(perShard, on: loop).map { Array($0.joined()) }
    }

    /// Checks that every pool's reserved count equals the open reservations of the stored orders
    /// (SPEC section 12: no unit reserved twice or lost). Run it with the outbox drained.
    public func auditReservations(on loop: any EventLoop) -> EventLoopFuture<[StockDiscrepancy]> {
        let pools = EventLoopFuture.whenAllSucceed(
            workers.indices.map { index in on(index, loop) { try $0.allStock() } },
            on: loop
        )
        return allOrders(on: loop).and(pools).map { orders, poolLists in
            StockDiscrepancy.find(orders: orders, pools: Array(poolLists.joined()))
        }
    }
}

/// A stock pool whose reserved count differs from what the stored orders hold.
public struct StockDiscrepancy: Sendable, Hashable, CustomStringConvertible {
    public var sku: String
    public var location: String
    public var reserved: Int64
    public var expected: Int64
    public var description: String { "\(sku)@\(location): reserved \(reserved), orders hold \(expected)" }

    /// Every pool whose reserved count is not the sum of the orders' open reservations.
    package static func find(orders: [Order], pools: [StockPool]) -> [StockDiscrepancy] {
        var expected: [String: Int64] = [:]
        for order in orders {
            for change in order.intakeReservations() {
                expected["\(change.sku)@\(change.location)", default: 0] += change.quantity
            }
        }
        var discrepancies: [StockDiscrepancy] = []
        var seen = Set<String>()
        for pool in pools {
            let key = "\(pool.sku)@\(pool.location)"
            seen.insert(key)
            let want = expected[key] ?? 0
            if pool.reserved != want {
                discrepancies.append(
                    StockDiscrepancy(
                        sku: pool.sku,
                        location: pool.location,
                        reserved: pool.reserved,
                        expected: want
                    )
                )
            }
        }
        for (key, want) in expected where !seen.contains(key) && want != 0 {
            let parts = key.split(separator: "@", maxSplits: 1).map(String.init)
            discrepancies.append(StockDiscrepancy(sku: parts[0], location: parts[1], reserved: 0, expected: want))
        }
        return discrepancies
    }
}

import Foundation
import NIOConcurrencyHelpers
import Testing

@testable import PartialCancelStorage

@Suite("Change feed")
struct ChangeFeedTests {
    struct Refused: Error {}

    static func stock(_ sku: String, _ seq: Int64, cause: String = "SET_ON_HAND") -> ChangeEvent {
        .stock(
            StockEvent(
                sku: sku,
                seq: seq,
                atMs: 0,
                location: "L",
                onHand: seq,
                reserved: 0,
                cause: cause,
                reference: ""
            )
        )
    }

    @Test("only committed changes reach watchers, in commit order; a rolled-back savepoint's changes never do")
    func committedOnly() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pcancel-feed-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let hub = WatchHub()
        let queue = ChangeQueue(limit: 100) {}
        hub.add(queue, for: .sku("S"))
        let store = try ShardStore(
            index: 0,
            path: directory + "/s.sqlite",
            configuration: StorageConfiguration(),
            hub: hub,
            now: { 1 }
        )

        try store.transaction { _ = try store.setOnHand(sku: "S", location: "L", onHand: 5) }
        #expect(throws: Refused.self) {
            try store.transaction {
                _ = try store.setOnHand(sku: "S", location: "L", onHand: 6)
                throw Refused()
            }
        }
        try store.transaction {
            try store.transaction { _ = try store.setOnHand(sku: "S", location: "L", onHand: 7) }
            // Not yet committed: nothing is published inside the outer transaction.
            #expect(queue.count == 1)
            try? store.transaction {
                _ = try store.setOnHand(sku: "S", location: "L", onHand: 8)
                throw Refused()
            }
            _ = try store.setOnHand(sku: "OTHER", location: "L", onHand: 1)  // not watched
        }
        let published = queue.take(max: 10).compactMap { event -> (Int64, Int64)? in
            guard case .stock(let stock) = event else { return nil }
            return (stock.seq, stock.onHand)
        }
        #expect(published.map(\.0) == [1, 2] && published.map(\.1) == [5, 7])
        // The history a resuming watcher reads holds exactly what was published.
        #expect(try store.stockHistory(sku: "S", after: 0).map(\.onHand) == [5, 7])
    }

    @Test("a watcher's queue drops repeats, keeps snapshots, wakes once per batch, and overflows past its limit")
    func queue() {
        let wakes = NIOLockedValueBox(0)
        let queue = ChangeQueue(limit: 3) { wakes.withLockedValue { $0 += 1 } }
        queue.offer(Self.stock("A", 4, cause: "SNAPSHOT"))
        queue.offer(Self.stock("A", 4, cause: "SNAPSHOT"))  // a second pool's snapshot, same seq: kept
        queue.offer(Self.stock("A", 4))  // the change the snapshot already shows: dropped
        queue.offer(Self.stock("A", 3))  // older: dropped
        #expect(wakes.withLockedValue { $0 } == 1)
        #expect(queue.take(max: 10).map(\.seq) == [4, 4])
        queue.offer(Self.stock("A", 5))
        queue.offer(Self.stock("B", 1))
        #expect(wakes.withLockedValue { $0 } == 2)
        queue.offer(Self.stock("A", 6))
        #expect(!queue.hasOverflowed)
        queue.offer(Self.stock("A", 7))  // a fourth queued change: over the limit
        #expect(queue.hasOverflowed && queue.count == 0 && wakes.withLockedValue { $0 } == 3)
        queue.offer(Self.stock("A", 8))
        #expect(queue.count == 0)
    }
}

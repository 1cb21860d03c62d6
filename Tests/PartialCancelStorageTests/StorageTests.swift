import Foundation
import Logging
import NIOCore
import NIOPosix
import PartialCancelDomain
import Testing

@testable import PartialCancelStorage

@Suite("Sharded storage")
struct StorageTests {
    let loop = MultiThreadedEventLoopGroup.singleton.next()

    static func temporaryDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("pcancel-storage-\(UUID().uuidString)").path
    }

    func open(_ directory: String, shards: Int = 2) throws -> Storage {
        var configuration = StorageConfiguration()
        configuration.shards = shards
        configuration.synchronous = .normal
        configuration.tokenKeyFile =
            FileManager.default.temporaryDirectory.appendingPathComponent("pcancel-storage-test-token-key").path
        return try Storage.open(
            directory: directory,
            configuration: configuration,
            eventLoop: loop,
            logger: Logger(label: "test")
        )
    }

    static func sampleOrder(_ channel: String = "web", _ payload: String = SamplePayloads.web) throws -> Order {
        try Intake().order(
            channel: channel,
            payload: Array(payload.utf8),
            nowMs: Int64(Date().timeIntervalSince1970 * 1000)
        )
    }

    @Test("the router's hash is stable: these values must never change")
    func routingStable() {
        #expect(ShardRouter.hash("") == 0xcbf2_9ce4_8422_2325)
        #expect(ShardRouter.hash("a") == 0xaf63_dc4c_8601_ec8c)
        let router = ShardRouter(count: 4)
        #expect(router.shard(forOrder: "web-W-1001") == router.shard(forOrder: "web-W-1001"))
        let spread = Set((0..<100).map { router.shard(forOrder: "web-W-\($0)") })
        #expect(spread == [0, 1, 2, 3])
    }

    @Test("migrations run from empty, once; orders survive a restart")
    func migrationsAndRestart() async throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let order = try Self.sampleOrder()
        var storage = try open(directory)
        let first = try await storage.ingest(order, actor: "test", on: loop).get()
        #expect(first.created)
        storage.close()
        storage = try open(directory)
        let stored = try #require(try await storage.order(order.id, on: loop).get())
        #expect(stored.order == order)
        #expect(stored.history.map(\.event) == ["INGESTED"])
        storage.close()
    }

    @Test(
        "the total at intake is kept in its own column, fixed once written; orders stored before it get the total their history recorded"
    )
    func ingestedTotal() async throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let order = try Self.sampleOrder()
        var storage = try open(directory, shards: 1)
        _ = try await storage.ingest(order, actor: "test", on: loop).get()
        storage.close()
        let path = URL(fileURLWithPath: directory).appendingPathComponent("shard-0.sqlite").path
        do {  // closed at the end of the scope
            let db = try SQLiteConnection(path: path)
            #expect(
                try db.first("SELECT ingested_total FROM orders WHERE id = ?1", [.text(order.id)]) { $0.int(0) }
                    == order.totals.total
            )
            #expect(throws: StorageError.self) { try db.execute("UPDATE orders SET ingested_total = 1") }
            // As a shard from before migration 10 (so without the later ones too), with the old
            // form of the history's detail.
            try db.execute(
                """
                DROP TRIGGER orders_ingested_total_fixed;
                ALTER TABLE orders DROP COLUMN ingested_total;
                DROP TABLE fulfilment_events;
                DROP TABLE refund_allocations;
                DROP TABLE event_outbox;
                DELETE FROM schema_migrations WHERE version >= 10;
                UPDATE order_history SET detail = 'status CONFIRMED, total \(order.totals.total) USD' WHERE event = 'INGESTED';
                """
            )
        }
        storage = try open(directory, shards: 1)
        let report = try await storage.audit(on: loop).get()
        #expect(report.violations.isEmpty)
        storage.close()
        let again = try SQLiteConnection(path: path)
        #expect(
            try again.first("SELECT ingested_total FROM orders WHERE id = ?1", [.text(order.id)]) { $0.int(0) }
                == order.totals.total
        )
    }

    @Test("opening a data directory with another shard count is refused with a clear message")
    func shardCountMismatch() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try open(directory, shards: 2).close()
        do {
            _ = try open(directory, shards: 3)
            Issue.record("opened with a different shard count")
        } catch {
            #expect("\(error)".contains("created with 2 shards"))
            #expect("\(error)".contains("configured for 3"))
        }
    }

    @Test("an order reserves its stock across shards; on hand is untouched", arguments: [1, 2, 4])
    func reservations(shards: Int) async throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let storage = try open(directory, shards: shards)
        defer { storage.close() }
        for (sku, location, onHand) in [
            ("MUG-01", "WH-EAST", Int64(10)), ("CAM-01", "WH-EAST", 5), ("STRAP-01", "WH-EAST", 5),
            ("TV-55", "3PL-WEST", 3),
        ] {
            _ = try await storage.setOnHand(sku: sku, location: location, onHand: onHand, on: loop).get()
        }
        _ = try await storage.ingest(try Self.sampleOrder(), actor: "test", on: loop).get()
        _ = try await storage.ingest(
            try Self.sampleOrder("marketplace", SamplePayloads.marketplace),
            actor: "test",
            on: loop
        ).get()
        try await storage.waitForDelivery(on: loop).get()
        let expected: [(String, String, Int64, Int64)] = [
            ("MUG-01", "WH-EAST", 10, 4), ("CAM-01", "WH-EAST", 5, 2), ("STRAP-01", "WH-EAST", 5, 2),
            ("TV-55", "3PL-WEST", 3, 2), ("CAM-KIT", "WH-EAST", 0, 0),
        ]
        for (sku, location, onHand, reserved) in expected {
            let pool = try await storage.stock(sku: sku, location: location, on: loop).get().first
            #expect((pool?.onHand ?? 0) == onHand, "\(sku)")
            #expect((pool?.reserved ?? 0) == reserved, "\(sku)")
        }
        // Services and subscriptions hold no stock.
        #expect(try await storage.stock(sku: "SUPPORT-M", location: nil, on: loop).get().isEmpty)
    }

    @Test("a stock change is applied exactly once, however often it is delivered")
    func exactlyOnce() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let store = try ShardStore(
            index: 0,
            path: directory + "/s.sqlite",
            configuration: StorageConfiguration(),
            now: { 0 }
        )
        let change = StockChange(
            id: "o/reserve/L1",
            kind: .reserve,
            sku: "S",
            location: "L",
            quantity: 3,
            orderID: "o",
            lineID: "L1"
        )
        #expect(try store.transaction { try store.apply(change) })
        #expect(try !store.transaction { try store.apply(change) })
        #expect(try store.stock(sku: "S", location: "L").first?.reserved == 3)
        let release = StockChange(
            id: "o/release/1",
            kind: .release,
            sku: "S",
            location: "L",
            quantity: 5,
            orderID: "o",
            lineID: "L1"
        )
        try store.transaction { try store.apply(release) }
        #expect(try store.stock(sku: "S", location: "L").first?.reserved == 0)  // never below zero
    }

    @Test("undelivered outbox messages are delivered when the data directory is opened again")
    func redeliveryAfterRestart() async throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try open(directory, shards: 2).close()
        // A message left in shard 0's outbox by a run that died before delivering it.
        let router = ShardRouter(count: 2)
        let sku = (0..<100).map { "SKU-\($0)" }.first { router.shard(forSKU: $0) == 1 }!
        do {
            let store = try ShardStore(
                index: 0,
                path: directory + "/shard-0.sqlite",
                configuration: StorageConfiguration(),
                now: { 1 }
            )
            let change = StockChange(
                id: "x/reserve/L1",
                kind: .reserve,
                sku: sku,
                location: "WH",
                quantity: 7,
                orderID: "x",
                lineID: "L1"
            )
            try store.transaction { try store.enqueue(change, destination: 1) }
            #expect(store.outboxBacklog == 1)
        }
        let storage = try open(directory, shards: 2)
        defer { storage.close() }
        try await storage.waitForDelivery(on: loop).get()
        #expect(try await storage.stock(sku: sku, location: "WH", on: loop).get().first?.reserved == 7)
        #expect(try await storage.health(on: loop).get().allSatisfy { $0.outboxBacklog == 0 })
    }
}

@Suite("Shard worker")
struct ShardWorkerTests {
    /// A worker on a fresh shard file in a new temporary directory.
    static func worker() throws -> (directory: String, worker: ShardWorker) {
        let directory = StorageTests.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let store = try ShardStore(
            index: 0,
            path: directory + "/s.sqlite",
            configuration: StorageConfiguration(),
            now: { 0 }
        )
        return (directory, ShardWorker(index: 0, store: store, maxGroup: 64))
    }

    @Test("stopping a worker finishes the jobs already queued, refuses new ones, and returns")
    func stopWithQueuedJobs() async throws {
        let (directory, worker) = try Self.worker()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let slow = worker.submit(on: loop) { _ in
            usleep(50_000)
            return true
        }
        let queued = (0..<500).map { index in worker.submit(on: loop) { _ in index } }
        worker.stop()
        #expect(try await slow.get())
        for (index, job) in queued.enumerated() { #expect(try await job.get() == index) }
        await #expect(throws: StorageError.self) { _ = try await worker.submit(on: loop) { _ in 1 }.get() }
    }

    @Test("jobs queued together share one commit, each under its own savepoint, and are answered after it")
    func groupCommit() async throws {
        let (directory, worker) = try Self.worker()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let slow = worker.submit(on: loop) { _ in
            usleep(50_000)
            return true
        }
        struct Refused: Error {}
        let jobs = (0..<100).map { index in
            worker.submit(on: loop) { store -> Int in
                _ = try store.setOnHand(sku: "SKU-\(index)", location: "W", onHand: Int64(index))
                if index % 10 == 3 { throw Refused() }  // its write must roll back alone
                return index
            }
        }
        #expect(try await slow.get())
        for (index, job) in jobs.enumerated() {
            if index % 10 == 3 {
                await #expect(throws: Refused.self) { _ = try await job.get() }
            } else {
                #expect(try await job.get() == index)
            }
        }
        let pools = try await worker.submit(on: loop) { store in try store.allStock() }.get()
        #expect(pools.map(\.sku).sorted() == (0..<100).filter { $0 % 10 != 3 }.map { "SKU-\($0)" }.sorted())
        // The 100 jobs queued behind the slow one: two groups of at most 64, not 100 commits.
        let counts = worker.commitCounts
        #expect(counts.jobs == 102 && counts.groups <= 4)
        worker.stop()
    }
}

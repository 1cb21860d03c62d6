import Foundation
import Logging
import NIOCore
import NIOPosix
import PartialCancelDomain
import PartialCancelPostgres
import PartialCancelStorage
import PartialCancelTestSupport
import Testing

/// What every store behind the storage port promises, run against each backend through
/// `any StorePort` only (docs/SCALING.md): the embedded SQLite shards, and PostgreSQL (a throwaway
/// cluster of this test process, a new database per test).
@Suite("Storage contract")
struct StoreContractTests {
    struct Backend: CustomStringConvertible, Sendable {
        var description: String
        /// Opens a new, empty store, and a function that removes it.
        var open:
            @Sendable (any EventLoop, WallClock) async throws -> (store: any StorePort, remove: @Sendable () -> Void)
    }

    static let backends: [Backend] = [
        Backend(description: "sqlite") { loop, clock in
            let directory = StorageTests.temporaryDirectory()
            var configuration = StorageConfiguration()
            configuration.shards = 2
            configuration.synchronous = .normal
            configuration.tokenKeyFile =
                FileManager.default.temporaryDirectory.appendingPathComponent("pcancel-storage-test-token-key").path
            let store = try Storage.open(
                directory: directory,
                configuration: configuration,
                eventLoop: loop,
                logger: Logger(label: "contract"),
                clock: clock
            )
            return (store, { try? FileManager.default.removeItem(atPath: directory) })
        },
        Backend(description: "postgres") { loop, clock in
            let url = try await PostgresCluster.shared.newDatabase()
            let directory = StorageTests.temporaryDirectory()
            let store = try PostgresStore.open(
                configuration: PostgresStoreConfiguration(urls: [url]),
                tokenKeyFile: FileManager.default.temporaryDirectory.appendingPathComponent(
                    "pcancel-storage-test-token-key"
                )
                .path,
                dataDirectory: directory,
                eventLoop: loop,
                logger: Logger(label: "contract"),
                clock: clock
            )
            return (store, {})
        },
    ]

    let loop = MultiThreadedEventLoopGroup.singleton.next()

    func withStore(
        _ backend: Backend,
        clock: WallClock = .system,
        _ body: (any StorePort) async throws -> Void
    )
        async throws
    {
        let (store, remove) = try await backend.open(loop, clock)
        defer {
            store.close()
            remove()
        }
        #expect(store.isNew)
        try await body(store)
    }

    @Test("an ingest is idempotent on the order id and reserves its stock once", arguments: backends)
    func ingest(backend: Backend) async throws {
        try await withStore(backend) { store in
            _ = try await store.setOnHand(sku: "MUG-01", location: "WH-EAST", onHand: 10, on: loop).get()
            let order = try StorageTests.sampleOrder()
            #expect(try await store.ingest(order, actor: "test", on: loop).get().created)
            let again = try await store.ingest(order, actor: "test", on: loop).get()
            #expect(!again.created && again.order == order)
            try await store.waitForDelivery(on: loop).get()
            let pool = try await store.stock(sku: "MUG-01", location: "WH-EAST", on: loop).get().first
            #expect(pool?.onHand == 10 && pool?.reserved == 2)
            let stored = try #require(try await store.order(order.id, on: loop).get())
            #expect(stored.order == order)
            #expect(stored.history.map(\.event) == [HistoryRecord.ingestedEvent])
            #expect(try await store.order("web-NOPE", on: loop).get() == nil)
        }
    }

    @Test("records are stamped with the store's clock", arguments: backends)
    func clock(backend: Backend) async throws {
        let manual = ManualClock(startMs: 1_795_168_800_000)
        try await withStore(backend, clock: manual.clock) { store in
            let order = try StorageTests.sampleOrder()
            _ = try await store.ingest(order, actor: "test", on: loop).get()
            manual.advance(byMs: 5_000)
            _ = try await record(store, order.id, [Self.event("e1", order.id, "L1", .status(.picked))])
            let history = try #require(try await store.order(order.id, on: loop).get()).history
            #expect(history.map(\.atMs) == [1_795_168_800_000, 1_795_168_805_000])
            #expect(history.last?.event == "FULFILMENT_UPDATED")
        }
    }

    static func event(
        _ id: String,
        _ order: String,
        _ line: String,
        _ kind: FulfilmentEvent.Kind,
        source: String = "warehouse"
    ) -> FulfilmentEvent {
        FulfilmentEvent(source: source, eventID: id, orderID: order, lineID: line, kind: kind, occurredMs: 1, path: "")
    }

    /// Records events as the server does: the domain decides, the store carries it out.
    func record(
        _ store: any StorePort,
        _ orderID: String,
        _ events: [FulfilmentEvent],
        nowMs: Int64 = 1000
    ) async throws -> FulfilmentRecordResult? {
        try await store.recordFulfilment(orderID: orderID, events: events, actor: "warehouse", nowMs: nowMs, on: loop) {
            order,
            pending,
            fresh in
            FulfilmentWrite(
                decision: FulfilmentSettlement.decide(
                    order: order,
                    events: fresh,
                    pending: pending,
                    policy: CancellationPolicy(),
                    nowMs: nowMs
                ),
                notifications: []
            )
        }.get()
    }

    @Test(
        "fulfilment events apply once by (source, event id), in order; shipping consumes on hand and reserved once, wherever the pool lives",
        arguments: backends
    )
    func fulfilment(backend: Backend) async throws {
        try await withStore(backend) { store in
            for (sku, location) in [("MUG-01", "WH-EAST"), ("CAM-01", "WH-EAST"), ("STRAP-01", "WH-EAST")] {
                _ = try await store.setOnHand(sku: sku, location: location, onHand: 10, on: loop).get()
            }
            let order = try StorageTests.sampleOrder()
            _ = try await store.ingest(order, actor: "test", on: loop).get()
            #expect(try await record(store, "web-NOPE", [Self.event("e0", "web-NOPE", "L1", .status(.picked))]) == nil)
            let first = try #require(
                try await record(
                    store,
                    order.id,
                    [
                        Self.event("e1", order.id, "L1", .status(.shipped)),
                        Self.event("e2", order.id, "L1", .status(.picked)),
                        Self.event("e3", order.id, "L2", .status(.shipped)),
                        Self.event("e4", order.id, "L9", .status(.shipped)),
                    ]
                )
            )
            #expect(first.outcomes.map(\.result) == [.applied, .ignored, .applied, .refused])
            #expect(first.order.version == order.version + 2)
            let again = try #require(
                try await record(
                    store,
                    order.id,
                    [
                        Self.event("e1", order.id, "L1", .status(.shipped)),
                        Self.event("e4", order.id, "L9", .status(.shipped)),
                        Self.event("e1", order.id, "L1", .status(.shipped), source: "3pl"),
                    ]
                )
            )
            // Applied and ignored events are kept; a refused one may come again; the key is per source.
            #expect(again.outcomes.map(\.result) == [.duplicate, .refused, .ignored])
            #expect(again.outcomes.first?.orderVersion == order.version + 1 && again.order == first.order)
            try await store.waitForDelivery(on: loop).get()
            for sku in ["MUG-01", "CAM-01", "STRAP-01"] {
                let pool = try #require(try await store.stock(sku: sku, location: "WH-EAST", on: loop).get().first)
                let shipped: Int64 = sku == "MUG-01" ? 2 : 1
                #expect(pool.onHand == 10 - shipped && pool.reserved == 0, "\(sku)")
            }
            let history = try #require(try await store.order(order.id, on: loop).get()).history
            #expect(history.map(\.event) == [HistoryRecord.ingestedEvent, "FULFILMENT_UPDATED", "FULFILMENT_UPDATED"])
            #expect(history.last?.detail == "warehouse event e3")
        }
    }

    @Test("an idempotency key is claimed once; the same request then replays, another is refused", arguments: backends)
    func idempotency(backend: Backend) async throws {
        try await withStore(backend) { store in
            func claim(_ fingerprint: [UInt8]) async throws -> IdempotencyClaim {
                try await store.claimIdempotency(
                    scope: "svc/k1",
                    fingerprint: fingerprint,
                    nowMs: 1000,
                    retentionMs: 60_000,
                    staleAfterMs: 10_000,
                    on: loop
                ).get()
            }
            #expect(try await claim([1]) == .claimed)
            #expect(try await claim([1]) == .inProgress)
            try await store.completeIdempotency(scope: "svc/k1", status: [0], response: [7, 7], nowMs: 1001, on: loop)
                .get()
            #expect(try await claim([1]) == .replay(status: [0], response: [7, 7]))
            #expect(try await claim([2]) == .mismatch)
            #expect(
                try await store.claimIdempotency(
                    scope: "svc/k2",
                    fingerprint: [1],
                    nowMs: 1000,
                    retentionMs: 60_000,
                    staleAfterMs: 10_000,
                    on: loop
                ).get() == .claimed
            )
            try await store.releaseIdempotency(scope: "svc/k2", on: loop).get()
            #expect(
                try await store.claimIdempotency(
                    scope: "svc/k2",
                    fingerprint: [1],
                    nowMs: 1002,
                    retentionMs: 60_000,
                    staleAfterMs: 10_000,
                    on: loop
                ).get() == .claimed
            )
        }
    }

    @Test("dead letters are listed highest priority first across shards, and resolved once", arguments: backends)
    func deadLetters(backend: Backend) async throws {
        try await withStore(backend) { store in
            var ids: [String] = []
            for (index, priority) in [Int64(5), 50, 1, 20].enumerated() {
                ids.append(
                    try await store.addDeadLetter(
                        key: "key-\(index)",
                        kind: "intake",
                        priority: priority,
                        reason: "R",
                        detail: "d",
                        subject: "web",
                        payload: [1, 2],
                        on: loop
                    ).get()
                )
            }
            #expect(try await store.deadLetters(limit: 10, on: loop).get().map(\.priority) == [50, 20, 5, 1])
            try await store.resolveDeadLetter(ids[1], actor: "test", on: loop).get()
            #expect(try await store.deadLetters(limit: 10, on: loop).get().map(\.priority) == [20, 5, 1])
            #expect(try await store.deadLetter(ids[1], on: loop).get() == nil)
            #expect(try await store.deadLetter(ids[0], on: loop).get()?.payload == [1, 2])
        }
    }
}

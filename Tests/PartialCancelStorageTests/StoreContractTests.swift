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
            _ = try await store.updateFulfilment(
                orderID: order.id,
                lineID: "L1",
                status: .picked,
                actor: "warehouse",
                on: loop
            ).get()
            let history = try #require(try await store.order(order.id, on: loop).get()).history
            #expect(history.map(\.atMs) == [1_795_168_800_000, 1_795_168_805_000])
            #expect(history.last?.event == "FULFILMENT_UPDATED")
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

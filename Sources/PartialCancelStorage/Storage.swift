import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PartialCancelDomain

/// Maps keys to shards with a hash that never changes between runs, versions or machines
/// (FNV-1a, 64-bit, over the key's UTF-8): orders by order id, stock by sku.
public struct ShardRouter: Sendable, Hashable {
    public let count: Int

    public init(count: Int) {
        precondition(count >= 1)
        self.count = count
    }

    public static func hash(_ key: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return hash
    }

    public func shard(forOrder id: String) -> Int { Int(Self.hash(id) % UInt64(count)) }
    public func shard(forSKU sku: String) -> Int { Int(Self.hash("sku:" + sku) % UInt64(count)) }
}

/// The sharded store: one SQLite file per shard, each owned by its worker thread (shared-nothing).
/// A change to a stock pool in another shard travels through the sender's outbox, written in the
/// same transaction as its cause, and is applied by the receiving shard exactly once.
public final class Storage: Sendable {
    public static let metaFileName = "pcancel-data.json"

    public let directory: String
    public let configuration: StorageConfiguration
    public let router: ShardRouter
    /// True when this open created the data directory's shards (a first start).
    public let isNew: Bool
    let workers: [ShardWorker]
    let eventLoop: any EventLoop
    let logger: Logger
    /// Per shard: a delivery is running, and whether another pass was asked for meanwhile.
    let delivering: [NIOLockedValueBox<(running: Bool, again: Bool)>]
    /// The watchers of orders and skus, told of every commit.
    let hub: WatchHub
    /// The data directory's exclusive lock, held until `close()`.
    private let lock: DataDirectoryLock
    /// Per shard: why it cannot write (full disk), or nil; kept by the shard, read by Health.
    let fullness: [NIOLockedValueBox<String?>]

    /// The time of day every record and decision of this store is stamped with.
    public let clock: WallClock

    private init(
        directory: String,
        configuration: StorageConfiguration,
        isNew: Bool,
        workers: [ShardWorker],
        hub: WatchHub,
        lock: DataDirectoryLock,
        fullness: [NIOLockedValueBox<String?>],
        eventLoop: any EventLoop,
        logger: Logger,
        clock: WallClock
    ) {
        self.directory = directory
        self.clock = clock
        self.lock = lock
        self.fullness = fullness
        self.hub = hub
        self.isNew = isNew
        self.configuration = configuration
        self.router = ShardRouter(count: workers.count)
        self.workers = workers
        self.eventLoop = eventLoop
        self.logger = logger
        self.delivering = workers.map { _ in NIOLockedValueBox((running: false, again: false)) }
    }

    /// Opens (or creates) the data directory's shards, migrates them, and redelivers any outbox
    /// messages a previous run left undelivered.
    public static func open(
        directory: String,
        configuration: StorageConfiguration,
        eventLoop: any EventLoop,
        logger: Logger,
        clock: WallClock = .system
    ) throws -> Storage {
        guard configuration.shards >= 1, configuration.shards <= 256 else {
            throw StorageError(code: 0, "storage.shards must be 1...256 (got \(configuration.shards))")
        }
        // Private to the server's user (0700), then locked: one server per data directory.
        try DataDirectory.create(directory)
        let lock = try DataDirectoryLock(directory: directory)
        // Earlier versions left files 0644 (and directories 0755): every file becomes 0600.
        for (path, mode) in try DataDirectory.tightenModes(directory) {
            logger.notice("made private", metadata: ["path": "\(path)", "mode.before": "\(String(mode, radix: 8))"])
        }
        let sealer = try TokenSealer.load(
            keyFile: configuration.tokenKeyFile ?? TokenSealer.defaultKeyFile(forDataDirectory: directory),
            dataDirectory: directory
        )
        let isNew = try checkShardCount(directory: directory, configured: configuration.shards)
        var workers: [ShardWorker] = []
        let hub = WatchHub()
        let fullness = (0..<configuration.shards).map { _ in NIOLockedValueBox<String?>(nil) }
        for index in 0..<configuration.shards {
            let path = URL(fileURLWithPath: directory).appendingPathComponent("shard-\(index).sqlite").path
            let store = try ShardStore(
                index: index,
                path: path,
                configuration: configuration,
                hub: hub,
                sealer: sealer,
                fullness: fullness[index],
                now: clock.nowMs
            )
            workers.append(ShardWorker(index: index, store: store, maxGroup: configuration.groupCommitJobs))
        }
        let storage = Storage(
            directory: directory,
            configuration: configuration,
            isNew: isNew,
            workers: workers,
            hub: hub,
            lock: lock,
            fullness: fullness,
            eventLoop: eventLoop,
            logger: logger,
            clock: clock
        )
        for index in workers.indices { storage.deliver(from: index) }
        return storage
    }

    /// The shard count recorded in a data directory; nil when it records none (not a data
    /// directory yet). A record that cannot be read is an error.
    public static func recordedShardCount(directory: String) throws -> Int? {
        let meta = URL(fileURLWithPath: directory).appendingPathComponent(metaFileName)
        guard let data = try? Data(contentsOf: meta) else { return nil }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let shards = object["shards"] as? Int
        else {
            throw StorageError(code: 0, "\(meta.path) is unreadable; it records the data directory's shard count")
        }
        return shards
    }

    /// The shard count is fixed when a data directory is created: orders and stock live where the
    /// router put them, and a different count would look for them elsewhere. Returns true when it
    /// recorded the count now (a new data directory).
    static func checkShardCount(directory: String, configured: Int) throws -> Bool {
        let meta = URL(fileURLWithPath: directory).appendingPathComponent(metaFileName)
        if let shards = try recordedShardCount(directory: directory) {
            guard shards == configured else {
                throw StorageError(
                    code: 0,
                    "data directory \(directory) was created with \(shards) shards, but this server is configured for \(configured); start it with \(shards) shards (storage.shards / --shards)"
                )
            }
            return false
        } else {
            try DataDirectory.writePrivately(Array("{\"shards\": \(configured), \"format\": 1}\n".utf8), to: meta.path)
            return true
        }
    }

    /// Stops the workers after the jobs already queued, then releases the data directory's lock.
    public func close() {
        for worker in workers { worker.stop() }
        lock.release()
    }

    /// Runs `work` on the shard's worker. `durable: false` is for bookkeeping whose loss on a power
    /// failure is repaired by redoing it (see `ShardWorker`).
    func on<T: Sendable>(
        _ shard: Int,
        _ loop: any EventLoop,
        durable: Bool = true,
        _ work: @escaping @Sendable (ShardStore) throws -> T
    ) -> EventLoopFuture<T> {
        workers[shard].submit(on: loop, durable: durable, work)
    }

}

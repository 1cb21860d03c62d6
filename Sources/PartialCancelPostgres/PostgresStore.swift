import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PartialCancelDomain
import PartialCancelStorage
import PostgresNIO

/// The PostgreSQL backend of the storage port (docs/SCALING.md): any number of pcancel nodes on
/// the same databases. One database holds everything; several split the key space by the shard
/// map (orders and what belongs to them by order id, stock by sku, with the same hash as SQLite's
/// shards), and a stock change for another database travels through the outbox of the one whose
/// transaction caused it.
///
/// Correctness comes from the database, never from this process being the only writer: every
/// change to an order (intake, a cancellation's creation and settlement, a fulfilment update, the
/// completion after its stock is back) locks the order's row first, so changes to one order are
/// serialised across nodes and its history is numbered in commit order; stock changes lock their
/// pool and the sku's sequence row; constraints keep one refund per request and stock never
/// below zero. Nothing is cached between calls.
public final class PostgresStore: Sendable {
    let databases: [PostgresDatabase]
    let router: ShardRouter
    let sealer: TokenSealer
    let logger: Logger
    let eventLoop: any EventLoop
    public let clock: WallClock
    public let isNew: Bool
    let configuration: PostgresStoreConfiguration
    let feed: PostgresChangeFeed
    /// Per database: a delivery of its outbox is running, and whether another pass was asked for.
    let delivering: [NIOLockedValueBox<(running: Bool, again: Bool)>]
    private let sweepers: NIOLockedValueBox<[RepeatedTask]>

    private init(
        databases: [PostgresDatabase],
        sealer: TokenSealer,
        configuration: PostgresStoreConfiguration,
        isNew: Bool,
        eventLoop: any EventLoop,
        logger: Logger,
        clock: WallClock
    ) {
        self.databases = databases
        self.router = ShardRouter(count: databases.count)
        self.sealer = sealer
        self.configuration = configuration
        self.isNew = isNew
        self.eventLoop = eventLoop
        self.logger = logger
        self.clock = clock
        self.feed = PostgresChangeFeed(databases: databases, logger: logger)
        self.delivering = databases.map { _ in NIOLockedValueBox((running: false, again: false)) }
        self.sweepers = NIOLockedValueBox([])
    }

    /// Connects to the databases, migrates each (once, whichever node comes first), and starts
    /// listening for other nodes' changes. Blocks until the migrations are done: call it off the
    /// event loops.
    public static func open(
        configuration: PostgresStoreConfiguration,
        tokenKeyFile: String,
        dataDirectory: String,
        eventLoop: any EventLoop,
        logger: Logger,
        clock: WallClock = .system
    ) throws -> PostgresStore {
        try open(
            configuration: configuration,
            sealer: try TokenSealer.load(keyFile: tokenKeyFile, dataDirectory: dataDirectory),
            eventLoop: eventLoop,
            logger: logger,
            clock: clock
        )
    }

    /// Opens the store with `sealer` for the tokens it keeps (an ephemeral one when the caller
    /// reads no token, as the audit).
    public static func open(
        configuration: PostgresStoreConfiguration,
        sealer: TokenSealer,
        eventLoop: any EventLoop,
        logger: Logger,
        clock: WallClock = .system
    ) throws -> PostgresStore {
        guard !configuration.urls.isEmpty else {
            throw StorageError(code: 0, "storage.postgres names no database; give one URL per database server")
        }
        guard configuration.urls.count <= 256 else {
            throw StorageError(code: 0, "storage.postgres names \(configuration.urls.count) databases; at most 256")
        }
        let addresses = try configuration.urls.map(PostgresAddress.init(url:))
        var isNew = false
        for (index, address) in addresses.enumerated() {
            let probe = PostgresDatabase(index: index, address: address, connections: 1, logger: logger)
            defer { probe.close() }
            let connection = try probe.connectDirectly(on: eventLoop)
            defer { try? connection.close().wait() }
            let applied = try PostgresSchema.migrate(
                connection,
                database: probe.name,
                now: clock.nowMs(),
                logger: logger
            )
            if applied.first == 1 { isNew = true }
            try PostgresSchema.checkShardMap(
                connection,
                database: probe.name,
                index: index,
                count: addresses.count,
                logger: logger
            )
            if !applied.isEmpty {
                logger.notice("migrated", metadata: ["database": "\(probe.name)", "versions": "\(applied)"])
            }
        }
        let databases = addresses.enumerated().map { index, address in
            PostgresDatabase(index: index, address: address, connections: configuration.connections, logger: logger)
        }
        let store = PostgresStore(
            databases: databases,
            sealer: sealer,
            configuration: configuration,
            isNew: isNew,
            eventLoop: eventLoop,
            logger: logger,
            clock: clock
        )
        store.feed.start { [weak store] key, after in
            guard let store else { return [] }
            return try await store.changes(key, after: after)
        }
        store.startSweeping()
        return store
    }

    /// Stops listening and delivering, and closes the pools.
    public func close() {
        sweepers.withLockedValue { tasks in for task in tasks { task.cancel() } }
        feed.stop()
        for database in databases { database.close() }
    }

    /// Every `sweepIntervalMs`, delivers what any node left in an outbox (a node that died between
    /// its commit and its delivery); every minute, forgets wrong-token counts past their retention.
    private func startSweeping() {
        var tasks: [RepeatedTask] = []
        if databases.count > 1 {
            let interval = TimeAmount.milliseconds(configuration.sweepIntervalMs)
            tasks.append(
                eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [weak self] _ in
                    guard let self else { return }
                    for index in self.databases.indices { self.deliver(from: index) }
                }
            )
        }
        tasks.append(
            eventLoop.scheduleRepeatedTask(initialDelay: .minutes(1), delay: .minutes(1)) { [weak self] _ in
                guard let self else { return }
                Task {
                    do { try await self.forgetOldTokenFailures() } catch {
                        self.logger.warning("forgetting old wrong-token counts failed", metadata: ["error": "\(error)"])
                    }
                }
            }
        )
        sweepers.withLockedValue { $0 = tasks }
    }

    func database(forOrder id: String) -> PostgresDatabase { databases[router.shard(forOrder: id)] }
    func database(forSKU sku: String) -> PostgresDatabase { databases[router.shard(forSKU: sku)] }

    /// Runs `work` as a task and hands its result to `loop`.
    func future<T: Sendable>(
        on loop: any EventLoop,
        _ work: @escaping @Sendable () async throws -> T
    ) -> EventLoopFuture<T> {
        loop.makeFutureWithTask(work)
    }

    public var shardCount: Int { databases.count }

    /// Parses the ids of per-database rows, `PREFIX-DATABASE-N` (dead letters, emails).
    func address(_ id: String, prefix: String) -> (database: PostgresDatabase, row: Int64)? {
        let parts = id.split(separator: "-")
        guard parts.count == 3, parts[0] == prefix, let index = Int(parts[1]), let row = Int64(parts[2]),
            databases.indices.contains(index)
        else { return nil }
        return (databases[index], row)
    }
}

/// The PostgreSQL backend's settings (`storage.postgres`, `storage.postgres_connections`, …).
public struct PostgresStoreConfiguration: Sendable, Hashable {
    /// One URL per database server: `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`. More than
    /// one is a shard map: orders by order id, stock by sku. Fixed once data is stored.
    public var urls: [String]
    /// Connections each node keeps at most to each database.
    public var connections: Int = 8
    /// How often a node delivers what any node left in an outbox (shard maps only).
    public var sweepIntervalMs: Int64 = 1000
    /// Stock messages delivered per batch.
    public var deliveryBatch: Int = 256
    /// How long a caller's wrong-token count is kept after its window started: longer than any
    /// window (`limits.token_failure_window_ms`) that is configured.
    public var tokenFailureRetentionMs: Int64 = 86_400_000
    /// Which webhook subscriptions get which events (docs/EVENTS.md).
    public var eventRoutes = EventRoutes()

    public init(urls: [String]) { self.urls = urls }
}

extension PostgresStore {
    /// Opens the store a server's `storage` settings name (`storage.backend` postgres): its
    /// databases, and the token key (`storage.token_key_file`, which every node must share;
    /// by default beside the node's data directory).
    public static func open(
        storage: StorageConfiguration,
        dataDirectory: String,
        eventLoop: any EventLoop,
        logger: Logger,
        clock: WallClock
    ) throws -> PostgresStore {
        var configuration = PostgresStoreConfiguration(urls: storage.postgresURLs)
        configuration.connections = storage.postgresConnections
        configuration.deliveryBatch = storage.deliveryBatch
        configuration.eventRoutes = storage.eventRoutes
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        return try open(
            configuration: configuration,
            tokenKeyFile: storage.tokenKeyFile ?? TokenSealer.defaultKeyFile(forDataDirectory: dataDirectory),
            dataDirectory: dataDirectory,
            eventLoop: eventLoop,
            logger: logger,
            clock: clock
        )
    }
}

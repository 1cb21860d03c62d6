import Foundation
import PartialCancelDomain

/// How durable a commit is. FULL (the default, for money and stock) syncs the WAL on every
/// commit; NORMAL syncs only at checkpoints and can lose the last commits on power loss.
public enum Synchronous: String, Sendable, CaseIterable {
    case full = "FULL"
    case normal = "NORMAL"
}

/// Where the server keeps its state (`storage.backend`).
public enum StorageBackend: String, Sendable, CaseIterable {
    /// SQLite shards in the data directory (the embedded default, one node).
    case sqlite
    /// PostgreSQL (`storage.postgres`): any number of nodes on the same databases.
    case postgres
}

/// Storage settings; each is named in the config file under `storage`.
public struct StorageConfiguration: Sendable, Hashable {
    /// Shard count (default: number of cores). Recorded in the data directory on first start.
    public var shards: Int = ProcessInfo.processInfo.activeProcessorCount
    public var synchronous: Synchronous = .full
    /// WAL size, in pages, above which the shard checkpoints when it has nothing else to do.
    /// SQLite's automatic checkpoint is off: it would run inside a request's commit.
    public var checkpointPages: Int = 1000
    /// Outbox messages delivered per batch.
    public var deliveryBatch: Int = 256
    /// Decoded orders, and decoded cancellation requests, each shard keeps in memory (0: none).
    /// Bounds memory whatever the number of orders stored.
    public var cachedBodies: Int = 4096
    /// Most jobs one group commit covers: the jobs waiting on a shard run in one transaction (each
    /// under a savepoint) and share one commit. 1 turns group commit off.
    public var groupCommitJobs: Int = 64
    /// The key that seals confirmation tokens at rest (`storage.token_key_file`); nil: the data
    /// directory's path plus `.token-key`, beside it. Never inside the data directory.
    public var tokenKeyFile: String? = nil
    /// `sqlite` (default) or `postgres`.
    public var backend: StorageBackend = .sqlite
    /// For `postgres`: one URL per database server, `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`;
    /// more than one splits orders (by id) and stock (by sku) over them. Fixed once data is stored.
    public var postgresURLs: [String] = []
    /// For `postgres`: connections each node keeps at most to each database.
    public var postgresConnections: Int = 8
    /// Which webhook subscriptions get which events: each event is written to the event outbox in
    /// the transaction of the change that causes it (docs/EVENTS.md). Empty: none is written.
    public var eventRoutes = EventRoutes()

    public init() {}
}

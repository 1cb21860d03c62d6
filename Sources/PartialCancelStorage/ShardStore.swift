import CSQLite
import Crypto
import Foundation
import NIOConcurrencyHelpers
import PartialCancelDomain

final class ShardStore {
    let index: Int
    let db: SQLiteConnection
    let configuration: StorageConfiguration
    let now: @Sendable () -> Int64
    /// Pages in the WAL after the last commit, as SQLite's WAL hook reports them.
    private let walPages = WALPages()
    let orders: BodyCache<Order>
    let requests: BodyCache<CancellationRequest>
    /// Changes of the open transaction, handed to the watchers when it commits.
    var changes = PendingChanges()
    private let hub: WatchHub
    /// Seals the confirmation tokens of stored customer messages.
    let sealer: TokenSealer
    /// Why the shard cannot write (its last write failed for lack of space), or nil. Set by a
    /// failed write, cleared by the next commit that writes; shared with `Storage` for Health.
    let fullness: NIOLockedValueBox<String?>

    init(
        index: Int,
        path: String,
        configuration: StorageConfiguration,
        hub: WatchHub = WatchHub(),
        sealer: TokenSealer = .ephemeral(),
        fullness: NIOLockedValueBox<String?> = NIOLockedValueBox(nil),
        now: @escaping @Sendable () -> Int64
    ) throws {
        self.index = index
        self.hub = hub
        self.sealer = sealer
        self.fullness = fullness
        self.configuration = configuration
        self.now = now
        orders = BodyCache(capacity: configuration.cachedBodies)
        requests = BodyCache(capacity: configuration.cachedBodies)
        db = try SQLiteConnection(path: path)
        try db.execute(
            """
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = \(configuration.synchronous.rawValue);
            PRAGMA foreign_keys = ON;
            PRAGMA wal_autocheckpoint = 0;
            PRAGMA busy_timeout = 5000;
            """
        )
        _ = try Migrations.migrate(db, now: now())
        try runOnce("dead letter hashes") { try backfillDeadLetterHashes() }
        try runOnce("seal plaintext tokens") { try sealLegacyTokens() }
        sqlite3_wal_hook(
            db.handle,
            { context, _, _, pages in
                Unmanaged<WALPages>.fromOpaque(context!).takeUnretainedValue().pages = Int(pages)
                return SQLITE_OK
            },
            Unmanaged.passUnretained(walPages).toOpaque()
        )
    }

    /// Runs a data step unless it completed before, then records it. A step is idempotent (it
    /// selects what still needs it), so a crash between the step and the record repeats it harmlessly.
    private func runOnce(_ name: String, _ step: () throws -> Void) throws {
        guard try db.first("SELECT 1 FROM completed_steps WHERE name = ?1", [.text(name)], { _ in true }) == nil else {
            return
        }
        try step()
        _ = try db.run(
            "INSERT INTO completed_steps (name, completed_ms) VALUES (?1, ?2)",
            [.text(name), .integer(now())]
        )
    }

    /// Called when the queue is empty: truncates the WAL once it has grown past the configured size,
    /// so that checkpoint work happens between requests, never inside a commit. The size comes from
    /// SQLite's WAL hook (pages after each commit); measuring it costs nothing.
    func idle() {
        guard walPages.pages > configuration.checkpointPages else { return }
        _ = try? db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        walPages.pages = 0
    }

    func close() {
        _ = try? db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    }

    /// Whether commits sync the WAL now (FULL) or leave it to the next sync (NORMAL).
    private var syncingCommits: Bool?

    /// Under `synchronous=FULL`, chooses FULL or NORMAL for the next commits (see `ShardWorker`).
    /// Under NORMAL, every commit is NORMAL anyway.
    func commitDurably(_ durable: Bool) {
        let wanted = durable && configuration.synchronous == .full
        guard wanted != syncingCommits else { return }
        do {
            try db.execute(wanted ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL")
            syncingCommits = wanted
        } catch {
            syncingCommits = nil  // unknown: set it again next time
        }
    }

    /// Runs `body` atomically (a transaction, or a savepoint inside one); the body caches follow.
    @discardableResult
    func transaction<T>(_ body: () throws -> T) throws -> T {
        orders.begin()
        requests.begin()
        changes.begin()
        let outermost = db.transactionDepth == 0
        let changesBefore = outermost ? db.totalChanges : 0
        do {
            let result = try db.transaction(body)
            orders.commit()
            requests.commit()
            publish(changes.commit())
            // A commit that wrote: the shard has space (again).
            if outermost && db.totalChanges != changesBefore { fullness.withLockedValue { $0 = nil } }
            return result
        } catch {
            orders.rollback()
            requests.rollback()
            changes.rollback()
            if let storageError = error as? StorageError, storageError.isStorageFull {
                fullness.withLockedValue { $0 = "shard \(index) cannot write: storage is full (\(storageError))" }
            }
            throw error
        }
    }

    /// Rewrites the storage probe's row: the write that finds out whether a shard that ran out of
    /// space can write again (Health runs it while the shard is marked full).
    func probeWrite() throws {
        try db.run("UPDATE storage_probe SET at_ms = ?1 WHERE id = 1", [.integer(now())])
    }

    /// Why the shard cannot write, or nil.
    var storageFull: String? { fullness.withLockedValue { $0 } }

    /// Hands committed changes to their watchers. The last history entry of each watched order
    /// carries the order as committed.
    private func publish(_ committed: [ChangeEvent]) {
        guard !committed.isEmpty else { return }
        var events = hub.watched(committed)
        guard !events.isEmpty else { return }
        var seen: Set<String> = []
        for index in events.indices.reversed() {
            guard case .order(let id, let entry, let seq, nil) = events[index], seen.insert(id).inserted else {
                continue
            }
            events[index] = .order(id: id, entry: entry, seq: seq, order: try? order(id))
        }
        hub.publish(events)
    }

}

/// The WAL hook's counter. The store keeps it alive as long as the connection; only the worker
/// thread (inside commits and `idle`) touches it.
final class WALPages {
    var pages = 0
}

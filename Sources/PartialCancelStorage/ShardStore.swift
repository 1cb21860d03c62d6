import CSQLite
import Crypto
import Foundation
import NIOConcurrencyHelpers
import PartialCancelDomain

/// How durable a commit is. FULL (the default, for money and stock) syncs the WAL on every
/// commit; NORMAL syncs only at checkpoints and can lose the last commits on power loss.
public enum Synchronous: String, Sendable, CaseIterable {
    case full = "FULL"
    case normal = "NORMAL"
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

    public init() {}
}

/// A cross-shard message as stored in the outbox.
struct OutboxMessage: Sendable {
    var seq: Int64
    var messageID: String
    var destination: Int
    var change: StockChange
}

/// A dead letter: a refused intake payload or an email given up on.
public struct DeadLetter: Sendable, Hashable {
    /// `dl-SHARD-N`.
    public var id: String
    public var kind: String
    public var priority: Int64
    public var reason: String
    public var detail: String
    /// What it is about, e.g. `web` or an order id.
    public var subject: String
    /// The payload bytes read: all of them for a redrive, the first bytes for a list.
    public var payload: [UInt8]
    public var attempts: Int64
    public var createdMs: Int64
    public var updatedMs: Int64
    /// The whole payload's size and lower-case hex SHA-256.
    public var payloadBytes: Int64 = 0
    public var payloadSHA256: String = ""
    /// OPEN, REDRIVEN or DISCARDED.
    public var state: String = "OPEN"
    public var resolvedMs: Int64 = 0
    public var shard: Int = 0
    public var row: Int64 = 0

    /// Where it stands in the list order, for paging.
    public var position: DeadLetterPosition {
        DeadLetterPosition(priority: priority, createdMs: createdMs, shard: shard, row: row)
    }
}

/// A place in the list order of open dead letters: priority (highest first), then oldest, then
/// shard and row. A page continues after the position of its predecessor's last letter.
public struct DeadLetterPosition: Sendable, Hashable {
    public var priority: Int64
    public var createdMs: Int64
    public var shard: Int
    public var row: Int64

    public init(priority: Int64, createdMs: Int64, shard: Int, row: Int64) {
        self.priority = priority
        self.createdMs = createdMs
        self.shard = shard
        self.row = row
    }

    /// Whether `self` comes before `other` in the list.
    public func precedes(_ other: DeadLetterPosition) -> Bool {
        (-priority, createdMs, shard, row) < (-other.priority, other.createdMs, other.shard, other.row)
    }
}

/// One entry of a dead letter's history.
public struct DeadLetterEvent: Sendable, Hashable {
    public var atMs: Int64
    public var actor: String
    public var event: String
    public var detail: String
}

/// What discarding a dead letter found.
public enum DeadLetterDiscard: Sendable, Hashable {
    case discarded(DeadLetter)
    /// Redriven or discarded before: nothing changed.
    case alreadyResolved(DeadLetter)
    case notFound
}

/// An email waiting in a shard's outbox.
public struct OutboundEmail: Sendable, Hashable {
    /// `e-SHARD-N`.
    public var id: String
    var rowID: Int64
    public var recipient: String
    public var subject: String
    public var body: String
    public var cancellationID: String
    /// Attempts made so far.
    public var attempts: Int
    public var createdMs: Int64
}

/// What a call with an idempotency key finds.
public enum IdempotencyClaim: Sendable, Hashable {
    /// First use of the key: run the call, then complete or release the claim.
    case claimed
    /// The same request was answered before: its stored status and response.
    case replay(status: [UInt8], response: [UInt8])
    /// The key was used with a different request.
    case mismatch
    /// The same request is running right now.
    case inProgress
}

/// A portal notification as stored: its id (`n-SHARD-N`) and time.
public struct StoredNotification: Sendable, Hashable {
    public var id: String
    public var createdMs: Int64
    public var notification: PortalNotification
}

/// One shard's database: everything done with one SQLite connection. Used only on its worker's thread.
final class ShardStore {
    let index: Int
    private let db: SQLiteConnection
    private let configuration: StorageConfiguration
    let now: @Sendable () -> Int64
    /// Pages in the WAL after the last commit, as SQLite's WAL hook reports them.
    private let walPages = WALPages()
    private let orders: BodyCache<Order>
    private let requests: BodyCache<CancellationRequest>
    /// Changes of the open transaction, handed to the watchers when it commits.
    private var changes = PendingChanges()
    private let hub: WatchHub
    /// Seals the confirmation tokens of stored customer messages.
    private let sealer: TokenSealer
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

    // MARK: Orders

    func order(_ id: String) throws -> Order? {
        if let cached = orders.value(id) { return cached }
        guard let body = try db.first("SELECT body FROM orders WHERE id = ?1", [.text(id)], { $0.blob(0) }) else {
            return nil
        }
        let order = try BodyCodec.decode(Order.self, from: body)
        orders.read(id, order)
        return order
    }

    func insert(_ order: Order) throws {
        let time = now()
        try db.run(
            """
            INSERT INTO orders (id, channel, external_id, account_id, status, version, total, body, created_ms, updated_ms)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)
            """,
            [
                .text(order.id), .text(order.channel), .text(order.externalID), .text(order.account.id),
                .text(order.status.rawValue),
                .integer(order.version), .integer(order.totals.total), .blob(try BodyCodec.encode(order)),
                .integer(time),
            ]
        )
        orders.wrote(order.id, order)
    }

    /// Appends an entry to an order's history (numbered after the last) and records it for the
    /// order's watchers.
    func appendHistory(
        orderID: String,
        actor: String,
        event: String,
        subject: String,
        from: String = "",
        to: String,
        detail: String = ""
    ) throws {
        let time = now()
        let seq =
            try db.first(
                """
                INSERT INTO order_history (order_id, seq, at_ms, actor, event, detail, subject, from_state, to_state)
                VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM order_history WHERE order_id = ?1), ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                RETURNING seq
                """,
                [
                    .text(orderID), .integer(time), .text(actor), .text(event), .text(detail), .text(subject),
                    .text(from), .text(to),
                ]
            ) { $0.int(0) } ?? 0
        changes.record(
            .order(
                id: orderID,
                entry: HistoryEntry(
                    seq: seq,
                    atMs: time,
                    actor: actor,
                    event: event,
                    subject: subject,
                    from: from,
                    to: to,
                    detail: detail
                ),
                seq: seq,
                order: nil
            )
        )
    }

    /// An order's history entries after `seq`, oldest first.
    func history(_ orderID: String, after seq: Int64 = 0) throws -> [HistoryEntry] {
        var entries: [HistoryEntry] = []
        try db.query(
            """
            SELECT seq, at_ms, actor, event, subject, from_state, to_state, detail FROM order_history
            WHERE order_id = ?1 AND seq > ?2 ORDER BY seq
            """,
            [.text(orderID), .integer(seq)]
        ) { row in
            entries.append(
                HistoryEntry(
                    seq: row.int(0),
                    atMs: row.int(1),
                    actor: row.text(2),
                    event: row.text(3),
                    subject: row.text(4),
                    from: row.text(5),
                    to: row.text(6),
                    detail: row.text(7)
                )
            )
        }
        return entries
    }

    /// The sequence number of an order's last history entry (0: none).
    func lastHistorySeq(_ orderID: String) throws -> Int64 {
        try db.first("SELECT COALESCE(MAX(seq), 0) FROM order_history WHERE order_id = ?1", [.text(orderID)]) {
            $0.int(0)
        } ?? 0
    }

    func allOrders() throws -> [Order] {
        var bodies: [[UInt8]] = []
        try db.query("SELECT body FROM orders ORDER BY id") { bodies.append($0.blob(0)) }
        return try bodies.map { try BodyCodec.decode(Order.self, from: $0) }
    }

    func allStock() throws -> [StockPool] {
        var pools: [StockPool] = []
        try db.query("SELECT sku, location, on_hand, reserved FROM stock ORDER BY sku, location") { row in
            pools.append(StockPool(sku: row.text(0), location: row.text(1), onHand: row.int(2), reserved: row.int(3)))
        }
        return pools
    }

    var orderCount: Int64 { (try? db.first("SELECT COUNT(*) FROM orders") { $0.int(0) }) ?? 0 }

    // MARK: Cancellation requests

    /// An order's requests in one query: decoded ones come from the cache, the others are decoded once.
    func cancellationRequests(orderID: String) throws -> [CancellationRequest] {
        var rows: [(id: String, body: [UInt8])] = []
        try db.query("SELECT id, body FROM cancellation_requests WHERE order_id = ?1 ORDER BY number", [.text(orderID)])
        { rows.append(($0.text(0), $0.blob(1))) }
        return try rows.map { row in
            if let cached = requests.value(row.id) { return cached }
            let request = try BodyCodec.decode(CancellationRequest.self, from: row.body)
            requests.read(row.id, request)
            return request
        }
    }

    func cancellationRequest(_ id: String) throws -> (request: CancellationRequest, tokenHash: [UInt8])? {
        if let cached = requests.value(id) {
            guard
                let hash = try db.first(
                    "SELECT token_sha256 FROM cancellation_requests WHERE id = ?1",
                    [.text(id)],
                    { $0.blob(0) }
                )
            else { return nil }
            return (cached, hash)
        }
        guard
            let (body, hash) = try db.first(
                "SELECT body, token_sha256 FROM cancellation_requests WHERE id = ?1",
                [.text(id)],
                { ($0.blob(0), $0.blob(1)) }
            )
        else {
            return nil
        }
        let request = try BodyCodec.decode(CancellationRequest.self, from: body)
        requests.read(id, request)
        return (request, hash)
    }

    func nextCancellationNumber(orderID: String) throws -> Int {
        Int(
            try db.first(
                "SELECT COALESCE(MAX(number), 0) + 1 FROM cancellation_requests WHERE order_id = ?1",
                [.text(orderID)]
            ) { $0.int(0) } ?? 1
        )
    }

    func insert(_ request: CancellationRequest, number: Int, tokenHash: [UInt8]) throws {
        try db.run(
            """
            INSERT INTO cancellation_requests (id, order_id, number, state, token_sha256, body, created_ms, updated_ms)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
            """,
            [
                .text(request.id), .text(request.orderID), .integer(Int64(number)),
                .text(request.lifecycle.state.rawValue), .blob(tokenHash),
                .blob(try BodyCodec.encode(request)), .integer(request.createdMs),
            ]
        )
        requests.wrote(request.id, request)
    }

    func update(_ request: CancellationRequest) throws {
        let changed = try db.run(
            "UPDATE cancellation_requests SET state = ?2, body = ?3, updated_ms = ?4 WHERE id = ?1",
            [
                .text(request.id), .text(request.lifecycle.state.rawValue), .blob(try BodyCodec.encode(request)),
                .integer(request.updatedMs),
            ]
        )
        if changed > 0 { requests.wrote(request.id, request) }
    }

    func update(_ order: Order) throws {
        let changed = try db.run(
            "UPDATE orders SET status = ?2, version = ?3, total = ?4, body = ?5, updated_ms = ?6 WHERE id = ?1",
            [
                .text(order.id), .text(order.status.rawValue), .integer(order.version), .integer(order.totals.total),
                .blob(try BodyCodec.encode(order)), .integer(now()),
            ]
        )
        if changed > 0 { orders.wrote(order.id, order) }
    }

    func insert(_ refund: Refund) throws {
        try db.run(
            """
            INSERT INTO refunds (refund_id, cancellation_id, order_id, amount, currency, body, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
            """,
            [
                .text(refund.refundID), .text(refund.cancellationID), .text(refund.orderID), .integer(refund.amount),
                .text(refund.currency),
                .blob(try BodyCodec.encode(refund)), .integer(refund.createdMs),
            ]
        )
    }

    func refund(cancellationID: String) throws -> Refund? {
        try db.first("SELECT body FROM refunds WHERE cancellation_id = ?1", [.text(cancellationID)]) { $0.blob(0) }
            .map { try BodyCodec.decode(Refund.self, from: $0) }
    }

    func refunds(orderID: String) throws -> [Refund] {
        var bodies: [[UInt8]] = []
        try db.query("SELECT body FROM refunds WHERE order_id = ?1 ORDER BY created_ms, refund_id", [.text(orderID)]) {
            bodies.append($0.blob(0))
        }
        return try bodies.map { try BodyCodec.decode(Refund.self, from: $0) }
    }

    /// Cancellation ids whose stock releases still wait in this shard's outbox.
    func cancellationsAwaitingRelease(_ ids: Set<String>) throws -> Set<String> {
        var waiting = Set<String>()
        for id in ids {
            let pending =
                try db.first(
                    "SELECT 1 FROM outbox WHERE delivered_ms IS NULL AND message_id >= ?1 AND message_id < ?2",
                    [.text(id + "/release/"), .text(id + "/release0")]
                ) { _ in true } ?? false
            if pending { waiting.insert(id) }
        }
        return waiting
    }

    // MARK: Idempotency keys

    func claimIdempotency(
        scope: String,
        fingerprint: [UInt8],
        nowMs: Int64,
        retentionMs: Int64,
        staleAfterMs: Int64
    ) throws -> IdempotencyClaim {
        try transaction {
            try db.run("DELETE FROM idempotency_keys WHERE created_ms < ?1", [.integer(nowMs - retentionMs)])
            let existing = try db.first(
                "SELECT fingerprint, completed, status, response, created_ms FROM idempotency_keys WHERE scope = ?1",
                [.text(scope)]
            ) {
                ($0.blob(0), $0.int(1) != 0, $0.blob(2), $0.blob(3), $0.int(4))
            }
            guard let (stored, completed, status, response, created) = existing else {
                try db.run(
                    "INSERT INTO idempotency_keys (scope, fingerprint, created_ms) VALUES (?1, ?2, ?3)",
                    [.text(scope), .blob(fingerprint), .integer(nowMs)]
                )
                return .claimed
            }
            guard stored == fingerprint else { return .mismatch }
            if completed { return .replay(status: status, response: response) }
            // A claim whose call never finished (the server died): take it over.
            if nowMs - created > staleAfterMs {
                try db.run(
                    "UPDATE idempotency_keys SET created_ms = ?2 WHERE scope = ?1",
                    [.text(scope), .integer(nowMs)]
                )
                return .claimed
            }
            return .inProgress
        }
    }

    func completeIdempotency(scope: String, status: [UInt8], response: [UInt8], nowMs: Int64) throws {
        try db.run(
            "UPDATE idempotency_keys SET completed = 1, status = ?2, response = ?3, completed_ms = ?4 WHERE scope = ?1",
            [.text(scope), .blob(status), .blob(response), .integer(nowMs)]
        )
    }

    func releaseIdempotency(scope: String) throws {
        try db.run("DELETE FROM idempotency_keys WHERE scope = ?1 AND completed = 0", [.text(scope)])
    }

    // MARK: Portal inbox

    /// Stores a customer message in the portal inbox and, with an email address, the email outbox.
    /// A confirmation token never reaches the database in plaintext: the bodies hold
    /// `TokenSealer.sealedMarker` in its place and each row the token sealed for that row.
    func add(_ notification: PortalNotification) throws {
        let time = now()
        let body = notification.token.map { TokenSealer.storedBody(notification.body, token: $0) } ?? notification.body
        let inboxToken =
            try notification.token.map {
                SQLValue.blob(try sealer.seal($0, context: Self.inboxContext(notification.cancellationID)))
            } ?? .null
        try db.run(
            """
            INSERT INTO portal_inbox (account_id, cancellation_id, kind, subject, body, created_ms, token_sealed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
            """,
            [
                .text(notification.accountID), .text(notification.cancellationID), .text(notification.kind),
                .text(notification.subject),
                .text(body), .integer(time), inboxToken,
            ]
        )
        if !notification.email.isEmpty {
            let emailToken =
                try notification.token.map {
                    SQLValue.blob(try sealer.seal($0, context: Self.emailContext(notification.cancellationID)))
                } ?? .null
            try db.run(
                """
                INSERT INTO email_outbox (recipient, subject, body, cancellation_id, state, attempts, next_attempt_ms, last_error, created_ms, token_sealed)
                VALUES (?1, ?2, ?3, ?4, 'PENDING', 0, ?5, '', ?5, ?6)
                """,
                [
                    .text(notification.email), .text(notification.subject), .text(body),
                    .text(notification.cancellationID), .integer(time), emailToken,
                ]
            )
        }
    }

    /// What a sealed token is bound to: its table and cancellation (AES-GCM's authenticated data).
    static func inboxContext(_ cancellationID: String) -> String { "portal_inbox:" + cancellationID }
    static func emailContext(_ cancellationID: String) -> String { "email_outbox:" + cancellationID }

    /// The body as the customer sees it: the sealed token opened and put back in place.
    private func shownBody(_ row: Row, body: Int32, sealed: Int32, context: String) -> String {
        let stored = row.text(body)
        guard !row.isNull(sealed) else { return stored }
        return TokenSealer.shownBody(stored, token: sealer.open(row.blob(sealed), context: context))
    }

    /// Rows written before tokens were sealed (schema 6 and earlier) hold `Token: <64 hex>` in
    /// their bodies: seal those of unsent emails and of the inbox, drop those of sent emails, then
    /// overwrite the freed bytes (secure_delete) and empty the WAL, so that no old copy remains.
    private func sealLegacyTokens() throws {
        let pattern = "Token: "
        // A token of 64 lowercase hex digits, as ConfirmationToken writes it.
        let glob = "*" + pattern + String(repeating: "[0-9a-f]", count: 64) + "*"
        var inbox: [(id: Int64, cancellationID: String, body: String)] = []
        try db.query(
            "SELECT id, cancellation_id, body FROM portal_inbox WHERE token_sealed IS NULL AND body GLOB ?1",
            [.text(glob)]
        ) {
            inbox.append(($0.int(0), $0.text(1), $0.text(2)))
        }
        var emails: [(id: Int64, cancellationID: String, body: String, sent: Bool)] = []
        try db.query(
            "SELECT id, cancellation_id, body, state != 'PENDING' AND state != 'DEAD' FROM email_outbox WHERE token_sealed IS NULL AND body GLOB ?1",
            [.text(glob)]
        ) { emails.append(($0.int(0), $0.text(1), $0.text(2), $0.int(3) != 0)) }
        guard !inbox.isEmpty || !emails.isEmpty else { return }
        func token(in body: String) -> String? {
            guard let range = body.range(of: #"Token: [0-9a-f]{64}"#, options: .regularExpression) else { return nil }
            return String(body[range].dropFirst(pattern.count))
        }
        try db.execute("PRAGMA secure_delete = ON")
        defer { _ = try? db.execute("PRAGMA secure_delete = OFF") }
        try db.transaction {
            for row in inbox {
                guard let token = token(in: row.body) else { continue }
                try db.run(
                    "UPDATE portal_inbox SET body = ?2, token_sealed = ?3 WHERE id = ?1",
                    [
                        .integer(row.id), .text(TokenSealer.storedBody(row.body, token: token)),
                        .blob(try sealer.seal(token, context: Self.inboxContext(row.cancellationID))),
                    ]
                )
            }
            for row in emails {
                guard let token = token(in: row.body) else { continue }
                if row.sent {
                    let body = TokenSealer.storedBody(row.body, token: token).replacingOccurrences(
                        of: TokenSealer.sealedMarker,
                        with: TokenSealer.removedMarker
                    )
                    try db.run("UPDATE email_outbox SET body = ?2 WHERE id = ?1", [.integer(row.id), .text(body)])
                } else {
                    try db.run(
                        "UPDATE email_outbox SET body = ?2, token_sealed = ?3 WHERE id = ?1",
                        [
                            .integer(row.id), .text(TokenSealer.storedBody(row.body, token: token)),
                            .blob(try sealer.seal(token, context: Self.emailContext(row.cancellationID))),
                        ]
                    )
                }
            }
        }
        try db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    }

    // MARK: Email outbox

    func dueEmails(nowMs: Int64, limit: Int) throws -> [OutboundEmail] {
        var emails: [OutboundEmail] = []
        try db.query(
            """
            SELECT id, recipient, subject, body, cancellation_id, attempts, created_ms, token_sealed FROM email_outbox
            WHERE state = 'PENDING' AND next_attempt_ms <= ?1 ORDER BY next_attempt_ms, id LIMIT ?2
            """,
            [.integer(nowMs), .integer(Int64(limit))]
        ) { row in
            let cancellationID = row.text(4)
            emails.append(
                OutboundEmail(
                    id: "e-\(index)-\(row.int(0))",
                    rowID: row.int(0),
                    recipient: row.text(1),
                    subject: row.text(2),
                    body: shownBody(row, body: 3, sealed: 7, context: Self.emailContext(cancellationID)),
                    cancellationID: cancellationID,
                    attempts: Int(row.int(5)),
                    createdMs: row.int(6)
                )
            )
        }
        return emails
    }

    /// Marks an email sent and drops its token: the stored copy keeps `TokenSealer.removedMarker`.
    func emailSent(rowID: Int64) throws {
        try db.run(
            """
            UPDATE email_outbox SET state = 'SENT', attempts = attempts + 1, sent_ms = ?2, token_sealed = NULL, body = replace(body, ?3, ?4) WHERE id = ?1
            """,
            [.integer(rowID), .integer(now()), .text(TokenSealer.sealedMarker), .text(TokenSealer.removedMarker)]
        )
    }

    func emailFailed(rowID: Int64, error: String, nextAttemptMs: Int64) throws {
        try db.run(
            "UPDATE email_outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_ms = ?3 WHERE id = ?1",
            [.integer(rowID), .text(error), .integer(nextAttemptMs)]
        )
    }

    func emailDead(_ email: OutboundEmail, error: String) throws {
        try transaction {
            try db.run(
                "UPDATE email_outbox SET state = 'DEAD', attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
                [.integer(email.rowID), .text(error)]
            )
            _ = try addDeadLetter(
                kind: "notification",
                priority: 0,
                reason: "DELIVERY_FAILED",
                detail: "\(email.attempts + 1) attempts; last error: \(error)",
                subject: email.id,
                payload: Array("To: \(email.recipient)\nSubject: \(email.subject)".utf8)
            )
        }
    }

    /// Puts a dead email back in the queue, for a redrive.
    func reviveEmail(rowID: Int64) throws -> Bool {
        try db.run(
            "UPDATE email_outbox SET state = 'PENDING', attempts = 0, next_attempt_ms = ?2 WHERE id = ?1 AND state = 'DEAD'",
            [.integer(rowID), .integer(now())]
        ) == 1
    }

    func notifications(accountID: String, limit: Int) throws -> [StoredNotification] {
        var found: [StoredNotification] = []
        try db.query(
            """
            SELECT id, account_id, cancellation_id, kind, subject, body, created_ms, token_sealed FROM portal_inbox
            WHERE account_id = ?1 ORDER BY id DESC LIMIT ?2
            """,
            [.text(accountID), .integer(Int64(limit))]
        ) { row in
            let cancellationID = row.text(2)
            found.append(
                StoredNotification(
                    id: "n-\(index)-\(row.int(0))",
                    createdMs: row.int(6),
                    notification: PortalNotification(
                        accountID: row.text(1),
                        cancellationID: cancellationID,
                        kind: row.text(3),
                        subject: row.text(4),
                        body: shownBody(row, body: 5, sealed: 7, context: Self.inboxContext(cancellationID))
                    )
                )
            )
        }
        return found
    }

    // MARK: Stock

    func stock(sku: String, location: String?) throws -> [StockPool] {
        var pools: [StockPool] = []
        let map: (Row) -> Void = { row in
            pools.append(StockPool(sku: row.text(0), location: row.text(1), onHand: row.int(2), reserved: row.int(3)))
        }
        if let location {
            try db.query(
                "SELECT sku, location, on_hand, reserved FROM stock WHERE sku = ?1 AND location = ?2",
                [.text(sku), .text(location)],
                row: map
            )
        } else {
            try db.query(
                "SELECT sku, location, on_hand, reserved FROM stock WHERE sku = ?1 ORDER BY location",
                [.text(sku)],
                row: map
            )
        }
        return pools
    }

    func setOnHand(sku: String, location: String, onHand: Int64) throws -> StockPool {
        try db.run(
            """
            INSERT INTO stock (sku, location, on_hand, reserved, updated_ms) VALUES (?1, ?2, ?3, 0, ?4)
            ON CONFLICT (sku, location) DO UPDATE SET on_hand = excluded.on_hand, updated_ms = excluded.updated_ms
            """,
            [.text(sku), .text(location), .integer(onHand), .integer(now())]
        )
        let pool = try stock(sku: sku, location: location)[0]
        try recordStockChange(pool, cause: "SET_ON_HAND", reference: "")
        return pool
    }

    /// Numbers a pool's new state in its sku's stock history and records it for the sku's watchers.
    private func recordStockChange(_ pool: StockPool, cause: String, reference: String) throws {
        let time = now()
        let seq =
            try db.first(
                """
                INSERT INTO stock_history (sku, seq, at_ms, location, on_hand, reserved, cause, reference)
                VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM stock_history WHERE sku = ?1), ?2, ?3, ?4, ?5, ?6, ?7)
                RETURNING seq
                """,
                [
                    .text(pool.sku), .integer(time), .text(pool.location), .integer(pool.onHand),
                    .integer(pool.reserved),
                    .text(cause), .text(reference),
                ]
            ) { $0.int(0) } ?? 0
        changes.record(
            .stock(
                StockEvent(
                    sku: pool.sku,
                    seq: seq,
                    atMs: time,
                    location: pool.location,
                    onHand: pool.onHand,
                    reserved: pool.reserved,
                    cause: cause,
                    reference: reference
                )
            )
        )
    }

    /// A sku's stock history after `seq`, oldest first.
    func stockHistory(sku: String, after seq: Int64) throws -> [StockEvent] {
        var events: [StockEvent] = []
        try db.query(
            """
            SELECT seq, at_ms, location, on_hand, reserved, cause, reference FROM stock_history WHERE sku = ?1 AND seq > ?2 ORDER BY seq
            """,
            [.text(sku), .integer(seq)]
        ) { row in
            events.append(
                StockEvent(
                    sku: sku,
                    seq: row.int(0),
                    atMs: row.int(1),
                    location: row.text(2),
                    onHand: row.int(3),
                    reserved: row.int(4),
                    cause: row.text(5),
                    reference: row.text(6)
                )
            )
        }
        return events
    }

    /// The sequence number of a sku's last stock change (0: none).
    func lastStockSeq(_ sku: String) throws -> Int64 {
        try db.first("SELECT COALESCE(MAX(seq), 0) FROM stock_history WHERE sku = ?1", [.text(sku)]) { $0.int(0) } ?? 0
    }

    /// Applies a stock change exactly once: the message id is recorded with the change, in the
    /// caller's transaction. Returns false when it had been applied before.
    @discardableResult
    func apply(_ change: StockChange) throws -> Bool {
        let time = now()
        let inserted = try db.run(
            "INSERT OR IGNORE INTO applied_messages (message_id, applied_ms) VALUES (?1, ?2)",
            [.text(change.id), .integer(time)]
        )
        guard inserted == 1 else { return false }
        // A release never takes reserved below zero; a reservation on an unknown pool creates it with nothing on hand.
        try db.run(
            """
            INSERT INTO stock (sku, location, on_hand, reserved, updated_ms) VALUES (?1, ?2, 0, MAX(?3, 0), ?4)
            ON CONFLICT (sku, location) DO UPDATE SET reserved = MAX(reserved + ?3, 0), updated_ms = excluded.updated_ms
            """,
            [.text(change.sku), .text(change.location), .integer(change.reservedDelta), .integer(time)]
        )
        if let pool = try stock(sku: change.sku, location: change.location).first {
            try recordStockChange(pool, cause: change.kind.rawValue, reference: change.id)
        }
        return true
    }

    // MARK: Outbox

    /// Applies the stock changes that belong to this shard now and queues the others in the outbox,
    /// in the caller's transaction. Returns whether anything was queued (to be delivered after commit).
    func route(_ changes: [StockChange], router: ShardRouter) throws -> Bool {
        var queued = false
        for change in changes {
            let destination = router.shard(forSKU: change.sku)
            if destination == index {
                try apply(change)
            } else {
                try enqueue(change, destination: destination)
                queued = true
            }
        }
        return queued
    }

    func enqueue(_ change: StockChange, destination: Int) throws {
        try db.run(
            "INSERT INTO outbox (message_id, destination, kind, payload, created_ms) VALUES (?1, ?2, 'stock', ?3, ?4)",
            [.text(change.id), .integer(Int64(destination)), .blob(try BodyCodec.encode(change)), .integer(now())]
        )
    }

    func pendingOutbox(limit: Int) throws -> [OutboxMessage] {
        var messages: [OutboxMessage] = []
        var failure: (any Error)?
        try db.query(
            "SELECT seq, message_id, destination, payload FROM outbox WHERE delivered_ms IS NULL ORDER BY seq LIMIT ?1",
            [.integer(Int64(limit))]
        ) { row in
            do {
                let change = try BodyCodec.decode(StockChange.self, from: row.blob(3))
                messages.append(
                    OutboxMessage(seq: row.int(0), messageID: row.text(1), destination: Int(row.int(2)), change: change)
                )
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        return messages
    }

    /// Marks messages delivered and completes the cancellations whose last stock release that was,
    /// in one transaction.
    func markDelivered(_ messages: [OutboxMessage], complete: (CancellationRequest) -> CancellationRequest?) throws {
        let time = now()
        try transaction {
            for message in messages {
                try db.run(
                    "UPDATE outbox SET delivered_ms = ?2 WHERE seq = ?1",
                    [.integer(message.seq), .integer(time)]
                )
            }
            let released = Set(
                messages.compactMap { message -> String? in
                    guard message.change.kind == .release, let range = message.messageID.range(of: "/release/") else {
                        return nil
                    }
                    return String(message.messageID[..<range.lowerBound])
                }
            )
            let stillWaiting = try cancellationsAwaitingRelease(released)
            for id in released.subtracting(stillWaiting) {
                guard let (request, _) = try cancellationRequest(id), let completed = complete(request) else {
                    continue
                }
                try update(completed)
                try appendHistory(
                    orderID: request.orderID,
                    actor: "system",
                    event: "CANCELLATION_COMPLETED",
                    subject: id,
                    from: request.lifecycle.state.rawValue,
                    to: completed.lifecycle.state.rawValue,
                    detail: "stock released"
                )
            }
        }
    }

    // MARK: Audit (reads everything; never on the request path)

    /// What one shard holds, for `Storage.audit`.
    struct AuditSnapshot {
        var orders: [Order] = []
        /// Order id → total recorded when the order was ingested.
        var ingestedTotals: [String: Int64] = [:]
        var requests: [CancellationRequest] = []
        var refunds: [Refund] = []
        /// Outbox messages: id, destination shard, delivered.
        var outbox: [(id: String, destination: Int, delivered: Bool)] = []
        var applied: Set<String> = []
        var stock: [StockPool] = []
        /// Broken rules of the change histories, in words.
        var historyViolations: [String] = []
    }

    func auditSnapshot() throws -> AuditSnapshot {
        var snapshot = AuditSnapshot()
        snapshot.orders = try allOrders()
        try db.query("SELECT order_id, detail FROM order_history WHERE event = 'INGESTED'") { row in
            // "total 79504 USD" (before schema 6: "status CONFIRMED, total 79504 USD")
            let detail = row.text(1)
            if let range = detail.range(of: "total "),
                let total = Int64(detail[range.upperBound...].prefix { $0 == "-" || $0.isNumber })
            {
                snapshot.ingestedTotals[row.text(0)] = total
            }
        }
        var bodies: [[UInt8]] = []
        try db.query("SELECT body FROM cancellation_requests") { bodies.append($0.blob(0)) }
        snapshot.requests = try bodies.map { try BodyCodec.decode(CancellationRequest.self, from: $0) }
        bodies = []
        try db.query("SELECT body FROM refunds") { bodies.append($0.blob(0)) }
        snapshot.refunds = try bodies.map { try BodyCodec.decode(Refund.self, from: $0) }
        try db.query("SELECT message_id, destination, delivered_ms IS NOT NULL FROM outbox") { row in
            snapshot.outbox.append((row.text(0), Int(row.int(1)), row.int(2) != 0))
        }
        try db.query("SELECT message_id FROM applied_messages") { snapshot.applied.insert($0.text(0)) }
        snapshot.stock = try allStock()
        // Histories are numbered 1…n without a gap, and each pool's last change is its state.
        try db.query(
            "SELECT order_id, COUNT(*), MIN(seq), MAX(seq) FROM order_history GROUP BY order_id HAVING MIN(seq) != 1 OR MAX(seq) != COUNT(*)"
        ) { row in
            snapshot.historyViolations.append(
                "\(row.text(0)): history entries \(row.int(2))…\(row.int(3)) are \(row.int(1)), not numbered without a gap"
            )
        }
        try db.query(
            "SELECT sku, COUNT(*), MAX(seq) FROM stock_history GROUP BY sku HAVING MIN(seq) != 1 OR MAX(seq) != COUNT(*)"
        ) { row in
            snapshot.historyViolations.append(
                "stock history of \(row.text(0)): \(row.int(1)) changes up to \(row.int(2)), not numbered without a gap"
            )
        }
        try db.query(
            """
            SELECT s.sku, s.location, s.on_hand, s.reserved, h.on_hand, h.reserved FROM stock s
            JOIN stock_history h ON h.sku = s.sku AND h.location = s.location
            WHERE h.seq = (SELECT MAX(seq) FROM stock_history WHERE sku = s.sku AND location = s.location)
              AND (h.on_hand != s.on_hand OR h.reserved != s.reserved)
            """
        ) { row in
            snapshot.historyViolations.append(
                "stock \(row.text(0))@\(row.text(1)): on hand \(row.int(2)) reserved \(row.int(3)), its last recorded change says \(row.int(4)) and \(row.int(5))"
            )
        }
        return snapshot
    }

    var outboxBacklog: Int64 { outboxBacklogAndOldest.count }

    /// Undelivered cross-shard messages and when the oldest was written.
    var outboxBacklogAndOldest: (count: Int64, oldestMs: Int64?) {
        (try? db.first("SELECT COUNT(*), MIN(created_ms) FROM outbox WHERE delivered_ms IS NULL") { row in
            (row.int(0), row.int(0) == 0 ? nil : row.int(1))
        }) ?? (0, nil)
    }

    /// Customer emails not yet sent (nor given up on) and when the oldest was written.
    var emailBacklogAndOldest: (count: Int64, oldestMs: Int64?) {
        (try? db.first("SELECT COUNT(*), MIN(created_ms) FROM email_outbox WHERE state = 'PENDING'") { row in
            (row.int(0), row.int(0) == 0 ? nil : row.int(1))
        }) ?? (0, nil)
    }

    // MARK: Dead letters

    /// The columns every dead-letter read starts with (`deadLetter(_:payload:)` maps them).
    private static let deadLetterColumns = """
        id, kind, priority, reason, detail, subject, attempts, created_ms, updated_ms, length(payload), payload_sha256, resolution, resolved_ms
        """

    func addDeadLetter(
        kind: String,
        priority: Int64,
        reason: String,
        detail: String,
        subject: String,
        payload: [UInt8]
    ) throws -> String {
        let time = now()
        try db.run(
            """
            INSERT INTO dead_letters (kind, priority, reason, detail, subject, payload, attempts, created_ms, updated_ms, payload_sha256)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?7, ?8)
            """,
            [
                .text(kind), .integer(priority), .text(reason), .text(detail), .text(subject), .blob(payload),
                .integer(time),
                .text(Self.sha256Hex(payload)),
            ]
        )
        let row = db.lastInsertRowID
        try appendDeadLetterEvent(row: row, actor: "system", event: "DEAD_LETTERED", detail: "\(reason): \(detail)")
        return "dl-\(index)-\(row)"
    }

    /// A page of open dead letters after `position` (nil: from the first), each with the first
    /// `excerptBytes` of its payload, in list order: priority (highest first), then oldest, then
    /// shard and row.
    func openDeadLetters(limit: Int, after position: DeadLetterPosition?, excerptBytes: Int) throws -> [DeadLetter] {
        var letters: [DeadLetter] = []
        var values: [SQLValue] = [.integer(Int64(excerptBytes)), .integer(Int64(limit))]
        var keyset = ""
        if let position {
            // Rows of this shard that tie with the position on priority and age come after it only
            // when this shard sorts after the position's (or is its shard, with a later row).
            let row: Int64 = index < position.shard ? .max : index == position.shard ? position.row : -1
            keyset = "AND (priority < ?3 OR (priority = ?3 AND (created_ms > ?4 OR (created_ms = ?4 AND id > ?5))))"
            values += [.integer(position.priority), .integer(position.createdMs), .integer(row)]
        }
        try db.query(
            """
            SELECT \(Self.deadLetterColumns), substr(payload, 1, ?1)
            FROM dead_letters WHERE resolved_ms IS NULL \(keyset) ORDER BY priority DESC, created_ms, id LIMIT ?2
            """,
            values
        ) { row in letters.append(deadLetter(row, payload: row.blob(13))) }
        return letters
    }

    /// An open dead letter with its whole payload (for a redrive).
    func deadLetter(rowID: Int64) throws -> DeadLetter? {
        try db.first(
            "SELECT \(Self.deadLetterColumns), payload FROM dead_letters WHERE id = ?1 AND resolved_ms IS NULL",
            [.integer(rowID)]
        ) {
            deadLetter($0, payload: $0.blob(13))
        }
    }

    /// A dead letter in any state, with an excerpt of its payload, and its history, oldest first.
    func deadLetterRecord(rowID: Int64, excerptBytes: Int) throws -> (letter: DeadLetter, history: [DeadLetterEvent])? {
        guard
            let letter = try db.first(
                "SELECT \(Self.deadLetterColumns), substr(payload, 1, ?2) FROM dead_letters WHERE id = ?1",
                [.integer(rowID), .integer(Int64(excerptBytes))],
                { deadLetter($0, payload: $0.blob(13)) }
            )
        else { return nil }
        var history: [DeadLetterEvent] = []
        try db.query(
            "SELECT at_ms, actor, event, detail FROM dead_letter_history WHERE dead_letter_id = ?1 ORDER BY seq",
            [.integer(rowID)]
        ) { row in
            history.append(
                DeadLetterEvent(atMs: row.int(0), actor: row.text(1), event: row.text(2), detail: row.text(3))
            )
        }
        return (letter, history)
    }

    /// Up to `length` bytes of a dead letter's payload from `offset`; nil when there is no such letter.
    func deadLetterPayload(rowID: Int64, offset: Int64, length: Int) throws -> [UInt8]? {
        try db.first(
            "SELECT substr(payload, ?2, ?3) FROM dead_letters WHERE id = ?1",
            [.integer(rowID), .integer(offset + 1), .integer(Int64(length))]
        ) {
            $0.blob(0)
        }
    }

    private func deadLetter(_ row: Row, payload: [UInt8]) -> DeadLetter {
        let resolved = !row.isNull(12)
        let resolution = row.text(11)
        return DeadLetter(
            id: "dl-\(index)-\(row.int(0))",
            kind: row.text(1),
            priority: row.int(2),
            reason: row.text(3),
            detail: row.text(4),
            subject: row.text(5),
            payload: payload,
            attempts: row.int(6),
            createdMs: row.int(7),
            updatedMs: row.int(8),
            payloadBytes: row.int(9),
            payloadSHA256: row.text(10),
            state: !resolved ? "OPEN" : resolution.isEmpty ? "REDRIVEN" : resolution,
            resolvedMs: resolved ? row.int(12) : 0,
            shard: index,
            row: row.int(0)
        )
    }

    private func appendDeadLetterEvent(row: Int64, actor: String, event: String, detail: String) throws {
        try db.run(
            "INSERT INTO dead_letter_history (dead_letter_id, at_ms, actor, event, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            [.integer(row), .integer(now()), .text(actor), .text(event), .text(detail)]
        )
    }

    func resolveDeadLetter(rowID: Int64, actor: String = "system") throws {
        try transaction {
            let changed = try db.run(
                "UPDATE dead_letters SET resolved_ms = ?2, updated_ms = ?2, resolution = 'REDRIVEN' WHERE id = ?1 AND resolved_ms IS NULL",
                [.integer(rowID), .integer(now())]
            )
            if changed > 0 { try appendDeadLetterEvent(row: rowID, actor: actor, event: "REDRIVEN", detail: "") }
        }
    }

    func failDeadLetterAgain(rowID: Int64, reason: String, detail: String, actor: String = "system") throws {
        try transaction {
            try db.run(
                "UPDATE dead_letters SET attempts = attempts + 1, reason = ?2, detail = ?3, updated_ms = ?4 WHERE id = ?1",
                [.integer(rowID), .text(reason), .text(detail), .integer(now())]
            )
            try appendDeadLetterEvent(row: rowID, actor: actor, event: "REDRIVE_FAILED", detail: "\(reason): \(detail)")
        }
    }

    /// Closes an open dead letter without redriving it, recording who and why.
    func discardDeadLetter(rowID: Int64, actor: String, reason: String, excerptBytes: Int) throws -> DeadLetterDiscard {
        try transaction {
            let time = now()
            let changed = try db.run(
                """
                UPDATE dead_letters SET resolved_ms = ?2, updated_ms = ?2, resolution = 'DISCARDED' WHERE id = ?1 AND resolved_ms IS NULL
                """,
                [.integer(rowID), .integer(time)]
            )
            if changed > 0 { try appendDeadLetterEvent(row: rowID, actor: actor, event: "DISCARDED", detail: reason) }
            guard let (letter, _) = try deadLetterRecord(rowID: rowID, excerptBytes: excerptBytes) else {
                return .notFound
            }
            return changed > 0 ? .discarded(letter) : .alreadyResolved(letter)
        }
    }

    /// Hashes the payloads of dead letters stored before their hash was kept (once per letter).
    func backfillDeadLetterHashes() throws {
        var missing: [(Int64, [UInt8])] = []
        try db.query("SELECT id, payload FROM dead_letters WHERE payload_sha256 IS NULL") {
            missing.append(($0.int(0), $0.blob(1)))
        }
        guard !missing.isEmpty else { return }
        try db.transaction {
            for (row, payload) in missing {
                try db.run(
                    "UPDATE dead_letters SET payload_sha256 = ?2 WHERE id = ?1",
                    [.integer(row), .text(Self.sha256Hex(payload))]
                )
            }
        }
    }

    static func sha256Hex(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    var openDeadLetterCount: Int64 {
        (try? db.first("SELECT COUNT(*) FROM dead_letters WHERE resolved_ms IS NULL") { $0.int(0) }) ?? 0
    }
}

/// The WAL hook's counter. The store keeps it alive as long as the connection; only the worker
/// thread (inside commits and `idle`) touches it.
final class WALPages {
    var pages = 0
}

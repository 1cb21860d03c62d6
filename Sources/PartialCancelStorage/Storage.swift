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

public enum WatchError: Error, Sendable, Hashable {
    /// A watch asked to resume after `seq`, but the history of `subject` ends at `last`.
    case ahead(subject: String, seq: Int64, last: Int64)
}

/// The outcome of an ingest: the stored order, and whether this call created it.
public struct IngestOutcome: Sendable {
    public var order: Order
    public var created: Bool
}

/// What `Health` reports for one shard.
public struct ShardHealth: Sendable, Hashable {
    public var index: Int
    public var open: Bool
    public var queueDepth: Int
    public var outboxBacklog: Int64
    public var deadLetters: Int64
    public var orders: Int64
    /// Age of the oldest undelivered cross-shard message; 0 when none waits.
    public var outboxOldestAgeMs: Int64 = 0
    /// Customer emails waiting to be sent, and the age of the oldest.
    public var emailBacklog: Int64 = 0
    public var emailOldestAgeMs: Int64 = 0
    /// Why the shard cannot write (its disk is full), or nil: not ready until a write succeeds.
    public var storageFull: String? = nil
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
    private let eventLoop: any EventLoop
    private let logger: Logger
    /// Per shard: a delivery is running, and whether another pass was asked for meanwhile.
    private let delivering: [NIOLockedValueBox<(running: Bool, again: Bool)>]
    /// The watchers of orders and skus, told of every commit.
    let hub: WatchHub
    /// The data directory's exclusive lock, held until `close()`.
    private let lock: DataDirectoryLock
    /// Per shard: why it cannot write (full disk), or nil; kept by the shard, read by Health.
    private let fullness: [NIOLockedValueBox<String?>]

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

    // MARK: Orders

    /// Stores a newly priced order with its stock reservations, or returns the order already stored
    /// under its id (an ingest retried with the same channel and external id).
    public func ingest(_ order: Order, actor: String, on loop: any EventLoop) -> EventLoopFuture<IngestOutcome> {
        let shard = router.shard(forOrder: order.id)
        let router = self.router
        return on(shard, loop) { store in
            try store.transaction {
                if let existing = try store.order(order.id) {
                    return (IngestOutcome(order: existing, created: false), false)
                }
                try store.insert(order)
                try store.appendHistory(
                    orderID: order.id,
                    actor: actor,
                    event: "INGESTED",
                    subject: order.id,
                    to: order.status.rawValue,
                    detail: "total \(order.totals.total) \(order.currency.code)"
                )
                let sent = try store.route(order.intakeReservations(), router: router)
                return (IngestOutcome(order: order, created: true), sent)
            }
        }.map { outcome, sent in
            if sent { self.deliver(from: shard) }
            return outcome
        }
    }

    /// The order and its history, or nil.
    public func order(_ id: String, on loop: any EventLoop) -> EventLoopFuture<(order: Order, history: [HistoryEntry])?>
    {
        on(router.shard(forOrder: id), loop) { store in
            guard let order = try store.order(id) else { return nil }
            return (order, try store.history(id))
        }
    }

    // MARK: Cancellation requests

    /// The order and the ids of the lines its pending requests cover at `nowMs`.
    public func orderWithPendingLines(
        _ id: String,
        nowMs: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<(order: Order, pendingLineIDs: Set<String>)?> {
        on(router.shard(forOrder: id), loop) { store in
            guard let order = try store.order(id) else { return nil }
            let pending = try store.cancellationRequests(orderID: id).filter { $0.isPending(at: nowMs) }
            return (order, pending.reduce(into: Set<String>()) { $0.formUnion($1.coveredLineIDs(in: order)) })
        }
    }

    /// Creates a cancellation request in one transaction of the order's shard: `decide` sees the
    /// order, the lines of its pending requests and the new request's id, and returns the request,
    /// its token's hash and the customer's notification (or throws to refuse, writing nothing).
    public func createCancellation(
        orderID: String,
        nowMs: Int64,
        on loop: any EventLoop,
        decide:
            @escaping @Sendable (Order, Set<String>, String) throws -> (
                CancellationRequest, [UInt8], PortalNotification
            )?
    )
        -> EventLoopFuture<CancellationRequest?>
    {
        on(router.shard(forOrder: orderID), loop) { store in
            try store.transaction {
                guard let order = try store.order(orderID) else { return nil }
                let pending = try store.cancellationRequests(orderID: orderID).filter { $0.isPending(at: nowMs) }
                let pendingLines = pending.reduce(into: Set<String>()) { $0.formUnion($1.coveredLineIDs(in: order)) }
                let number = try store.nextCancellationNumber(orderID: orderID)
                guard
                    let (request, tokenHash, notification) = try decide(
                        order,
                        pendingLines,
                        CancellationRequest.id(orderID: orderID, number: number)
                    )
                else {
                    return nil
                }
                try store.insert(request, number: number, tokenHash: tokenHash)
                try store.add(notification)
                try store.appendHistory(
                    orderID: orderID,
                    actor: request.actor,
                    event: "CANCELLATION_REQUESTED",
                    subject: request.id,
                    to: request.lifecycle.state.rawValue,
                    detail:
                        "lines \(request.lines.map { "\($0.lineID)\($0.quantity.map { ":\($0)" } ?? "")" }.joined(separator: ",")), refund \(request.quote.refundTotal) \(request.quote.currency), reason \(request.reasonCode)"
                )
                return request
            }
        }
    }

    /// What a cancellation becomes once its stock is back (set by the server: the state machine
    /// lives in the domain); nil leaves it unchanged.
    private var completeAfterRelease: @Sendable (CancellationRequest) -> CancellationRequest? {
        let clock = self.clock
        return { request in
            let (next, action) = CancellationStateMachine().handle(request.lifecycle, .stockReleased)
            guard action == .markCompleted else { return nil }
            var completed = request
            completed.lifecycle = next
            completed.updatedMs = clock.nowMs()
            return completed
        }
    }

    /// What a confirmation or decline decided, for storage to carry out in the same transaction.
    public enum CancellationDecision: Sendable {
        /// Refuse: persist the request's new lifecycle (if any), commit, then fail with `error`.
        case refuse(CancellationRequest?, any Error)
        /// Confirmed: the order after the cancellation, the refund, the stock to release, the customer's message.
        case confirm(CancellationRequest, Order, Refund, [StockChange], PortalNotification)
        /// Confirmed before: answer with what was recorded then.
        case earlier
        case decline(CancellationRequest, PortalNotification)
        /// Withdrawn by an agent or operator: the request, the customer's message, and the reason
        /// for the history.
        case withdraw(CancellationRequest, PortalNotification, reason: String)
    }

    /// The outcome of a confirmation or decline, after commit.
    public struct CancellationResult: Sendable {
        public var request: CancellationRequest
        public var order: Order
        public var refund: Refund?
    }

    /// Confirms, declines or withdraws a request in one transaction of its order's shard. `decide`
    /// sees the request, its token hash, the order and the lines of the order's other pending requests.
    public func settleCancellation(
        _ id: String,
        actor: String,
        nowMs: Int64,
        on loop: any EventLoop,
        decide: @escaping @Sendable (CancellationRequest, [UInt8], Order, Set<String>) throws -> CancellationDecision
    )
        -> EventLoopFuture<CancellationResult?>
    {
        guard let orderID = CancellationRequest.orderID(fromRequestID: id) else { return loop.makeSucceededFuture(nil) }
        let shard = router.shard(forOrder: orderID)
        let router = self.router
        let complete = self.completeAfterRelease
        return on(shard, loop) { store -> (Result<CancellationResult?, any Error>, Bool) in
            try store.transaction {
                guard let (request, tokenHash) = try store.cancellationRequest(id), let order = try store.order(orderID)
                else { return (.success(nil), false) }
                let others = try store.cancellationRequests(orderID: orderID).filter {
                    $0.id != id && $0.isPending(at: nowMs)
                }
                let otherLines = others.reduce(into: Set<String>()) { $0.formUnion($1.coveredLineIDs(in: order)) }
                switch try decide(request, tokenHash, order, otherLines) {
                case .refuse(let updated, let error):
                    if let updated {
                        try store.update(updated)
                        // A wrong token is recorded with its caller; the lock it may cause, by the system.
                        if updated.lifecycle.failedAttempts != request.lifecycle.failedAttempts {
                            try store.appendHistory(
                                orderID: orderID,
                                actor: actor,
                                event: "CONFIRMATION_TOKEN_REJECTED",
                                subject: id,
                                from: "\(request.lifecycle.failedAttempts) failed attempts",
                                to: "\(updated.lifecycle.failedAttempts) failed attempts"
                            )
                        }
                        if updated.lifecycle.state != request.lifecycle.state {
                            try store.appendHistory(
                                orderID: orderID,
                                actor: "system",
                                event: "CANCELLATION_\(updated.lifecycle.state.rawValue)",
                                subject: id,
                                from: request.lifecycle.state.rawValue,
                                to: updated.lifecycle.state.rawValue
                            )
                        }
                    }
                    return (.failure(error), false)
                case .earlier:
                    return (
                        .success(
                            CancellationResult(
                                request: request,
                                order: order,
                                refund: try store.refund(cancellationID: id)
                            )
                        ), false
                    )
                case .decline(let updated, let notification):
                    try store.update(updated)
                    try store.add(notification)
                    try store.appendHistory(
                        orderID: orderID,
                        actor: actor,
                        event: "CANCELLATION_DECLINED",
                        subject: id,
                        from: request.lifecycle.state.rawValue,
                        to: updated.lifecycle.state.rawValue
                    )
                    return (.success(CancellationResult(request: updated, order: order, refund: nil)), false)
                case .withdraw(let updated, let notification, let reason):
                    try store.update(updated)
                    try store.add(notification)
                    try store.appendHistory(
                        orderID: orderID,
                        actor: actor,
                        event: "CANCELLATION_WITHDRAWN",
                        subject: id,
                        from: request.lifecycle.state.rawValue,
                        to: updated.lifecycle.state.rawValue,
                        detail: "reason: \(reason)"
                    )
                    return (.success(CancellationResult(request: updated, order: order, refund: nil)), false)
                case .confirm(var confirmed, let after, let refund, let releases, let notification):
                    try store.update(after)
                    try store.insert(refund)
                    try store.add(notification)
                    let sent = try store.route(releases, router: router)
                    try store.appendHistory(
                        orderID: orderID,
                        actor: actor,
                        event: "CANCELLATION_CONFIRMED",
                        subject: id,
                        from: request.lifecycle.state.rawValue,
                        to: confirmed.lifecycle.state.rawValue
                    )
                    try store.appendHistory(
                        orderID: orderID,
                        actor: actor,
                        event: "ORDER_UPDATED",
                        subject: orderID,
                        from: Self.summary(order),
                        to: Self.summary(after),
                        detail: "cancelled "
                            + request.lines.map { "\($0.lineID)\($0.quantity.map { ":\($0)" } ?? "")" }.joined(
                                separator: ","
                            )
                    )
                    try store.appendHistory(
                        orderID: orderID,
                        actor: actor,
                        event: "REFUND_ISSUED",
                        subject: refund.refundID,
                        to: "ISSUED",
                        detail: "\(refund.amount) \(refund.currency) for \(id)"
                    )
                    if !sent, let completed = complete(confirmed) {
                        try store.appendHistory(
                            orderID: orderID,
                            actor: "system",
                            event: "CANCELLATION_COMPLETED",
                            subject: id,
                            from: confirmed.lifecycle.state.rawValue,
                            to: completed.lifecycle.state.rawValue,
                            detail: releases.isEmpty ? "no stock to release" : "stock released"
                        )
                        confirmed = completed
                    }
                    try store.update(confirmed)
                    return (.success(CancellationResult(request: confirmed, order: after, refund: refund)), sent)
                }
            }
        }.flatMapThrowing { result, sent in
            if sent { self.deliver(from: shard) }
            return try result.get()
        }
    }

    /// Where a confirmed cancellation's stock releases stand: the request, and whether any release
    /// still waits in the outbox. A waiting one is delivered again now (idempotently).
    public func releaseStatus(
        _ id: String,
        on loop: any EventLoop
    ) -> EventLoopFuture<(request: CancellationRequest, releases: [StockChange], waiting: Bool)?> {
        guard let orderID = CancellationRequest.orderID(fromRequestID: id) else { return loop.makeSucceededFuture(nil) }
        let shard = router.shard(forOrder: orderID)
        return on(shard, loop) { store -> (request: CancellationRequest, releases: [StockChange], waiting: Bool)? in
            guard let (request, _) = try store.cancellationRequest(id), let order = try store.order(orderID) else {
                return nil
            }
            // The same releases the confirmation scheduled: they depend on the lines and units, not on quantities left.
            let releases = Cancellation.releases(request.quote, cancellationID: id, order: order)
            return (request, releases, !(try store.cancellationsAwaitingRelease([id]).isEmpty))
        }.map { status in
            if status?.waiting == true { self.deliver(from: shard) }
            return status
        }
    }

    // MARK: Email outbox

    /// Emails due for delivery, from every shard.
    public func dueEmails(nowMs: Int64, limit: Int, on loop: any EventLoop) -> EventLoopFuture<[OutboundEmail]> {
        let perShard = workers.indices.map { index in on(index, loop) { try $0.dueEmails(nowMs: nowMs, limit: limit) } }
        return EventLoopFuture.whenAllSucceed(perShard, on: loop).map { Array($0.joined()) }
    }

    private func emailShard(_ email: OutboundEmail) -> Int? { address(email.id, prefix: "e")?.shard }

    public func emailSent(_ email: OutboundEmail, on loop: any EventLoop) -> EventLoopFuture<Void> {
        guard let shard = emailShard(email) else { return loop.makeSucceededVoidFuture() }
        // Lost on a power failure, the email is sent again: at least once, as email always is.
        return on(shard, loop, durable: false) { try $0.emailSent(rowID: email.rowID) }
    }

    public func emailFailed(
        _ email: OutboundEmail,
        error: String,
        nextAttemptMs: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<Void> {
        guard let shard = emailShard(email) else { return loop.makeSucceededVoidFuture() }
        return on(shard, loop, durable: false) {
            try $0.emailFailed(rowID: email.rowID, error: error, nextAttemptMs: nextAttemptMs)
        }
    }

    /// Gives up on an email: it becomes a dead letter (kind `notification`) that can be re-driven.
    public func emailDead(_ email: OutboundEmail, error: String, on loop: any EventLoop) -> EventLoopFuture<Void> {
        guard let shard = emailShard(email) else { return loop.makeSucceededVoidFuture() }
        return on(shard, loop) { try $0.emailDead(email, error: error) }
    }

    /// Re-queues the email a `notification` dead letter is about, and closes the dead letter.
    public func reviveEmail(deadLetter: DeadLetter, on loop: any EventLoop) -> EventLoopFuture<Bool> {
        guard let email = address(deadLetter.subject, prefix: "e"), let address = deadLetterAddress(deadLetter.id)
        else {
            return loop.makeSucceededFuture(false)
        }
        return on(email.shard, loop) { store in try store.transaction { try store.reviveEmail(rowID: email.row) } }
            .flatMap { revived in
                self.on(address.shard, loop) { try $0.resolveDeadLetter(rowID: address.row) }.map { revived }
            }
    }

    // MARK: Idempotency keys

    /// Claims an idempotency scope (principal, method, key) for a request with `fingerprint`.
    public func claimIdempotency(
        scope: String,
        fingerprint: [UInt8],
        nowMs: Int64,
        retentionMs: Int64,
        staleAfterMs: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<IdempotencyClaim> {
        on(router.shard(forOrder: "idem:" + scope), loop) { store in
            try store.claimIdempotency(
                scope: scope,
                fingerprint: fingerprint,
                nowMs: nowMs,
                retentionMs: retentionMs,
                staleAfterMs: staleAfterMs
            )
        }
    }

    /// Stores the reply of a claimed scope.
    public func completeIdempotency(
        scope: String,
        status: [UInt8],
        response: [UInt8],
        nowMs: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<Void> {
        on(router.shard(forOrder: "idem:" + scope), loop) { store in
            try store.completeIdempotency(scope: scope, status: status, response: response, nowMs: nowMs)
        }
    }

    /// Gives a claim back (the call failed in a way worth retrying).
    public func releaseIdempotency(scope: String, on loop: any EventLoop) -> EventLoopFuture<Void> {
        on(router.shard(forOrder: "idem:" + scope), loop) { store in try store.releaseIdempotency(scope: scope) }
    }

    /// Records a fulfilment update reported for a line (by the warehouse or a partner): status and
    /// whether the partner still accepts cancellation. The order's version goes up, so quotes made
    /// before it are checked again at confirmation.
    public func updateFulfilment(
        orderID: String,
        lineID: String,
        status: FulfilmentStatus,
        partnerAcceptsCancel: Bool? = nil,
        actor: String,
        on loop: any EventLoop
    ) -> EventLoopFuture<Order?> {
        on(router.shard(forOrder: orderID), loop) { store in
            try store.transaction {
                guard var order = try store.order(orderID),
                    let index = order.lines.firstIndex(where: { $0.id == lineID }),
                    let before = order.lines[index].fulfilment
                else { return nil }
                let statusBefore = order.status
                // Components share their bundle's fulfilment.
                for i in order.lines.indices where i == index || order.lines[i].parentLineID == lineID {
                    order.lines[i].fulfilment?.status = status
                    if let partnerAcceptsCancel {
                        order.lines[i].fulfilment?.partnerAcceptsCancel = partnerAcceptsCancel
                    }
                }
                if order.lines.allSatisfy({
                    $0.fulfilment == nil || $0.fulfilment?.status == .shipped || $0.remainingQuantity == 0
                }),
                    order.lines.contains(where: { $0.fulfilment?.status == .shipped })
                {
                    order.status = .shipped
                }
                order.version += 1
                try store.update(order)
                try store.appendHistory(
                    orderID: orderID,
                    actor: actor,
                    event: "FULFILMENT_UPDATED",
                    subject: lineID,
                    from: before.status.rawValue,
                    to: status.rawValue
                )
                if order.status != statusBefore {
                    try store.appendHistory(
                        orderID: orderID,
                        actor: actor,
                        event: "ORDER_STATUS_CHANGED",
                        subject: orderID,
                        from: statusBefore.rawValue,
                        to: order.status.rawValue
                    )
                }
                return order
            }
        }
    }

    /// An order's state in a history entry: status and what the customer pays.
    static func summary(_ order: Order) -> String {
        "\(order.status.rawValue), total \(order.totals.total) \(order.currency.code)"
    }

    // MARK: Watching

    /// Starts watching an order: queues, on the order's shard, the history entries after `seq`
    /// (the last one carrying the current order) or, for `seq` 0, a snapshot of the order now;
    /// then `subscriber` gets every later committed entry. Returns false (watching nothing) when
    /// the order does not exist; throws `WatchError.ahead` for a `seq` past the order's history, and
    /// what `check` throws (given the order, before anything is queued).
    public func watchOrder(
        _ id: String,
        after seq: Int64,
        subscriber: any ChangeSubscriber,
        on loop: any EventLoop,
        check: @escaping @Sendable (Order) throws -> Void
    ) -> EventLoopFuture<Bool> {
        let hub = self.hub
        return on(router.shard(forOrder: id), loop, durable: false) { store in
            guard let order = try store.order(id) else { return false }
            try check(order)
            let last = try store.lastHistorySeq(id)
            guard seq <= last else { throw WatchError.ahead(subject: id, seq: seq, last: last) }
            if seq == 0 {
                subscriber.offer(.order(id: id, entry: nil, seq: last, order: order))
            } else {
                let entries = try store.history(id, after: seq)
                for (index, entry) in entries.enumerated() {
                    subscriber.offer(
                        .order(id: id, entry: entry, seq: entry.seq, order: index == entries.count - 1 ? order : nil)
                    )
                }
            }
            hub.add(subscriber, for: .order(id))
            return true
        }
    }

    /// Starts watching skus: for each, on its shard, the stock changes after its `seq` or, for
    /// `seq` 0, a snapshot of each of its pools now (none for a sku without stock yet); then every
    /// later committed change. Throws `WatchError.ahead` for a `seq` past a sku's history.
    public func watchStock(
        _ cursors: [(sku: String, after: Int64)],
        subscriber: any ChangeSubscriber,
        on loop: any EventLoop
    ) -> EventLoopFuture<Void> {
        let hub = self.hub
        let started = cursors.map { cursor in
            on(router.shard(forSKU: cursor.sku), loop, durable: false) { store in
                let last = try store.lastStockSeq(cursor.sku)
                guard cursor.after <= last else {
                    throw WatchError.ahead(subject: cursor.sku, seq: cursor.after, last: last)
                }
                if cursor.after == 0 {
                    for pool in try store.stock(sku: cursor.sku, location: nil) {
                        subscriber.offer(
                            .stock(
                                StockEvent(
                                    sku: pool.sku,
                                    seq: last,
                                    atMs: store.now(),
                                    location: pool.location,
                                    onHand: pool.onHand,
                                    reserved: pool.reserved,
                                    cause: "SNAPSHOT",
                                    reference: ""
                                )
                            )
                        )
                    }
                } else {
                    for event in try store.stockHistory(sku: cursor.sku, after: cursor.after) {
                        subscriber.offer(.stock(event))
                    }
                }
                hub.add(subscriber, for: .sku(cursor.sku))
            }
        }
        return EventLoopFuture.andAllSucceed(started, on: loop)
    }

    /// Stops `subscriber`'s watches on `keys`. Safe to call more than once.
    public func unwatch(_ subscriber: any ChangeSubscriber, keys: [WatchKey]) {
        hub.remove(subscriber, for: keys)
    }

    /// Watches open now (one per subscriber and key).
    public var watchCount: Int { hub.count }

    /// The refunds recorded for an order.
    public func refunds(orderID: String, on loop: any EventLoop) -> EventLoopFuture<[Refund]> {
        on(router.shard(forOrder: orderID), loop) { try $0.refunds(orderID: orderID) }
    }

    /// A cancellation request, if it exists.
    public func cancellation(_ id: String, on loop: any EventLoop) -> EventLoopFuture<CancellationRequest?> {
        guard let orderID = CancellationRequest.orderID(fromRequestID: id) else { return loop.makeSucceededFuture(nil) }
        return on(router.shard(forOrder: orderID), loop) { store in try store.cancellationRequest(id)?.request }
    }

    /// An account's portal inbox across all shards, newest first.
    public func notifications(
        accountID: String,
        limit: Int,
        on loop: any EventLoop
    ) -> EventLoopFuture<[StoredNotification]> {
        let perShard = workers.indices.map { index in
            on(index, loop) { try $0.notifications(accountID: accountID, limit: limit) }
        }
        return EventLoopFuture.whenAllSucceed(perShard, on: loop).map { lists in
            Array(lists.joined().sorted { ($0.createdMs, $0.id) > ($1.createdMs, $1.id) }.prefix(limit))
        }
    }

    // MARK: Stock

    public func setOnHand(
        sku: String,
        location: String,
        onHand: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<StockPool> {
        on(router.shard(forSKU: sku), loop) { store in
            try store.transaction { try store.setOnHand(sku: sku, location: location, onHand: onHand) }
        }
    }

    public func stock(sku: String, location: String?, on loop: any EventLoop) -> EventLoopFuture<[StockPool]> {
        on(router.shard(forSKU: sku), loop) { store in try store.stock(sku: sku, location: location) }
    }

    // MARK: Cross-shard delivery

    /// Delivers the shard's undelivered outbox messages to their destinations. Safe to run at any
    /// time and any number of times: receivers apply each message id once.
    func deliver(from shard: Int) {
        let start = delivering[shard].withLockedValue { state -> Bool in
            if state.running {
                state.again = true
                return false
            }
            state = (true, false)
            return true
        }
        guard start else { return }
        deliveryPass(from: shard)
    }

    private func deliveryPass(from shard: Int) {
        let batch = configuration.deliveryBatch
        let loop = eventLoop
        on(shard, loop) { store in try store.pendingOutbox(limit: batch) }.flatMap {
            messages -> EventLoopFuture<Bool> in
            guard !messages.isEmpty else { return loop.makeSucceededFuture(false) }
            let byDestination = Dictionary(grouping: messages, by: \.destination)
            let applied = byDestination.map { destination, group in
                self.on(destination, loop) { store in
                    try store.transaction { for message in group { try store.apply(message.change) } }
                }
            }
            let complete = self.completeAfterRelease
            return EventLoopFuture.andAllSucceed(applied, on: loop).flatMap {
                // The destination has durably applied them; if this mark is lost, they are delivered
                // again and the destination ignores them as already applied.
                self.on(shard, loop, durable: false) { store in try store.markDelivered(messages, complete: complete) }
            }.map { messages.count == batch }
        }.whenComplete { result in
            if case .failure(let error) = result {
                self.logger.error(
                    "outbox delivery failed; it will be retried",
                    metadata: ["shard": "\(shard)", "error": "\(error)"]
                )
            }
            let more = (try? result.get()) ?? false
            let again = self.delivering[shard].withLockedValue { state -> Bool in
                if more || state.again {
                    state.again = false
                    return true
                }
                state.running = false
                return false
            }
            if again { self.deliveryPass(from: shard) }
        }
    }

    /// Waits until no shard has undelivered outbox messages (for tests and orderly shutdown).
    public func waitForDelivery(on loop: any EventLoop) -> EventLoopFuture<Void> {
        let backlogs = workers.indices.map { index in on(index, loop) { $0.outboxBacklog } }
        return EventLoopFuture.whenAllSucceed(backlogs, on: loop).flatMap { counts in
            if counts.allSatisfy({ $0 == 0 }) { return loop.makeSucceededVoidFuture() }
            for index in self.workers.indices { self.deliver(from: index) }
            return loop.scheduleTask(in: .milliseconds(5)) {}.futureResult.flatMap { self.waitForDelivery(on: loop) }
        }
    }

    // MARK: Dead letters

    /// Records a dead letter in the shard of `key` (an order id when known).
    public func addDeadLetter(
        key: String,
        kind: String,
        priority: Int64,
        reason: String,
        detail: String,
        subject: String,
        payload: [UInt8],
        on loop: any EventLoop
    ) -> EventLoopFuture<String> {
        on(router.shard(forOrder: key), loop) { store in
            try store.transaction {
                try store.addDeadLetter(
                    kind: kind,
                    priority: priority,
                    reason: reason,
                    detail: detail,
                    subject: subject,
                    payload: payload
                )
            }
        }
    }

    /// A page of open dead letters of every shard after `position` (nil: the first page), highest
    /// priority first, then oldest; each carries the first `excerptBytes` of its payload. `more`
    /// says whether letters follow the page.
    public func deadLetters(
        limit: Int,
        after position: DeadLetterPosition? = nil,
        excerptBytes: Int = 512,
        on loop: any EventLoop
    ) -> EventLoopFuture<(letters: [DeadLetter], more: Bool)> {
        // Each shard's first limit + 1: the page's letters are among them, and one more says whether any follow.
        let perShard = workers.indices.map { index in
            on(index, loop) { try $0.openDeadLetters(limit: limit + 1, after: position, excerptBytes: excerptBytes) }
        }
        return EventLoopFuture.whenAllSucceed(perShard, on: loop).map { lists in
            let sorted = lists.joined().sorted { $0.position.precedes($1.position) }
            return (Array(sorted.prefix(limit)), sorted.count > limit)
        }
    }

    /// Open dead letters of every shard, highest priority first (then oldest), with whole payloads.
    public func deadLetters(limit: Int, on loop: any EventLoop) -> EventLoopFuture<[DeadLetter]> {
        deadLetters(limit: limit, after: nil, excerptBytes: Int(Int32.max), on: loop).map(\.letters)
    }

    /// A dead letter in any state, with the first `excerptBytes` of its payload, and its history.
    public func deadLetterRecord(
        _ id: String,
        excerptBytes: Int,
        on loop: any EventLoop
    ) -> EventLoopFuture<(letter: DeadLetter, history: [DeadLetterEvent])?> {
        guard let address = deadLetterAddress(id) else { return loop.makeSucceededFuture(nil) }
        return on(address.shard, loop) { try $0.deadLetterRecord(rowID: address.row, excerptBytes: excerptBytes) }
    }

    /// Up to `length` bytes of a dead letter's payload from `offset`; nil when there is no such letter.
    public func deadLetterPayload(
        _ id: String,
        offset: Int64,
        length: Int,
        on loop: any EventLoop
    ) -> EventLoopFuture<[UInt8]?> {
        guard let address = deadLetterAddress(id) else { return loop.makeSucceededFuture(nil) }
        return on(address.shard, loop) { try $0.deadLetterPayload(rowID: address.row, offset: offset, length: length) }
    }

    /// Closes an open dead letter without redriving it; the discard, with `actor` and `reason`, goes
    /// into its history.
    public func discardDeadLetter(
        _ id: String,
        actor: String,
        reason: String,
        excerptBytes: Int,
        on loop: any EventLoop
    ) -> EventLoopFuture<DeadLetterDiscard> {
        guard let address = deadLetterAddress(id) else { return loop.makeSucceededFuture(.notFound) }
        return on(address.shard, loop) {
            try $0.discardDeadLetter(rowID: address.row, actor: actor, reason: reason, excerptBytes: excerptBytes)
        }
    }

    /// Parses `dl-SHARD-N`.
    public func deadLetterAddress(_ id: String) -> (shard: Int, row: Int64)? { address(id, prefix: "dl") }

    /// Parses the ids of per-shard rows, `PREFIX-SHARD-N` (dead letters, emails).
    private func address(_ id: String, prefix: String) -> (shard: Int, row: Int64)? {
        let parts = id.split(separator: "-")
        guard parts.count == 3, parts[0] == prefix, let shard = Int(parts[1]), let row = Int64(parts[2]),
            workers.indices.contains(shard)
        else { return nil }
        return (shard, row)
    }

    public func deadLetter(_ id: String, on loop: any EventLoop) -> EventLoopFuture<DeadLetter?> {
        guard let address = deadLetterAddress(id) else { return loop.makeSucceededFuture(nil) }
        return on(address.shard, loop) { try $0.deadLetter(rowID: address.row) }
    }

    public func resolveDeadLetter(
        _ id: String,
        actor: String = "system",
        on loop: any EventLoop
    ) -> EventLoopFuture<Void> {
        guard let address = deadLetterAddress(id) else { return loop.makeSucceededVoidFuture() }
        return on(address.shard, loop) { try $0.resolveDeadLetter(rowID: address.row, actor: actor) }
    }

    public func failDeadLetterAgain(
        _ id: String,
        reason: String,
        detail: String,
        actor: String = "system",
        on loop: any EventLoop
    ) -> EventLoopFuture<Void> {
        guard let address = deadLetterAddress(id) else { return loop.makeSucceededVoidFuture() }
        return on(address.shard, loop) {
            try $0.failDeadLetterAgain(rowID: address.row, reason: reason, detail: detail, actor: actor)
        }
    }

    // MARK: Audit

    /// A stock pool whose reserved count differs from what the stored orders hold.
    public struct StockDiscrepancy: Sendable, Hashable, CustomStringConvertible {
        public var sku: String
        public var location: String
        public var reserved: Int64
        public var expected: Int64
        public var description: String { "\(sku)@\(location): reserved \(reserved), orders hold \(expected)" }
    }

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
            var expected: [String: Int64] = [:]
            for order in orders {
                for change in order.intakeReservations() {
                    expected["\(change.sku)@\(change.location)", default: 0] += change.quantity
                }
            }
            var discrepancies: [StockDiscrepancy] = []
            var seen = Set<String>()
            for pool in poolLists.joined() {
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

    // MARK: Health

    /// Why shards cannot write (their disk is full), one line each; empty when all can. Health
    /// updates it by probing those shards.
    public var unwritableShards: [String] { fullness.compactMap { $0.withLockedValue { $0 } } }

    /// Each shard's state. A shard whose last write failed for lack of space first tries a write
    /// of its own (the storage probe), so that it reports ready again by itself once space is back,
    /// even when no caller writes to it meanwhile.
    public func health(on loop: any EventLoop) -> EventLoopFuture<[ShardHealth]> {
        let shards = workers.map { worker in
            let depth = worker.queueDepth
            let index = worker.index
            let probed: EventLoopFuture<Void> =
                fullness[index].withLockedValue { $0 } == nil
                ? loop.makeSucceededVoidFuture()
                : worker.submit(on: loop) { store in try store.probeWrite() }.recover { _ in }
            return probed.flatMap {
                worker.submit(on: loop) { store in
                    let now = store.now()
                    let outbox = store.outboxBacklogAndOldest
                    let email = store.emailBacklogAndOldest
                    return ShardHealth(
                        index: store.index,
                        open: true,
                        queueDepth: depth,
                        outboxBacklog: outbox.count,
                        deadLetters: store.openDeadLetterCount,
                        orders: store.orderCount,
                        outboxOldestAgeMs: outbox.oldestMs.map { max(0, now - $0) } ?? 0,
                        emailBacklog: email.count,
                        emailOldestAgeMs: email.oldestMs.map { max(0, now - $0) } ?? 0,
                        storageFull: store.storageFull
                    )
                }
            }.flatMapErrorThrowing { error in
                // This read shared a group commit that failed for lack of space: the shard is open
                // and readable, but cannot write; its counts are unknown this time.
                guard let storageError = error as? StorageError, storageError.isStorageFull else { throw error }
                return ShardHealth(
                    index: index,
                    open: true,
                    queueDepth: depth,
                    outboxBacklog: 0,
                    deadLetters: 0,
                    orders: 0,
                    storageFull: self.fullness[index].withLockedValue { $0 }
                        ?? "shard \(index) cannot write: storage is full (\(storageError))"
                )
            }
        }
        return EventLoopFuture.whenAllSucceed(shards, on: loop)
    }
}

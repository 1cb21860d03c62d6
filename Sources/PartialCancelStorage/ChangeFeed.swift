import NIOConcurrencyHelpers
import PartialCancelDomain

/// One entry of an order's history: a change to the order, one of its cancellation requests or a
/// refund, with who made it, when, and the state before and after (`from` is empty for a creation).
public struct HistoryEntry: Sendable, Hashable {
    /// Position in the order's history: 1, 2, 3, … in commit order.
    public var seq: Int64
    public var atMs: Int64
    public var actor: String
    public var event: String
    /// What changed: the order id, a cancellation request id, a refund id or a line id.
    public var subject: String
    public var from: String
    public var to: String
    public var detail: String

    public init(
        seq: Int64,
        atMs: Int64,
        actor: String,
        event: String,
        subject: String,
        from: String,
        to: String,
        detail: String
    ) {
        self.seq = seq
        self.atMs = atMs
        self.actor = actor
        self.event = event
        self.subject = subject
        self.from = from
        self.to = to
        self.detail = detail
    }
}

/// A change to one stock pool as committed: the pool after it, and what caused it.
public struct StockEvent: Sendable, Hashable {
    public var sku: String
    /// Position in the sku's stock history: 1, 2, 3, … in commit order (all its locations).
    public var seq: Int64
    public var atMs: Int64
    public var location: String
    public var onHand: Int64
    public var reserved: Int64
    /// SET_ON_HAND, RESERVE or RELEASE; SNAPSHOT for the current state sent when a watch starts.
    public var cause: String
    /// The stock message id for reservations and releases; empty otherwise.
    public var reference: String

    package init(
        sku: String,
        seq: Int64,
        atMs: Int64,
        location: String,
        onHand: Int64,
        reserved: Int64,
        cause: String,
        reference: String
    ) {
        self.sku = sku
        self.seq = seq
        self.atMs = atMs
        self.location = location
        self.onHand = onHand
        self.reserved = reserved
        self.cause = cause
        self.reference = reference
    }
}

/// What a watch is about.
public enum WatchKey: Sendable, Hashable {
    case order(String)
    case sku(String)
}

/// A committed change, pushed to the watchers of its key in commit order.
public enum ChangeEvent: Sendable {
    /// A history entry of an order. `order` is the order right after it: set on the last entry of
    /// each commit (and on the snapshot a watch starts with); nil on the others. `entry` is nil only
    /// on a snapshot.
    case order(id: String, entry: HistoryEntry?, seq: Int64, order: Order?)
    case stock(StockEvent)

    public var key: WatchKey {
        switch self {
        case .order(let id, _, _, _): .order(id)
        case .stock(let event): .sku(event.sku)
        }
    }

    public var seq: Int64 {
        switch self {
        case .order(_, _, let seq, _): seq
        case .stock(let event): event.seq
        }
    }

    var isSnapshot: Bool {
        switch self {
        case .order(_, let entry, _, _): entry == nil
        case .stock(let event): event.cause == "SNAPSHOT"
        }
    }
}

/// Receives committed changes. `offer` is called on a shard's thread and must never block or do
/// slow work: queue and return.
public protocol ChangeSubscriber: AnyObject, Sendable {
    func offer(_ event: ChangeEvent)
}

/// Who watches what, shared by all shards. Shards look up watchers when they commit; with no
/// watcher on a key, a commit costs one dictionary lookup per change.
final class WatchHub: Sendable {
    private let watchers = NIOLockedValueBox([WatchKey: [ObjectIdentifier: any ChangeSubscriber]]())

    func add(_ subscriber: any ChangeSubscriber, for key: WatchKey) {
        watchers.withLockedValue { $0[key, default: [:]][ObjectIdentifier(subscriber)] = subscriber }
    }

    func remove(_ subscriber: any ChangeSubscriber, for keys: [WatchKey]) {
        watchers.withLockedValue { watchers in
            for key in keys {
                watchers[key]?[ObjectIdentifier(subscriber)] = nil
                if watchers[key]?.isEmpty == true { watchers[key] = nil }
            }
        }
    }

    /// The events someone watches, under one lock.
    func watched(_ events: [ChangeEvent]) -> [ChangeEvent] {
        watchers.withLockedValue { watchers in
            watchers.isEmpty ? [] : events.filter { watchers[$0.key] != nil }
        }
    }

    var count: Int { watchers.withLockedValue { $0.values.reduce(0) { $0 + $1.count } } }

    func publish(_ events: [ChangeEvent]) {
        let targets: [(any ChangeSubscriber, ChangeEvent)] = watchers.withLockedValue { watchers in
            events.flatMap { event in (watchers[event.key]?.values).map { $0.map { ($0, event) } } ?? [] }
        }
        for (subscriber, event) in targets { subscriber.offer(event) }
    }
}

/// Changes written in a shard's open transaction, layered like its savepoints: a rollback drops its
/// layer's changes, and only the outermost commit hands them on. Used only on the shard's thread.
struct PendingChanges {
    private var layers: [[ChangeEvent]] = []

    mutating func begin() { layers.append([]) }

    mutating func record(_ event: ChangeEvent) {
        if !layers.isEmpty { layers[layers.count - 1].append(event) }
    }

    /// Ends a level; returns the changes now committed for good (only at the outermost level).
    mutating func commit() -> [ChangeEvent] {
        let top = layers.removeLast()
        if layers.isEmpty { return top }
        layers[layers.count - 1].append(contentsOf: top)
        return []
    }

    mutating func rollback() { layers.removeLast() }
}

/// A watcher's bounded queue: changes are offered on shard threads and taken on the watcher's own
/// thread. A change at or below the last sequence number queued for its key is dropped, so a watch
/// that starts while a commit is in flight repeats nothing. Past `limit` queued changes the queue
/// overflows: it takes nothing more, and the watcher is told once, to end the watch.
public final class ChangeQueue: ChangeSubscriber, @unchecked Sendable {
    public let limit: Int
    private let lock = NIOLock()
    private var events: [ChangeEvent] = []
    private var lastSeq: [WatchKey: Int64] = [:]
    private var overflowed = false
    private var woken = false
    private let wake: @Sendable () -> Void

    /// - Parameter wake: called (on a shard's thread) when changes arrive in an empty queue or it
    ///   overflows; it should schedule a `take` on the watcher's thread.
    public init(limit: Int, wake: @escaping @Sendable () -> Void) {
        self.limit = max(1, limit)
        self.wake = wake
    }

    public func offer(_ event: ChangeEvent) {
        let shouldWake: Bool = lock.withLock {
            guard !overflowed else { return false }
            let key = event.key
            if let last = lastSeq[key], event.seq < last || (event.seq == last && !event.isSnapshot) { return false }
            lastSeq[key] = event.seq
            if events.count >= limit {
                // The watcher must hear of it even while its queue waits for a writable connection.
                overflowed = true
                events.removeAll()
                woken = true
                return true
            }
            events.append(event)
            guard !woken else { return false }
            woken = true
            return true
        }
        if shouldWake { wake() }
    }

    /// Up to `max` queued changes, oldest first. Once the queue is empty, the next arrival wakes
    /// the watcher again.
    public func take(max: Int) -> [ChangeEvent] {
        lock.withLock {
            let batch = Array(events.prefix(max))
            events.removeFirst(batch.count)
            if events.isEmpty { woken = false }
            return batch
        }
    }

    /// Whether the queue overflowed: the watch must end.
    public var hasOverflowed: Bool { lock.withLock { overflowed } }

    public var count: Int { lock.withLock { events.count } }
}

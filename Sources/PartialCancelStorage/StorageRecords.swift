import Foundation
import PartialCancelDomain

// The records the store hands out and takes in, besides the domain's own types.

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

    package init(
        id: String,
        kind: String,
        priority: Int64,
        reason: String,
        detail: String,
        subject: String,
        payload: [UInt8],
        attempts: Int64,
        createdMs: Int64,
        updatedMs: Int64,
        payloadBytes: Int64 = 0,
        payloadSHA256: String = "",
        state: String = "OPEN",
        resolvedMs: Int64 = 0,
        shard: Int = 0,
        row: Int64 = 0
    ) {
        self.id = id
        self.kind = kind
        self.priority = priority
        self.reason = reason
        self.detail = detail
        self.subject = subject
        self.payload = payload
        self.attempts = attempts
        self.createdMs = createdMs
        self.updatedMs = updatedMs
        self.payloadBytes = payloadBytes
        self.payloadSHA256 = payloadSHA256
        self.state = state
        self.resolvedMs = resolvedMs
        self.shard = shard
        self.row = row
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

    package init(atMs: Int64, actor: String, event: String, detail: String) {
        self.atMs = atMs
        self.actor = actor
        self.event = event
        self.detail = detail
    }
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

    package init(
        id: String,
        rowID: Int64,
        recipient: String,
        subject: String,
        body: String,
        cancellationID: String,
        attempts: Int,
        createdMs: Int64
    ) {
        self.id = id
        self.rowID = rowID
        self.recipient = recipient
        self.subject = subject
        self.body = body
        self.cancellationID = cancellationID
        self.attempts = attempts
        self.createdMs = createdMs
    }
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

    package init(id: String, createdMs: Int64, notification: PortalNotification) {
        self.id = id
        self.createdMs = createdMs
        self.notification = notification
    }
}

/// One shard's database: everything done with one SQLite connection. Used only on its worker's thread.

public enum WatchError: Error, Sendable, Hashable {
    /// A watch asked to resume after `seq`, but the history of `subject` ends at `last`.
    case ahead(subject: String, seq: Int64, last: Int64)
}

/// The outcome of an ingest: the stored order, and whether this call created it.
public struct IngestOutcome: Sendable {
    public var order: Order
    public var created: Bool

    package init(order: Order, created: Bool) {
        self.order = order
        self.created = created
    }
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

// Members for the other backends of the storage port (modules of this package).
extension ShardHealth {
    package init(index: Int, open: Bool, queueDepth: Int, outboxBacklog: Int64, deadLetters: Int64, orders: Int64) {
        self.index = index
        self.open = open
        self.queueDepth = queueDepth
        self.outboxBacklog = outboxBacklog
        self.deadLetters = deadLetters
        self.orders = orders
    }
}

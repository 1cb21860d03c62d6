import NIOCore
import PartialCancelDomain

// The storage port: what the services need from a store, one protocol per concern. The embedded
// SQLite `Storage` is one implementation (docs/SCALING.md); a backend carries out the decisions it
// is handed (`decide` closures, run inside its transaction) and decides nothing itself.

/// Who presents a confirmation token, and how many wrong ones they may present per window. A store
/// that several processes share counts them where every process sees them; a store owned by one
/// process (SQLite) leaves the count to that process, whose in-memory limiter is then exact.
public struct TokenPresenter: Sendable, Hashable {
    /// The principal, and for a portal the customer it acts for.
    public var caller: String
    public var limit: Int
    public var windowMs: Int64

    public init(caller: String, limit: Int, windowMs: Int64) {
        self.caller = caller
        self.limit = limit
        self.windowMs = windowMs
    }
}

/// The presenter sent `limit` wrong tokens in the current window: its confirmations and declines
/// are refused without a token being looked at until the window ends.
public struct TokenAttemptsLimited: Error, Hashable, Sendable {
    public var retryAfterMs: Int64
    public var limit: Int
    public var windowMs: Int64

    public init(retryAfterMs: Int64, limit: Int, windowMs: Int64) {
        self.retryAfterMs = retryAfterMs
        self.limit = limit
        self.windowMs = windowMs
    }
}

/// A refusal that may answer a wrong token: those count against the presenter's limit.
public protocol WrongTokenRefusal: Error {
    var countsAsWrongToken: Bool { get }
}

/// Orders: intake, and reads with history.
public protocol OrderStore: Sendable {
    /// Stores a newly priced order with its stock reservations, or returns the order already stored
    /// under its id (an ingest retried with the same channel and external id).
    func ingest(_ order: Order, actor: String, on loop: any EventLoop) -> EventLoopFuture<IngestOutcome>

    /// The order and its history, or nil.
    func order(_ id: String, on loop: any EventLoop) -> EventLoopFuture<(order: Order, history: [HistoryEntry])?>
}

/// Fulfilment events reported by warehouses and partners.
public protocol FulfilmentStore: Sendable {
    /// Records a batch of one order's fulfilment events in one transaction of the order's shard,
    /// serialised with every other change of the order (by its row lock where several processes
    /// share the store). Events recorded before under the same source and event id come back as
    /// duplicates with what was decided then; `decide` sees the order, its requests pending at
    /// `nowMs` and the other events, and the store carries out its decision: the order, the
    /// outcomes of the applied and ignored events (refused ones are not recorded), the history,
    /// the aborted requests and their messages, and the consumed stock (through the outbox when
    /// its pool lives elsewhere). Nil when there is no such order.
    func recordFulfilment(
        orderID: String,
        events: [FulfilmentEvent],
        actor: String,
        nowMs: Int64,
        on loop: any EventLoop,
        decide: @escaping @Sendable (Order, [CancellationRequest], [FulfilmentEvent]) throws -> FulfilmentWrite
    ) -> EventLoopFuture<FulfilmentRecordResult?>
}

/// What a store writes for a batch of fulfilment events: the domain's decision and the customers'
/// messages about the requests it aborted.
public struct FulfilmentWrite: Sendable {
    public var decision: FulfilmentDecision
    public var notifications: [PortalNotification]

    public init(decision: FulfilmentDecision, notifications: [PortalNotification]) {
        self.decision = decision
        self.notifications = notifications
    }
}

/// A batch of one order's fulfilment events, after commit.
public struct FulfilmentRecordResult: Sendable {
    /// The order after the batch.
    public var order: Order
    /// One per event of the batch, in its order: the duplicates with what was decided before.
    public var outcomes: [FulfilmentEventOutcome]
    /// The requests the batch aborted, as stored.
    public var aborted: [AbortedRequest]

    package init(events: [FulfilmentEvent], recorded: [String: FulfilmentEventOutcome], decision: FulfilmentDecision) {
        var decided = decision.outcomes.makeIterator()
        order = decision.order
        outcomes = events.compactMap { recorded[FulfilmentEventKey($0).value] ?? decided.next() }
        aborted = decision.aborted
    }
}

/// The idempotency key of a fulfilment event, and how a recorded one reads when it comes again.
package struct FulfilmentEventKey {
    package let value: String

    package init(_ event: FulfilmentEvent) { value = "\(event.source)\u{0}\(event.eventID)" }

    /// What a store answers for `event` found recorded with these columns: a duplicate carrying the
    /// first decision, or a refusal when the source used the id for another order or line.
    package static func recorded(
        _ event: FulfilmentEvent,
        orderID: String,
        lineID: String,
        result: String,
        detail: String,
        orderVersion: Int64
    ) -> FulfilmentEventOutcome {
        guard orderID == event.orderID, lineID == event.lineID else {
            return FulfilmentEventOutcome(
                event,
                result: .refused,
                detail:
                    "\(event.source) event '\(event.eventID)' was recorded for order \(orderID) line \(lineID): an event id names one event",
                reason: DomainError.Code.inconsistent.name,
                orderVersion: orderVersion
            )
        }
        let first = detail.isEmpty ? result : "\(result): \(detail)"
        return FulfilmentEventOutcome(
            event,
            result: .duplicate,
            detail: "recorded before (\(first))",
            orderVersion: orderVersion
        )
    }
}

/// Cancellation requests and refunds.
public protocol CancellationStore: Sendable {
    /// The order and the ids of the lines its pending requests cover at `nowMs`.
    func orderWithPendingLines(
        _ id: String,
        nowMs: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<(order: Order, pendingLineIDs: Set<String>)?>

    /// Creates a cancellation request in one transaction of the order's shard: `decide` sees the
    /// order, the lines of its pending requests and the new request's id, and returns the request,
    /// its token's hash and the customer's notification (or throws to refuse, writing nothing).
    func createCancellation(
        orderID: String,
        nowMs: Int64,
        on loop: any EventLoop,
        decide:
            @escaping @Sendable (Order, Set<String>, String) throws -> (
                CancellationRequest, [UInt8], PortalNotification
            )?
    )
        -> EventLoopFuture<CancellationRequest?>

    /// Confirms, declines or withdraws a request in one transaction of its order's shard. `decide`
    /// sees the request, its token hash, the order and the lines of the order's other pending requests.
    /// `presenter` is who presents a token (nil for a withdrawal): a store that several processes
    /// share refuses a presenter at its limit with `TokenAttemptsLimited` before `decide` runs, and
    /// counts a wrong token (a refusal that is a `WrongTokenRefusal`) in the same transaction.
    func settleCancellation(
        _ id: String,
        actor: String,
        presenter: TokenPresenter?,
        nowMs: Int64,
        on loop: any EventLoop,
        decide: @escaping @Sendable (CancellationRequest, [UInt8], Order, Set<String>) throws -> CancellationDecision
    )
        -> EventLoopFuture<CancellationResult?>

    /// Where a confirmed cancellation's stock releases stand: the request, and whether any release
    /// still waits in the outbox. A waiting one is delivered again now (idempotently).
    func releaseStatus(
        _ id: String,
        on loop: any EventLoop
    ) -> EventLoopFuture<(request: CancellationRequest, releases: [StockChange], waiting: Bool)?>

    /// The refunds recorded for an order.
    func refunds(orderID: String, on loop: any EventLoop) -> EventLoopFuture<[Refund]>

    /// A cancellation request, if it exists.
    func cancellation(_ id: String, on loop: any EventLoop) -> EventLoopFuture<CancellationRequest?>
}

/// A refund allocation due to go to the payment service, with the attempts made so far.
public struct DuePayment: Sendable, Hashable {
    public var allocation: RefundAllocation
    public var attempts: Int

    public init(allocation: RefundAllocation, attempts: Int) {
        self.allocation = allocation
        self.attempts = attempts
    }
}

/// Refund allocations on their way to the payment service (docs/PAYMENTS.md): an outbox written
/// in the confirmation's transaction, delivered at least once, settled once.
public protocol PaymentStore: Sendable {
    /// An order's allocations, oldest first.
    func refundAllocations(orderID: String, on loop: any EventLoop) -> EventLoopFuture<[RefundAllocation]>

    /// Allocations due to be sent (PENDING, not taken by the service yet, not dead), from every shard.
    func duePayments(nowMs: Int64, limit: Int, on loop: any EventLoop) -> EventLoopFuture<[DuePayment]>

    /// The service took the allocation; its result comes later.
    func paymentAccepted(_ payment: DuePayment, on loop: any EventLoop) -> EventLoopFuture<Void>

    /// Sending failed in a way worth retrying: again at `nextAttemptMs`.
    func paymentRetry(
        _ payment: DuePayment,
        error: String,
        nextAttemptMs: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<Void>

    /// Gives up sending: the allocation stays PENDING and becomes a dead letter (kind `payment`,
    /// priority its amount) that can be re-driven.
    func paymentDead(_ payment: DuePayment, error: String, on loop: any EventLoop) -> EventLoopFuture<Void>

    /// Re-queues the allocation a `payment` dead letter is about, and closes the dead letter.
    func revivePayment(deadLetter: DeadLetter, on loop: any EventLoop) -> EventLoopFuture<Bool>

    /// Records a result in one transaction of the allocation's order: `decide` sees the allocation
    /// and the store carries out its settlement (the allocation, the history entry, a fallback
    /// allocation). Nil when there is no such allocation.
    func settlePayment(
        _ id: String,
        actor: String,
        on loop: any EventLoop,
        decide: @escaping @Sendable (RefundAllocation) -> PaymentSettlement
    ) -> EventLoopFuture<PaymentSettlement?>
}

/// One event on its way to one webhook subscription.
public struct OutboundEvent: Sendable, Hashable {
    /// `ev-SHARD-N` (or `ev-DATABASE-N`): the row.
    public var id: String
    public var subscription: String
    /// The order id, or `sku:SKU`: events of one key are delivered in `seq` order.
    public var key: String
    public var seq: Int64
    public var type: String
    /// The JSON body (docs/EVENTS.md).
    public var payload: [UInt8]
    /// Attempts made so far.
    public var attempts: Int

    public init(
        id: String,
        subscription: String,
        key: String,
        seq: Int64,
        type: String,
        payload: [UInt8],
        attempts: Int
    ) {
        self.id = id
        self.subscription = subscription
        self.key = key
        self.seq = seq
        self.type = type
        self.payload = payload
        self.attempts = attempts
    }

    /// The event's own id, the same for every subscriber and every retry: `KEY/SEQ`.
    public var eventID: String { "\(key)/\(seq)" }
}

/// What an `event` dead letter holds: the row's id as its subject, the body as its payload.
package enum EventDeadLetter {
    package static let kind = "event"
}

/// Events for touchpoints' webhook subscriptions (docs/EVENTS.md): written beside the change that
/// causes them (the routes are the store's configuration), delivered at least once and in order
/// per subscription and key.
public protocol EventOutboxStore: Sendable {
    /// Up to `limit` keys' due events, from every shard; each group is one subscription's events
    /// of one key, in seq order, at most `perKey` of them, starting with the first not yet sent.
    func dueEvents(nowMs: Int64, limit: Int, perKey: Int, on loop: any EventLoop) -> EventLoopFuture<[[OutboundEvent]]>

    func eventSent(_ event: OutboundEvent, on loop: any EventLoop) -> EventLoopFuture<Void>

    func eventRetry(
        _ event: OutboundEvent,
        error: String,
        nextAttemptMs: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<Void>

    /// Gives up on an event: it becomes a dead letter (kind `event`), and its key's later events
    /// for the subscription wait until it is re-driven.
    func eventDead(_ event: OutboundEvent, error: String, on loop: any EventLoop) -> EventLoopFuture<Void>

    /// Re-queues the event an `event` dead letter is about, and closes the dead letter.
    func reviveEvent(deadLetter: DeadLetter, on loop: any EventLoop) -> EventLoopFuture<Bool>

    /// Forgets events sent before `beforeMs`; returns how many.
    func pruneEvents(beforeMs: Int64, on loop: any EventLoop) -> EventLoopFuture<Int>
}

/// Stock pools.
public protocol StockStore: Sendable {
    func setOnHand(
        sku: String,
        location: String,
        onHand: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<StockPool>

    func stock(sku: String, location: String?, on loop: any EventLoop) -> EventLoopFuture<[StockPool]>
}

/// The portal inbox and the email outbox.
public protocol NotificationStore: Sendable {
    /// An account's portal inbox across all shards, newest first.
    func notifications(
        accountID: String,
        limit: Int,
        on loop: any EventLoop
    ) -> EventLoopFuture<[StoredNotification]>

    /// Emails due for delivery, from every shard.
    func dueEmails(nowMs: Int64, limit: Int, on loop: any EventLoop) -> EventLoopFuture<[OutboundEmail]>

    func emailSent(_ email: OutboundEmail, on loop: any EventLoop) -> EventLoopFuture<Void>

    func emailFailed(
        _ email: OutboundEmail,
        error: String,
        nextAttemptMs: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<Void>

    /// Gives up on an email: it becomes a dead letter (kind `notification`) that can be re-driven.
    func emailDead(_ email: OutboundEmail, error: String, on loop: any EventLoop) -> EventLoopFuture<Void>

    /// Re-queues the email a `notification` dead letter is about, and closes the dead letter.
    func reviveEmail(deadLetter: DeadLetter, on loop: any EventLoop) -> EventLoopFuture<Bool>
}

/// Dead letters.
public protocol DeadLetterStore: Sendable {
    /// Records a dead letter in the shard of `key` (an order id when known).
    func addDeadLetter(
        key: String,
        kind: String,
        priority: Int64,
        reason: String,
        detail: String,
        subject: String,
        payload: [UInt8],
        on loop: any EventLoop
    ) -> EventLoopFuture<String>

    /// A page of open dead letters of every shard after `position` (nil: the first page), highest
    /// priority first, then oldest; each carries the first `excerptBytes` of its payload. `more`
    /// says whether letters follow the page.
    func deadLetters(
        limit: Int,
        after position: DeadLetterPosition?,
        excerptBytes: Int,
        on loop: any EventLoop
    ) -> EventLoopFuture<(letters: [DeadLetter], more: Bool)>

    /// Open dead letters of every shard, highest priority first (then oldest), with whole payloads.
    func deadLetters(limit: Int, on loop: any EventLoop) -> EventLoopFuture<[DeadLetter]>

    /// A dead letter in any state, with the first `excerptBytes` of its payload, and its history.
    func deadLetterRecord(
        _ id: String,
        excerptBytes: Int,
        on loop: any EventLoop
    ) -> EventLoopFuture<(letter: DeadLetter, history: [DeadLetterEvent])?>

    /// Up to `length` bytes of a dead letter's payload from `offset`; nil when there is no such letter.
    func deadLetterPayload(
        _ id: String,
        offset: Int64,
        length: Int,
        on loop: any EventLoop
    ) -> EventLoopFuture<[UInt8]?>

    /// Closes an open dead letter without redriving it; the discard, with `actor` and `reason`, goes
    /// into its history.
    func discardDeadLetter(
        _ id: String,
        actor: String,
        reason: String,
        excerptBytes: Int,
        on loop: any EventLoop
    ) -> EventLoopFuture<DeadLetterDiscard>

    func deadLetter(_ id: String, on loop: any EventLoop) -> EventLoopFuture<DeadLetter?>

    func resolveDeadLetter(
        _ id: String,
        actor: String,
        on loop: any EventLoop
    ) -> EventLoopFuture<Void>

    func failDeadLetterAgain(
        _ id: String,
        reason: String,
        detail: String,
        actor: String,
        on loop: any EventLoop
    ) -> EventLoopFuture<Void>
}

/// Idempotency keys.
public protocol IdempotencyStore: Sendable {
    /// Claims an idempotency scope (principal, method, key) for a request with `fingerprint`.
    func claimIdempotency(
        scope: String,
        fingerprint: [UInt8],
        nowMs: Int64,
        retentionMs: Int64,
        staleAfterMs: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<IdempotencyClaim>

    /// Stores the reply of a claimed scope.
    func completeIdempotency(
        scope: String,
        status: [UInt8],
        response: [UInt8],
        nowMs: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<Void>

    /// Gives a claim back (the call failed in a way worth retrying).
    func releaseIdempotency(scope: String, on loop: any EventLoop) -> EventLoopFuture<Void>
}

/// Watches of orders and stock.
public protocol ChangeFeedStore: Sendable {
    /// Starts watching an order: queues, on the order's shard, the history entries after `seq`
    /// (the last one carrying the current order) or, for `seq` 0, a snapshot of the order now;
    /// then `subscriber` gets every later committed entry. Returns false (watching nothing) when
    /// the order does not exist; throws `WatchError.ahead` for a `seq` past the order's history, and
    /// what `check` throws (given the order, before anything is queued).
    func watchOrder(
        _ id: String,
        after seq: Int64,
        subscriber: any ChangeSubscriber,
        on loop: any EventLoop,
        check: @escaping @Sendable (Order) throws -> Void
    ) -> EventLoopFuture<Bool>

    /// Starts watching skus: for each, on its shard, the stock changes after its `seq` or, for
    /// `seq` 0, a snapshot of each of its pools now (none for a sku without stock yet); then every
    /// later committed change. Throws `WatchError.ahead` for a `seq` past a sku's history.
    func watchStock(
        _ cursors: [(sku: String, after: Int64)],
        subscriber: any ChangeSubscriber,
        on loop: any EventLoop
    ) -> EventLoopFuture<Void>

    /// Stops `subscriber`'s watches on `keys`. Safe to call more than once.
    func unwatch(_ subscriber: any ChangeSubscriber, keys: [WatchKey])

    /// Watches open now (one per subscriber and key).
    var watchCount: Int { get }
}

/// Health and lifecycle.
public protocol StoreHealth: Sendable {
    /// Why shards cannot write (their disk is full), one line each; empty when all can. Health
    /// updates it by probing those shards.
    var unwritableShards: [String] { get }

    /// Each shard's state. A shard whose last write failed for lack of space first tries a write
    /// of its own (the storage probe), so that it reports ready again by itself once space is back,
    /// even when no caller writes to it meanwhile.
    func health(on loop: any EventLoop) -> EventLoopFuture<[ShardHealth]>

    /// How many shards hold the data (a dead-letter cursor names one).
    var shardCount: Int { get }

    /// Whether this start created the store (the sample data is seeded only then).
    var isNew: Bool { get }

    /// The time of day the store stamps its records with.
    var clock: WallClock { get }

    /// Completes once every stock change written so far has reached its destination.
    func waitForDelivery(on loop: any EventLoop) -> EventLoopFuture<Void>

    /// Stops the store's workers and releases it.
    func close()
}

/// Everything the server needs from its store.
public typealias StorePort = OrderStore & FulfilmentStore & CancellationStore & PaymentStore & EventOutboxStore
    & StockStore & NotificationStore & DeadLetterStore & IdempotencyStore & ChangeFeedStore & StoreHealth

extension Storage: OrderStore, FulfilmentStore, CancellationStore, PaymentStore, EventOutboxStore, StockStore,
    NotificationStore, DeadLetterStore, IdempotencyStore, ChangeFeedStore, StoreHealth
{
    public var shardCount: Int { router.count }
}

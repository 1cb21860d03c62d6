import Foundation
import NIOCore
import NIOPosix
import PartialCancelDomain
import PartialCancelStorage
import PartialCancelWire

/// Fulfilment events from warehouses and 3PL partners (docs/FULFILMENT.md): a source's batch is
/// parsed whole, then each order's events are applied in one transaction of the order; what cannot
/// apply becomes a dead letter that can be re-driven.
struct FulfilmentService {
    let storage: any StorePort
    let intake: FulfilmentIntake
    let policies: Reloadable<CancellationPolicy>
    var policy: CancellationPolicy { policies.current }
    let now: @Sendable () -> Int64
    /// Where each source's accepted, retried and refused events are counted.
    let sources: SourceHealthTracker
    var pool: NIOThreadPool = .singleton

    /// Dead-letter kinds: a whole batch that could not be read, and one event that could not apply.
    static let batchKind = "fulfilment"
    static let eventKind = "fulfilment-event"

    var methods: [MethodDescriptor] {
        [
            .unary(Methods.recordFulfilmentEvents, request: RecordFulfilmentEventsRequest.self) { context, request in
                record(context, request)
            }
        ]
    }

    /// A batch after it was applied: each event's result (in the batch's order) and the requests aborted.
    struct Recorded: Sendable {
        var results: [FulfilmentEventResult]
        var aborted: [CancellationRequest]
        var refused: Int { results.filter { $0.result == FulfilmentEventOutcome.Result.refused.rawValue }.count }
    }

    /// What reading a batch gave: its events, or the refusal (kept as a dead letter by the caller).
    enum Parsed: Sendable {
        case events([FulfilmentEvent])
        case refused(DomainError)
    }

    private func record(
        _ context: CallContext,
        _ request: RecordFulfilmentEventsRequest
    ) -> EventLoopFuture<RecordFulfilmentEventsResponse> {
        let payload = Array(buffer: request.payload)
        let actor = "\(context.principal.name) via \(request.source)"
        let nowMs = now()
        return parse(source: request.source, payload: payload, on: context.eventLoop).flatMap { parsed in
            switch parsed {
            case .events(let events):
                return apply(events, actor: actor, on: context.eventLoop).map { recorded in
                    count(recorded, source: request.source)
                    context.log(
                        .info,
                        "fulfilment events recorded",
                        metadata: [
                            "source": "\(request.source)", "events": "\(events.count)",
                            "refused": "\(recorded.refused)", "aborted": "\(recorded.aborted.count)",
                        ]
                    )
                    return RecordFulfilmentEventsResponse(
                        results: recorded.results,
                        aborted: recorded.aborted.map { ViewMapping.view($0, nowMs: nowMs) }
                    )
                }
            case .refused(let error):
                return storage.addDeadLetter(
                    key: request.source,
                    kind: Self.batchKind,
                    priority: 0,
                    reason: error.code.name,
                    detail: error.description,
                    subject: request.source,
                    payload: payload,
                    on: context.eventLoop
                ).flatMapThrowing { id in
                    sources.record(request.source, .rejected)
                    context.log(
                        .info,
                        "fulfilment batch refused",
                        metadata: ["source": "\(request.source)", "path": "\(error.path)", "dead_letter": "\(id)"]
                    )
                    throw IntakeRefused(error: error, deadLetterID: id)
                }
            }
        }
    }

    /// Counts a batch's results for its source's health: applied and ignored events were accepted
    /// (with their lag), duplicates were retries, refused ones rejected.
    private func count(_ recorded: Recorded, source: String) {
        let arrived = now()
        for result in recorded.results {
            switch FulfilmentEventOutcome.Result(rawValue: result.result) {
            case .applied, .ignored: sources.record(source, .accepted(lagMs: arrived - result.occurredMs))
            case .duplicate: sources.record(source, .retry)
            case .refused, nil: sources.record(source, .rejected)
            }
        }
    }

    /// Reads a source's batch; large ones off the event loop.
    func parse(source: String, payload: [UInt8], on eventLoop: any EventLoop) -> EventLoopFuture<Parsed> {
        let intake = self.intake
        let work: @Sendable () -> Parsed = {
            do throws(DomainError) {
                return .events(try intake.events(source: source, payload: payload))
            } catch {
                return .refused(error)
            }
        }
        guard payload.count > IntakeParser.inlineParseBytes else { return eventLoop.makeSucceededFuture(work()) }
        return pool.runIfActive(eventLoop: eventLoop, work)
    }

    /// Applies events, each order's in one transaction (orders side by side), and keeps every
    /// refused event as a dead letter (unless `deadLettering` is false: a re-drive keeps its own).
    func apply(
        _ events: [FulfilmentEvent],
        actor: String,
        deadLettering: Bool = true,
        on loop: any EventLoop
    ) -> EventLoopFuture<Recorded> {
        var orderIDs: [String] = []
        var byOrder: [String: [FulfilmentEvent]] = [:]
        for event in events {
            if byOrder[event.orderID] == nil { orderIDs.append(event.orderID) }
            byOrder[event.orderID, default: []].append(event)
        }
        let storage = self.storage
        let policy = self.policy
        let nowMs = now()
        let perOrder = orderIDs.map {
            orderID -> EventLoopFuture<(results: [FulfilmentEventResult], aborted: [CancellationRequest])> in
            let batch = byOrder[orderID]!
            return storage.recordFulfilment(orderID: orderID, events: batch, actor: actor, nowMs: nowMs, on: loop) {
                order,
                pending,
                fresh in
                let decision = FulfilmentSettlement.decide(
                    order: order,
                    events: fresh,
                    pending: pending,
                    policy: policy,
                    nowMs: nowMs
                )
                return FulfilmentWrite(
                    decision: decision,
                    notifications: decision.aborted.map { Self.message(for: $0, order: order) }
                )
            }.flatMap { recorded in
                let outcomes =
                    recorded?.outcomes
                    ?? batch.map {
                        FulfilmentEventOutcome(
                            $0,
                            result: .refused,
                            detail: AccountScope.noOrder(orderID),
                            reason: ReasonCode.orderNotFound.rawValue,
                            orderVersion: 0
                        )
                    }
                guard deadLettering else {
                    return loop.makeSucceededFuture(
                        (results: outcomes.map(Self.view), aborted: recorded?.aborted.map(\.after) ?? [])
                    )
                }
                let priority = recorded.map { Self.priority(of: $0.order) } ?? 0
                return Self.deadLettering(outcomes, of: batch, priority: priority, storage: storage, on: loop).map {
                    (results: $0, aborted: recorded?.aborted.map(\.after) ?? [])
                }
            }
        }
        return EventLoopFuture.whenAllSucceed(perOrder, on: loop).map { parts in
            // Back into the batch's order.
            var results: [String: FulfilmentEventResult] = [:]
            for part in parts { for result in part.results { results[result.eventID] = result } }
            return Recorded(
                results: events.compactMap { results[$0.eventID] },
                aborted: parts.flatMap(\.aborted)
            )
        }
    }

    /// The results of one order's events, each refused one kept as a dead letter first (its
    /// normalised event is the payload a re-drive applies).
    private static func deadLettering(
        _ outcomes: [FulfilmentEventOutcome],
        of events: [FulfilmentEvent],
        priority: Int64,
        storage: any StorePort,
        on loop: any EventLoop
    ) -> EventLoopFuture<[FulfilmentEventResult]> {
        let byID = Dictionary(events.map { ($0.eventID, $0) }, uniquingKeysWith: { first, _ in first })
        let results = outcomes.map { outcome -> EventLoopFuture<FulfilmentEventResult> in
            var result = view(outcome)
            guard outcome.result == .refused, let event = byID[outcome.eventID] else {
                return loop.makeSucceededFuture(result)
            }
            return storage.addDeadLetter(
                key: outcome.orderID,
                kind: eventKind,
                priority: priority,
                reason: outcome.reason,
                detail: outcome.path.isEmpty ? outcome.detail : "\(outcome.path): \(outcome.detail)",
                subject: outcome.source,
                payload: encoded(event),
                on: loop
            ).map { id in
                result.deadLetterID = id
                return result
            }
        }
        return EventLoopFuture.whenAllSucceed(results, on: loop)
    }

    /// A dead letter's payload for one event: the normalised event as JSON.
    static func encoded(_ event: FulfilmentEvent) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? Array(encoder.encode(event))) ?? []
    }

    /// The event a `fulfilment-event` dead letter keeps.
    static func decodedEvent(_ payload: [UInt8]) -> FulfilmentEvent? {
        try? JSONDecoder().decode(FulfilmentEvent.self, from: Data(payload))
    }

    static func view(_ outcome: FulfilmentEventOutcome) -> FulfilmentEventResult {
        FulfilmentEventResult(
            source: outcome.source,
            eventID: outcome.eventID,
            orderID: outcome.orderID,
            lineID: outcome.lineID,
            result: outcome.result.rawValue,
            detail: outcome.detail,
            reason: outcome.reason,
            path: outcome.result == .refused ? outcome.path : "",
            orderVersion: outcome.orderVersion,
            occurredMs: outcome.occurredMs
        )
    }

    /// A dead letter's priority for an event of `order`: its value, twice for the best tiers (as
    /// intake's refused orders).
    static func priority(of order: Order) -> Int64 {
        let value = order.totals.total
        return ["premium", "gold", "vip"].contains(order.account.tier.lowercased()) ? value * 2 : value
    }

    /// The customer's message about a request a fulfilment event aborted.
    static func message(for abort: AbortedRequest, order: Order) -> PortalNotification {
        let lines = abort.before.lines.map(\.lineID).joined(separator: ", ")
        let why = abort.reasons.map(\.detail).joined(separator: "; ")
        return PortalNotification(
            accountID: order.account.id,
            cancellationID: abort.before.id,
            kind: "CANCELLATION_ABORTED",
            subject: "Your cancellation for order \(order.externalID) could not go ahead",
            body:
                "Before you confirmed, your order moved on (\(why)): lines \(lines) can no longer be cancelled. Nothing was cancelled and what you pay is unchanged; any confirmation code you received no longer works.",
            email: order.account.email
        )
    }
}

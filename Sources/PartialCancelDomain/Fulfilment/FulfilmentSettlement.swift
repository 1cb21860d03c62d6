/// What became of one fulfilment event.
public struct FulfilmentEventOutcome: Sendable, Hashable, Codable {
    public enum Result: String, Sendable, Hashable, Codable {
        /// The line (or the order) changed.
        case applied = "APPLIED"
        /// Recorded, nothing changed: a late, lower status, or what the line already says.
        case ignored = "IGNORED"
        /// Not applied and not recorded: the event cannot apply to this order (it becomes a dead
        /// letter, and the same event may be sent again once fixed).
        case refused = "REFUSED"
        /// Recorded before under the same source and event id: `detail` and `orderVersion` are
        /// what was decided then.
        case duplicate = "DUPLICATE"
    }

    public var source: String
    public var eventID: String
    public var orderID: String
    public var lineID: String
    public var result: Result
    /// Why it was ignored or refused; for a duplicate, what was decided the first time.
    public var detail: String
    /// The reason code of a refusal (a `DomainError` code's name), else "".
    public var reason: String
    /// Where in the payload a refused event came from.
    public var path: String
    /// The order's version after the event (for a duplicate: after the first time).
    public var orderVersion: Int64
    public var occurredMs: Int64

    public init(
        _ event: FulfilmentEvent,
        result: Result,
        detail: String = "",
        reason: String = "",
        orderVersion: Int64
    ) {
        source = event.source
        eventID = event.eventID
        orderID = event.orderID
        lineID = event.lineID
        self.result = result
        self.detail = detail
        self.reason = reason
        path = event.path
        self.orderVersion = orderVersion
        occurredMs = event.occurredMs
    }
}

/// A pending request that a batch of events made ineligible: it is aborted, with the reasons.
public struct AbortedRequest: Sendable, Hashable {
    public var before: CancellationRequest
    public var after: CancellationRequest
    /// The eligibility reasons the events added (what the customer is told).
    public var reasons: [EligibilityReason]

    /// The reasons as one line, for the history and the customer's message.
    public var summary: String {
        reasons.map { "\($0.code) (\($0.detail))" }.joined(separator: "; ")
    }
}

/// What one batch of an order's fulfilment events decides, for storage to carry out in the order's
/// transaction: the order after them, each event's outcome, the units shipping consumed, the
/// pending requests they aborted and the history entries, in order.
public struct FulfilmentDecision: Sendable {
    public var order: Order
    /// One per event decided (not the duplicates), in the batch's order.
    public var outcomes: [FulfilmentEventOutcome]
    public var consumed: [StockChange]
    public var aborted: [AbortedRequest]
    public var history: [HistoryRecord]

    public init(
        order: Order,
        outcomes: [FulfilmentEventOutcome],
        consumed: [StockChange],
        aborted: [AbortedRequest],
        history: [HistoryRecord]
    ) {
        self.order = order
        self.outcomes = outcomes
        self.consumed = consumed
        self.aborted = aborted
        self.history = history
    }
}

/// Applies a batch of one order's fulfilment events (docs/FULFILMENT.md). Pure.
public enum FulfilmentSettlement {
    /// `events` (none recorded before) applied in turn to `order`; then every request in `pending`
    /// whose lines the events made ineligible is aborted.
    public static func decide(
        order: Order,
        events: [FulfilmentEvent],
        pending: [CancellationRequest],
        policy: CancellationPolicy,
        nowMs: Int64,
        machine: CancellationStateMachine = CancellationStateMachine()
    ) -> FulfilmentDecision {
        var current = order
        var outcomes: [FulfilmentEventOutcome] = []
        var consumed: [StockChange] = []
        var history: [HistoryRecord] = []
        for event in events {
            do {
                switch try FulfilmentProgress.apply(event, to: current) {
                case .applied(let after, let shipped):
                    history.append(record(of: event, before: current, after: after))
                    if after.status != current.status {
                        history.append(.orderStatusChanged(order.id, from: current.status, to: after.status))
                    }
                    consumed += shipped
                    current = after
                    outcomes.append(FulfilmentEventOutcome(event, result: .applied, orderVersion: current.version))
                case .ignored(let reason):
                    outcomes.append(
                        FulfilmentEventOutcome(event, result: .ignored, detail: reason, orderVersion: current.version)
                    )
                }
            } catch {
                outcomes.append(
                    FulfilmentEventOutcome(
                        event,
                        result: .refused,
                        detail: error.message,
                        reason: error.code.name,
                        orderVersion: current.version
                    )
                )
            }
        }
        var aborted: [AbortedRequest] = []
        if current != order {
            let waiting = pending.filter { $0.isPending(at: nowMs) }
            for request in waiting {
                let others = waiting.filter { $0.id != request.id }
                let newReasons = addedReasons(request, others: others, before: order, after: current, policy, nowMs)
                guard !newReasons.isEmpty else { continue }
                let (lifecycle, action) = machine.handle(request.lifecycle, .abort(nowMs: nowMs))
                guard action == .markAborted else { continue }
                var after = request
                after.lifecycle = lifecycle
                after.updatedMs = nowMs
                let abort = AbortedRequest(before: request, after: after, reasons: newReasons)
                aborted.append(abort)
                history.append(.cancellationChanged(request, after, detail: "fulfilment: \(abort.summary)"))
            }
        }
        return FulfilmentDecision(
            order: current,
            outcomes: outcomes,
            consumed: consumed,
            aborted: aborted,
            history: history
        )
    }

    /// The eligibility reasons `request`'s lines have on `after` that they did not have on `before`.
    private static func addedReasons(
        _ request: CancellationRequest,
        others: [CancellationRequest],
        before: Order,
        after: Order,
        _ policy: CancellationPolicy,
        _ nowMs: Int64
    ) -> [EligibilityReason] {
        func reasons(_ order: Order) -> [EligibilityReason] {
            let taken = others.reduce(into: Set<String>()) { $0.formUnion($1.coveredLineIDs(in: order)) }
            return Eligibility.evaluate(order, request.lines, pendingLineIDs: taken, policy: policy, nowMs: nowMs)
                .flatMap(\.reasons)
        }
        let earlier = Set(reasons(before))
        var seen = Set<EligibilityReason>()
        return reasons(after).filter { !earlier.contains($0) && seen.insert($0).inserted }
    }

    /// The history entry of an applied event: the line's status (or its cancel window), and which
    /// source's event it was.
    private static func record(of event: FulfilmentEvent, before: Order, after: Order) -> HistoryRecord {
        let was = before.line(event.lineID)?.fulfilment
        let now = after.line(event.lineID)?.fulfilment
        let origin = "\(event.source) event \(event.eventID)"
        switch event.kind {
        case .status, .revert:
            var entry = HistoryRecord.fulfilmentUpdated(
                lineID: event.lineID,
                from: was?.status ?? .reserved,
                to: now?.status ?? .reserved
            )
            if case .revert = event.kind { entry.detail = "correction, \(origin)" } else { entry.detail = origin }
            return entry
        case .cancellable(let accepts):
            return HistoryRecord(
                event: "FULFILMENT_CANCEL_WINDOW",
                subject: event.lineID,
                from: (was?.partnerAcceptsCancel ?? !accepts) ? "open" : "closed",
                to: accepts ? "open" : "closed",
                detail: origin
            )
        }
    }
}

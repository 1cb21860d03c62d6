import Foundation
import NIOCore
import PartialCancelClient
import PartialCancelWire

/// The connections a flow uses: the agent's side (validate, request, read the state) and the
/// customer's portal (inbox, confirmation).
public struct FlowClients: Sendable {
    public var agent: any FlowTransport
    public var portal: any FlowTransport
    public init(agent: any FlowTransport, portal: any FlowTransport) {
        self.agent = agent
        self.portal = portal
    }
}

/// How a flow ended, for the stock audit.
public enum FlowEnd: Sendable {
    /// COMPLETED (or refused as expected): these units went back to their pools.
    case settled(released: [PoolKey: Int64])
    /// Stopped before its outcome was known; the audit asks the server about `cancellationID`.
    case uncertain(cancellationID: String?, released: [PoolKey: Int64])
}

/// One flow, step by step, with every check of docs/LOAD.md. Failures and mismatches are recorded;
/// nothing is thrown.
struct FlowRunner: Sendable {
    var clients: FlowClients
    var recorder: LoadRecorder
    var deadline: TimeAmount
    var completionTimeout: TimeAmount
    /// Told of every confirmation the server acknowledged with a refund, as soon as it arrives.
    var acknowledge: (@Sendable (_ cancellationID: String, _ refund: RefundView) -> Void)?
    /// With `--watch`: the connection that watches each eligible flow's order.
    var watcher: PartialCancelClient?

    /// A step that could not go on: the failure is already recorded.
    private struct Stop: Error {}

    func run(index: Int, plan: FlowPlan, order: SeededOrder, intendedStart: NIODeadline) async -> FlowEnd {
        recorder.started()
        let name =
            "flow \(index) (\(plan.scenario.rawValue)\(plan.ineligible.map { " \($0.rawValue)" } ?? ""), \(order.id))"
        var flow = Flow(runner: self, name: name, plan: plan, order: order, intendedStart: intendedStart)
        do {
            return try await flow.run()
        } catch {
            return .uncertain(cancellationID: flow.cancellationID, released: order.releases(for: plan.lines))
        }
    }

    /// A request made and its token read ahead of time, for measuring confirmations alone.
    public struct Prepared: Sendable {
        var plan: FlowPlan
        var order: SeededOrder
        var cancellationID: String
        var token: String
        var quote: QuoteView
    }

    /// Requests the plan's cancellation and reads the token; nil (and the failure recorded) if either fails.
    func prepare(index: Int, plan: FlowPlan, order: SeededOrder) async -> Prepared? {
        var flow = Flow(
            runner: self,
            name: "preparing flow \(index) (\(order.id))",
            plan: plan,
            order: order,
            intendedStart: .now()
        )
        guard let (requested, _) = try? await flow.request(),
            let token = try? await flow.readToken(cancellationID: requested.id)
        else { return nil }
        return Prepared(plan: plan, order: order, cancellationID: requested.id, token: token, quote: requested.quote)
    }

    /// Only the confirmation of a prepared request, checked like a whole flow's; timed from `intendedStart`.
    func confirm(_ prepared: Prepared, index: Int, intendedStart: NIODeadline) async -> FlowEnd {
        recorder.started()
        let flow = Flow(
            runner: self,
            name: "flow \(index) (confirm, \(prepared.order.id))",
            plan: prepared.plan,
            order: prepared.order,
            intendedStart: intendedStart
        )
        let released = prepared.order.releases(for: prepared.plan.lines)
        do {
            _ = try await flow.confirm(prepared.cancellationID, token: prepared.token, quote: prepared.quote)
        } catch {
            return .uncertain(cancellationID: prepared.cancellationID, released: released)
        }
        let elapsed = NIODeadline.now() - intendedStart
        recorder.completed(prepared.plan.scenario, processing: elapsed, flow: elapsed)
        return .settled(released: released)
    }

    /// The state of one flow in progress.
    private struct Flow {
        let runner: FlowRunner
        let name: String
        let plan: FlowPlan
        let order: SeededOrder
        let intendedStart: NIODeadline
        var cancellationID: String?

        init(runner: FlowRunner, name: String, plan: FlowPlan, order: SeededOrder, intendedStart: NIODeadline) {
            self.runner = runner
            self.name = name
            self.plan = plan
            self.order = order
            self.intendedStart = intendedStart
        }

        var recorder: LoadRecorder { runner.recorder }
        var customer: Metadata { Metadata(onBehalfOf: order.account) }

        mutating func run() async throws -> FlowEnd {
            let validation = try await call(
                Methods.validateEligibility,
                ValidateEligibilityRequest(orderID: order.id, lines: plan.lines),
                as: ValidateEligibilityResponse.self,
                on: runner.clients.agent
            )
            if let kind = plan.ineligible { return try await refused(kind, validation: validation) }

            guard validation.eligible, let validated = validation.quote else {
                let reasons = validation.lines.flatMap { $0.reasons.map(\.code) }
                return try stop("VERDICT", "expected eligible, got \(reasons)")
            }
            if plan.scenario == .overtaken { return try await overtaken() }
            let probe = runner.watcher.map { OrderWatchProbe(client: $0, orderID: order.id) }
            defer { probe?.stop() }
            if let probe, await !probe.started(timeout: runner.completionTimeout) {
                return try stop("WATCH_NOT_STARTED", probe.ended ?? "no snapshot within the completion timeout")
            }
            let (requested, requestAnswered) = try await request()
            let quote = requested.quote
            // The binding quote repeats the validation's, except where the clock moves money (proration).
            if plan.scenario != .subscription,
                quote.refundTotal != validated.refundTotal || quote.lines != validated.lines
                    || quote.tenders != validated.tenders
            {
                mismatch("QUOTE_CHANGED", "validated \(validated.refundTotal), bound \(quote.refundTotal)")
            }
            let token = try await readToken(cancellationID: requested.id)
            let confirmSent = NIODeadline.now()
            if try await confirm(requested.id, token: token, quote: quote) != "COMPLETED" {
                try await waitUntilCompleted(requested.id)
            }
            if let probe {
                check(
                    probe,
                    confirmSent: confirmSent,
                    await probe.entries(through: "CANCELLATION_COMPLETED", timeout: runner.completionTimeout)
                )
            }
            let now = NIODeadline.now()
            let flowTime = now - intendedStart
            recorder.completed(plan.scenario, processing: flowTime - (confirmSent - requestAnswered), flow: flowTime)
            return .settled(released: order.releases(for: plan.lines))
        }

        /// The watcher saw the flow's whole history after its snapshot, in order and without a gap;
        /// records when the confirmation reached it.
        private func check(
            _ probe: OrderWatchProbe,
            confirmSent: NIODeadline,
            _ seen: (snapshot: Int64, entries: [OrderWatchProbe.Arrival])?
        ) {
            guard let seen else {
                return mismatch(
                    "WATCH_INCOMPLETE",
                    probe.ended ?? "no CANCELLATION_COMPLETED entry within the completion timeout"
                )
            }
            let seqs = seen.entries.map(\.seq)
            if seqs != Array((seen.snapshot + 1)..<(seen.snapshot + 1 + Int64(seqs.count))) {
                mismatch("WATCH_SEQUENCE", "after snapshot \(seen.snapshot): \(seqs)")
            }
            let events = seen.entries.map(\.event)
            if !["CANCELLATION_REQUESTED", "CANCELLATION_CONFIRMED", "REFUND_ISSUED", "CANCELLATION_COMPLETED"]
                .allSatisfy(events.contains)
            {
                mismatch("WATCH_EVENTS", "\(events)")
            }
            if let confirmed = seen.entries.first(where: { $0.event == "CANCELLATION_CONFIRMED" }) {
                recorder.record(OrderWatchProbe.pushName, confirmed.at - confirmSent)
            }
        }

        /// Requests the plan's cancellation: the binding quote, and the time the answer came.
        mutating func request() async throws -> (CancellationView, NIODeadline) {
            let requested = try await call(
                Methods.requestCancellation,
                RequestCancellationRequest(orderID: order.id, lines: plan.lines, reasonCode: plan.reasonCode),
                as: RequestCancellationResponse.self,
                on: runner.clients.agent
            ).cancellation
            let answered = NIODeadline.now()
            cancellationID = requested.id
            if requested.state != "PENDING_CONFIRMATION" { mismatch("STATE", "new request is \(requested.state)") }
            return (requested, answered)
        }

        /// The customer confirms with the token; the answer is checked against the quote. Returns the state it reports.
        func confirm(_ id: String, token: String, quote: QuoteView) async throws -> String {
            let confirmed = try await call(
                Methods.confirmCancellation,
                ConfirmCancellationRequest(id: id, token: token),
                as: ConfirmCancellationResponse.self,
                on: runner.clients.portal,
                metadata: customer
            )
            if let refund = confirmed.refund { runner.acknowledge?(id, refund) }
            for finding in ConfirmationCheck.findings(confirmed, quote: quote, order: order, plan: plan) {
                mismatch(finding.kind, finding.detail)
            }
            return confirmed.cancellation.state
        }

        /// An ineligible flow: validation names the reason, and the request is refused with it.
        private func refused(_ kind: IneligibleKind, validation: ValidateEligibilityResponse) async throws -> FlowEnd {
            let codes = validation.lines.flatMap { $0.reasons.map(\.code) }
            if validation.eligible || validation.quote != nil || !codes.contains(kind.reasonCode) {
                mismatch("VERDICT", "expected \(kind.reasonCode), got eligible=\(validation.eligible) \(codes)")
            }
            let answer = await timed(
                Methods.requestCancellation,
                RequestCancellationRequest(orderID: order.id, lines: plan.lines, reasonCode: plan.reasonCode),
                as: RequestCancellationResponse.self,
                on: runner.clients.agent
            )
            switch answer {
            case .success(let created):
                mismatch("INELIGIBLE_ACCEPTED", "\(created.cancellation.id) was created for \(kind.lineID)")
                return .uncertain(cancellationID: created.cancellation.id, released: [:])
            case .failure(let error):
                let status = error.status
                // The connection or the database went away: a failure, not a wrong answer.
                if status.code == .unavailable || status.code == .deadlineExceeded {
                    recorder.failed(Methods.requestCancellation, status, flow: name)
                    throw Stop()
                }
                let reasons = status.reasons.map(\.code)
                guard status.code == .failedPrecondition, reasons.contains(kind.reasonCode) else {
                    return try stop(
                        "REFUSAL",
                        "expected FAILED_PRECONDITION \(kind.reasonCode), got \(status.code.name) \(reasons)"
                    )
                }
            }
            let flowTime = NIODeadline.now() - intendedStart
            recorder.completed(plan.scenario, processing: flowTime, flow: flowTime)
            return .settled(released: [:])
        }

        /// A request the warehouse overtakes: its line is picked before the customer confirms. The
        /// event must abort the request at once, and the customer's confirmation is then refused.
        private mutating func overtaken() async throws -> FlowEnd {
            let (requested, _) = try await request()
            let token = try await readToken(cancellationID: requested.id)
            let eventID = "load-" + requested.id.replacingOccurrences(of: "/", with: "-") + "-picked"
            let at = ISO8601DateFormatter().string(from: Date())
            let batch =
                #"{"events": [{"event_id": "\#(eventID)", "order_id": "\#(order.id)", "line_id": "L1", "status": "picked", "at": "\#(at)"}]}"#
            let picked = try await call(
                Methods.recordFulfilmentEvents,
                RecordFulfilmentEventsRequest(source: "warehouse", payload: ByteBuffer(string: batch)),
                as: RecordFulfilmentEventsResponse.self,
                on: runner.clients.agent
            )
            // A retried batch is answered as a duplicate of the first, which did the abort.
            let result = picked.results.first?.result ?? "none"
            let aborted = picked.aborted.contains { $0.id == requested.id && $0.state == "ABORTED" }
            if !(result == "APPLIED" && aborted) && result != "DUPLICATE" {
                mismatch("NOT_ABORTED", "the PICKED event was \(result); aborted \(picked.aborted.map(\.id))")
            }
            let answer = await timed(
                Methods.confirmCancellation,
                ConfirmCancellationRequest(id: requested.id, token: token),
                as: ConfirmCancellationResponse.self,
                on: runner.clients.portal,
                metadata: customer
            )
            switch answer {
            case .success(let confirmed):
                mismatch(
                    "ABORTED_CONFIRMED",
                    "\(requested.id) was \(confirmed.cancellation.state) after its line was picked"
                )
                return .uncertain(cancellationID: requested.id, released: order.releases(for: plan.lines))
            case .failure(let error):
                let status = error.status
                if status.code == .unavailable || status.code == .deadlineExceeded {
                    recorder.failed(Methods.confirmCancellation, status, flow: name)
                    throw Stop()
                }
                let reasons = status.reasons.map(\.code)
                guard status.code == .failedPrecondition, reasons.contains("REQUEST_ABORTED") else {
                    return try stop(
                        "REFUSAL",
                        "expected FAILED_PRECONDITION REQUEST_ABORTED, got \(status.code.name) \(reasons)"
                    )
                }
            }
            let flowTime = NIODeadline.now() - intendedStart
            recorder.completed(plan.scenario, processing: flowTime, flow: flowTime)
            return .settled(released: [:])
        }

        /// The customer's portal reads the inbox; the token is the last line of the request's message.
        func readToken(cancellationID: String) async throws -> String {
            let inbox = try await call(
                Methods.listNotifications,
                ListNotificationsRequest(limit: 10),
                as: ListNotificationsResponse.self,
                on: runner.clients.portal,
                metadata: customer
            )
            let message = inbox.notifications.first {
                $0.cancellationID == cancellationID && $0.kind == "CONFIRMATION_REQUESTED"
            }
            guard let last = message?.body.split(separator: "\n").last, last.hasPrefix("Token: ") else {
                return try stop(
                    "TOKEN_NOT_IN_INBOX",
                    "\(inbox.notifications.count) messages, none with the token for \(cancellationID)"
                )
            }
            return String(last.dropFirst("Token: ".count))
        }

        /// Polls the request's state with a growing pause until every stock release has landed.
        private func waitUntilCompleted(_ id: String) async throws {
            let giveUp = NIODeadline.now() + runner.completionTimeout
            var pause = TimeAmount.microseconds(250)
            while true {
                let state = try await call(
                    Methods.getCancellation,
                    GetCancellationRequest(id: id),
                    as: GetCancellationResponse.self,
                    on: runner.clients.agent
                ).cancellation.state
                if state == "COMPLETED" { return }
                guard state == "CONFIRMED" else { return try stop("STATE", "\(id) is \(state) after confirmation") }
                guard NIODeadline.now() < giveUp else {
                    recorder.failed(
                        Methods.getCancellation,
                        Status(
                            .deadlineExceeded,
                            "\(id) not COMPLETED after \(runner.completionTimeout.nanoseconds / 1_000_000_000) s",
                            reasons: [Reason(.completionTimeout)]
                        ),
                        flow: name
                    )
                    throw Stop()
                }
                try? await Task.sleep(nanoseconds: UInt64(pause.nanoseconds))
                pause = min(pause * 2, .milliseconds(20))
            }
        }

        /// One timed call, its latency recorded whatever the answer.
        private func timed<Request: WireMessage, Response: WireMessage>(
            _ method: String,
            _ request: Request,
            as: Response.Type,
            on client: any FlowTransport,
            metadata: Metadata = Metadata()
        ) async -> Result<Response, ClientError> {
            let start = NIODeadline.now()
            defer { recorder.rpc(method, since: start) }
            do {
                return .success(
                    try await client.call(
                        method,
                        request,
                        as: Response.self,
                        deadline: runner.deadline,
                        metadata: metadata
                    )
                )
            } catch {
                return .failure(error as? ClientError ?? ClientError(Status(.unknown, "\(error)")))
            }
        }

        /// One timed call; an error status ends the flow.
        private func call<Request: WireMessage, Response: WireMessage>(
            _ method: String,
            _ request: Request,
            as: Response.Type,
            on client: any FlowTransport,
            metadata: Metadata = Metadata()
        ) async throws -> Response {
            switch await timed(method, request, as: Response.self, on: client, metadata: metadata) {
            case .success(let response): return response
            case .failure(let error):
                recorder.failed(method, error.status, flow: name)
                throw Stop()
            }
        }

        private func mismatch(_ kind: String, _ detail: String) {
            recorder.mismatch(kind, detail, flow: name)
        }

        /// A mismatch after which the flow cannot go on: it counts as failed too.
        private func stop<T>(_ kind: String, _ detail: String) throws -> T {
            mismatch(kind, detail)
            recorder.abandoned()
            throw Stop()
        }
    }
}

/// SPEC section 5 on a confirmation's answer: the refund is the binding quote, its tenders add up,
/// refund + new total = the total at intake, the new total is the quote's, and the requested units
/// are cancelled. Pure, so that tests can feed it wrong answers.
enum ConfirmationCheck {
    struct Finding: Hashable {
        var kind: String
        var detail: String
    }

    static func findings(
        _ confirmed: ConfirmCancellationResponse,
        quote: QuoteView,
        order: SeededOrder,
        plan: FlowPlan
    ) -> [Finding] {
        guard let refund = confirmed.refund else {
            return [Finding(kind: "REFUND_MISSING", detail: "no refund in the confirmation")]
        }
        var found: [Finding] = []
        if refund.amount != quote.refundTotal {
            found.append(
                Finding(kind: "REFUND_NOT_QUOTE", detail: "refund \(refund.amount), quote \(quote.refundTotal)")
            )
        }
        let allocated = refund.allocations.reduce(Int64(0)) { $0 + $1.amount }
        if allocated != refund.amount {
            found.append(Finding(kind: "ALLOCATIONS_SUM", detail: "allocations \(allocated), refund \(refund.amount)"))
        }
        let byTender = { (list: [TenderAllocationView]) in list.map { "\($0.tenderID)=\($0.amount)" }.sorted() }
        if byTender(refund.allocations) != byTender(quote.tenders) {
            found.append(
                Finding(
                    kind: "ALLOCATIONS_NOT_QUOTE",
                    detail: "refund \(byTender(refund.allocations)), quote \(byTender(quote.tenders))"
                )
            )
        }
        guard let after = confirmed.order else {
            return found + [Finding(kind: "ORDER_MISSING", detail: "no order in the confirmation")]
        }
        if after.totals.total + refund.amount != order.total {
            found.append(
                Finding(
                    kind: "TOTALS_INVARIANT",
                    detail: "new total \(after.totals.total) + refund \(refund.amount) ≠ original \(order.total)"
                )
            )
        }
        if after.totals.total != quote.newTotals.total {
            found.append(
                Finding(
                    kind: "NEW_TOTAL_NOT_QUOTE",
                    detail: "order \(after.totals.total), quote \(quote.newTotals.total)"
                )
            )
        }
        for requested in plan.lines {
            let before = order.lines.first { $0.id == requested.lineID }
            let now = after.lines.first { $0.id == requested.lineID }
            let remaining = (before?.quantity ?? 0) - (before?.cancelledQuantity ?? 0)
            let expected = (before?.cancelledQuantity ?? 0) + (requested.quantity > 0 ? requested.quantity : remaining)
            if now?.cancelledQuantity != expected {
                found.append(
                    Finding(
                        kind: "LINE_NOT_CANCELLED",
                        detail: "\(requested.lineID) cancelled \(now?.cancelledQuantity ?? -1), expected \(expected)"
                    )
                )
            }
        }
        return found
    }
}

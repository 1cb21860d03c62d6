import Logging
import NIOCore
import PartialCancelDomain
import PartialCancelStorage
import PartialCancelWire

/// Eligibility and binding quotes (SPEC sections 5 and 7). Request, confirmation, refunds and
/// inventory release build on it.
struct CancellationService {
    let storage: any StorePort
    /// The cancellation rules, as SIGHUP last loaded them; each call reads them once.
    let policies: Reloadable<CancellationPolicy>
    var policy: CancellationPolicy { policies.current }
    /// How long a confirmation token is valid.
    let tokenTTLMs: Int64
    let now: @Sendable () -> Int64
    let tokenAttempts: TokenAttemptLimiter
    /// Where eligibility rejects are counted, by reason and channel.
    let metrics: ServerMetrics

    /// Bounds the work of one request.
    static let maxLines = 500

    var methods: [MethodDescriptor] {
        [
            .unary(Methods.validateEligibility, request: ValidateEligibilityRequest.self) { context, request in
                validate(context, request)
            },
            .unary(Methods.requestCancellation, request: RequestCancellationRequest.self) { context, request in
                requestCancellation(context, request)
            },
            .unary(Methods.getCancellation, request: GetCancellationRequest.self) { context, request in
                getCancellation(context, request)
            },
            .unary(Methods.listNotifications, request: ListNotificationsRequest.self) { context, request in
                listNotifications(context, request)
            },
            // The token is the authority here: whoever calls, only the customer has it.
            .unary(Methods.confirmCancellation, request: ConfirmCancellationRequest.self) { context, request in
                refusingLimitedCallers(context) { confirm(context, request, caller: $0) }
            },
            .unary(Methods.declineCancellation, request: DeclineCancellationRequest.self) { context, request in
                refusingLimitedCallers(context) { decline(context, request, caller: $0) }
            },
            .unary(Methods.releaseInventory, request: ReleaseInventoryRequest.self) { context, request in
                releaseInventory(context, request)
            },
            .unary(Methods.withdrawCancellation, request: WithdrawCancellationRequest.self) { context, request in
                withdraw(context, request)
            },
        ]
    }

    /// Refuses, at the door, callers that sent too many wrong tokens (no shard is asked).
    private func refusingLimitedCallers<T>(
        _ context: CallContext,
        _ body: (String) -> EventLoopFuture<T>
    ) -> EventLoopFuture<T> {
        let caller = TokenAttemptLimiter.caller(context)
        if let refusal = tokenAttempts.refusal(for: caller, nowMs: now()) {
            return context.eventLoop.makeFailedFuture(refusal)
        }
        return body(caller)
    }

    /// Compares a token within the caller's limit, inside the request's transaction: the comparison
    /// is admitted (or refused, without looking at the token) and counted atomically, so calls in
    /// flight cannot all pass the check before any failure is counted. `decide` gets whether the
    /// token matches; a decision refusing a wrong token counts as a failure.
    static func comparingToken(
        _ limiter: TokenAttemptLimiter,
        caller: String,
        nowMs: Int64,
        token: String,
        storedHash: [UInt8],
        _ decide: (Bool) throws -> CancellationDecision
    ) rethrows -> CancellationDecision {
        let admission: TokenAttemptLimiter.Admission
        switch limiter.admit(caller, nowMs: nowMs) {
        case .failure(let refusal): return .refuse(nil, refusal)
        case .success(let admitted): admission = admitted
        }
        var wrong = false
        defer { limiter.settle(admission, wrong: wrong) }
        let decision = try decide(ConfirmationToken.matches(token, storedHash: storedHash))
        if case .refuse(_, let error) = decision, let refused = error as? any WrongTokenRefusal,
            refused.countsAsWrongToken
        {
            wrong = true
        }
        return decision
    }

    private func validate(
        _ context: CallContext,
        _ request: ValidateEligibilityRequest
    ) -> EventLoopFuture<ValidateEligibilityResponse> {
        let requested: [RequestedLine]
        do {
            requested = try Self.requestedLines(orderID: request.orderID, request.lines)
        } catch {
            return context.eventLoop.makeFailedFuture(error)
        }
        let policy = self.policy
        let now = self.now()
        return storage.orderWithPendingLines(request.orderID, nowMs: now, on: context.eventLoop).flatMapThrowing {
            found in
            guard let (order, pending) = found else {
                throw AccountScope.Lookup.order(request.orderID).notFound
            }
            try AccountScope.check(context, account: order.account.id, lookup: .order(request.orderID))
            let verdicts = Eligibility.evaluate(order, requested, pendingLineIDs: pending, policy: policy, nowMs: now)
            metrics.recordRejects(verdicts.flatMap { $0.reasons.map(\.code) }, channel: order.channel)
            let eligible = verdicts.allSatisfy(\.eligible)
            var quote: QuoteView?
            if eligible {
                quote = ViewMapping.view(
                    try Cancellation.quote(
                        order,
                        verdicts,
                        policy: policy,
                        nowMs: now,
                        storeCredit: request.storeCredit
                    )
                )
            }
            return ValidateEligibilityResponse(eligible: eligible, lines: verdicts.map(ViewMapping.view), quote: quote)
        }
    }

    // MARK: Requests

    private func requestCancellation(
        _ context: CallContext,
        _ request: RequestCancellationRequest
    ) -> EventLoopFuture<RequestCancellationResponse> {
        let requested: [RequestedLine]
        do {
            requested = try Self.requestedLines(orderID: request.orderID, request.lines)
            guard (1...40).contains(request.reasonCode.utf8.count),
                request.reasonCode.utf8.allSatisfy({ (65...90).contains($0) || (48...57).contains($0) || $0 == 95 })
            else {
                throw RPCError(
                    .invalidArgument,
                    "reason_code must be 1-40 of A-Z, 0-9 and _",
                    reason: .fieldMalformed,
                    subject: "request.reason_code"
                )
            }
        } catch {
            return context.eventLoop.makeFailedFuture(error)
        }
        let policy = self.policy
        let now = self.now()
        let expires = now + tokenTTLMs
        let token = ConfirmationToken.generate()
        let scope = context
        return storage.createCancellation(orderID: request.orderID, nowMs: now, on: context.eventLoop) {
            order,
            pending,
            id in
            try AccountScope.check(scope, account: order.account.id, lookup: .order(request.orderID))
            let verdicts = Eligibility.evaluate(order, requested, pendingLineIDs: pending, policy: policy, nowMs: now)
            metrics.recordRejects(verdicts.flatMap { $0.reasons.map(\.code) }, channel: order.channel)
            let quote = try Cancellation.quote(
                order,
                verdicts,
                policy: policy,
                nowMs: now,
                storeCredit: request.storeCredit
            )
            let actor = scope.actor
            let record = CancellationRequest(
                id: id,
                orderID: order.id,
                accountID: order.account.id,
                lines: requested,
                reasonCode: request.reasonCode,
                actor: actor,
                storeCredit: request.storeCredit,
                quote: quote,
                lifecycle: CancellationLifecycle(expiresAtMs: expires),
                createdMs: now,
                updatedMs: now
            )
            return (record, token.hash, ConfirmationToken.notification(for: record, order: order, token: token.value))
        }.flatMapThrowing { created in
            guard let created else {
                throw AccountScope.Lookup.order(request.orderID).notFound
            }
            context.log(
                .info,
                "cancellation requested",
                metadata: ["order.id": "\(created.orderID)", "cancellation.id": "\(created.id)"]
            )
            return RequestCancellationResponse(cancellation: ViewMapping.view(created, nowMs: now))
        }
    }

    private func getCancellation(
        _ context: CallContext,
        _ request: GetCancellationRequest
    ) -> EventLoopFuture<GetCancellationResponse> {
        let now = self.now()
        let storage = self.storage
        let loop = context.eventLoop
        return storage.cancellation(request.id, on: loop).flatMapThrowing { found -> CancellationRequest in
            guard let found else {
                throw RPCError(
                    .notFound,
                    "no cancellation '\(request.id)'",
                    reason: .cancellationNotFound,
                    subject: request.id
                )
            }
            try AccountScope.check(context, account: found.accountID, lookup: .cancellation(request.id))
            return found
        }.flatMap { found -> EventLoopFuture<GetCancellationResponse> in
            let response = GetCancellationResponse(cancellation: ViewMapping.view(found, nowMs: now))
            let state = found.lifecycle.state
            guard state == .confirmed || state == .completed else { return loop.makeSucceededFuture(response) }
            // A settled request: its refund, its payments, and while CONFIRMED what it waits for.
            let waits: EventLoopFuture<[StockWait]> =
                state == .confirmed
                ? storage.releaseStatus(found.id, on: loop).map { status in
                    guard let status, status.waiting else { return [] }
                    return status.releases.map {
                        StockWait(
                            lineID: $0.lineID,
                            sku: $0.sku,
                            location: $0.location,
                            quantity: $0.quantity,
                            sinceMs: found.updatedMs
                        )
                    }
                } : loop.makeSucceededFuture([])
            return storage.refunds(orderID: found.orderID, on: loop).and(
                storage.refundAllocations(orderID: found.orderID, on: loop)
            ).and(waits).map { settled, waits in
                let (refunds, allocations) = settled
                var response = response
                response.refund = refunds.first { $0.cancellationID == found.id }.map(ViewMapping.view)
                response.payments = allocations.filter { $0.cancellationID == found.id }.map(ViewMapping.view)
                response.waitsFor = waits
                return response
            }
        }
    }

    private func listNotifications(
        _ context: CallContext,
        _ request: ListNotificationsRequest
    ) -> EventLoopFuture<ListNotificationsResponse> {
        let account = context.metadata.onBehalfOf
        guard !account.isEmpty else {
            return context.eventLoop.makeFailedFuture(
                RPCError(
                    .invalidArgument,
                    "portal calls must name the customer account in metadata.on_behalf_of",
                    reason: .onBehalfOfRequired,
                    subject: "metadata.on_behalf_of"
                )
            )
        }
        let limit = request.limit == 0 ? 50 : min(Int(request.limit), 500)
        return storage.notifications(accountID: account, limit: limit, on: context.eventLoop).map { stored in
            ListNotificationsResponse(
                notifications: stored.map { item in
                    NotificationView(
                        id: item.id,
                        accountID: item.notification.accountID,
                        cancellationID: item.notification.cancellationID,
                        kind: item.notification.kind,
                        subject: item.notification.subject,
                        body: item.notification.body,
                        createdMs: item.createdMs
                    )
                }
            )
        }
    }

    // MARK: Confirmation

    private func confirm(
        _ context: CallContext,
        _ request: ConfirmCancellationRequest,
        caller: String
    ) -> EventLoopFuture<ConfirmCancellationResponse> {
        let policy = self.policy
        let now = self.now()
        let clock = self.now
        let machine = CancellationStateMachine()
        let token = request.token
        let limiter = tokenAttempts
        return settle(
            context,
            request.id,
            presenter: limiter.presenter(caller),
            nowMs: now,
            logging: "cancellation confirmed"
        ) {
            record,
            tokenHash,
            order,
            otherPending in
            // A portal may act only for the order's customer; checked before the token, so that a
            // wrong account learns nothing about it and costs the customer no attempt.
            try AccountScope.check(context, account: order.account.id, lookup: .cancellation(request.id))
            return Self.comparingToken(limiter, caller: caller, nowMs: clock(), token: token, storedHash: tokenHash) {
                tokenMatches in
                // Eligibility is checked again now; the amounts at the binding quote's time.
                let verdicts = Eligibility.evaluate(
                    order,
                    record.lines,
                    pendingLineIDs: otherPending,
                    policy: policy,
                    nowMs: now
                )
                let fresh =
                    verdicts.allSatisfy(\.eligible)
                    ? try? Cancellation.quote(
                        order,
                        verdicts,
                        policy: policy,
                        nowMs: record.quote.asOfMs,
                        storeCredit: record.storeCredit
                    ) : nil
                let holds = fresh.map { Cancellation.samePromise($0, record.quote) } ?? false
                let (updated, action) = Self.transition(
                    record,
                    machine,
                    .confirm(tokenMatches: tokenMatches, quoteHolds: holds, nowMs: now),
                    nowMs: now
                )
                switch action {
                case .applyCancellation:
                    guard let quote = fresh else {
                        return .refuse(nil, RPCError(.internalError, "quote vanished", reason: .internalError))
                    }
                    let after = Cancellation.apply(quote, to: order)
                    let refund = Refund(
                        refundID: ConfirmationToken.refundID(),
                        cancellationID: record.id,
                        orderID: order.id,
                        amount: quote.refundTotal,
                        currency: quote.currency,
                        allocations: quote.tenders,
                        createdMs: now
                    )
                    let message = PortalNotification(
                        accountID: order.account.id,
                        cancellationID: record.id,
                        kind: "CANCELLATION_CONFIRMED",
                        subject: "Your cancellation for order \(order.externalID) is confirmed",
                        body:
                            "Refund \(refund.refundID): \(after.currency.format(refund.amount)) \(refund.currency). Your order total is now \(after.currency.format(after.totals.total)) \(refund.currency).",
                        email: order.account.email
                    )
                    return .confirm(
                        updated,
                        after,
                        refund,
                        RefundAllocation.allocations(of: refund),
                        Cancellation.releases(quote, cancellationID: record.id, order: order),
                        message
                    )
                case .returnEarlierResult:
                    return .earlier
                default:
                    return Self.refused(record, updated, action)
                }
            }
        }.map { result in
            ConfirmCancellationResponse(
                cancellation: ViewMapping.view(result.request, nowMs: now),
                refund: result.refund.map(ViewMapping.view),
                order: ViewMapping.view(result.order),
                earlier: result.earlier
            )
        }
    }

    private func decline(
        _ context: CallContext,
        _ request: DeclineCancellationRequest,
        caller: String
    ) -> EventLoopFuture<DeclineCancellationResponse> {
        let now = self.now()
        let clock = self.now
        let machine = CancellationStateMachine()
        let token = request.token
        let limiter = tokenAttempts
        return settle(
            context,
            request.id,
            presenter: limiter.presenter(caller),
            nowMs: now,
            logging: "cancellation declined"
        ) {
            record,
            tokenHash,
            order,
            _ in
            try AccountScope.check(context, account: order.account.id, lookup: .cancellation(request.id))
            return Self.comparingToken(limiter, caller: caller, nowMs: clock(), token: token, storedHash: tokenHash) {
                tokenMatches in
                let (updated, action) = Self.transition(
                    record,
                    machine,
                    .decline(tokenMatches: tokenMatches, nowMs: now),
                    nowMs: now
                )
                switch action {
                case .markDeclined:
                    return .decline(
                        updated,
                        PortalNotification(
                            accountID: order.account.id,
                            cancellationID: record.id,
                            kind: "CANCELLATION_DECLINED",
                            subject: "Cancellation for order \(order.externalID) declined",
                            body: "Nothing was cancelled; your order stays as it was.",
                            email: order.account.email
                        )
                    )
                default:
                    return Self.refused(record, updated, action)
                }
            }
        }.map { result in
            DeclineCancellationResponse(cancellation: ViewMapping.view(result.request, nowMs: now))
        }
    }

    /// Settles request `id` in one storage transaction by `decide`: CANCELLATION_NOT_FOUND when
    /// there is none, and the outcome logged as `what` with the ids it concerns.
    private func settle(
        _ context: CallContext,
        _ id: String,
        presenter: TokenPresenter?,
        nowMs: Int64,
        logging what: Logger.Message,
        _ decide:
            @escaping @Sendable (CancellationRequest, [UInt8], Order, Set<String>) throws ->
            CancellationDecision
    )
        -> EventLoopFuture<CancellationResult>
    {
        storage.settleCancellation(
            id,
            actor: context.actor,
            presenter: presenter,
            nowMs: nowMs,
            on: context.eventLoop,
            decide: decide
        )
        .flatMapThrowing { result in
            guard let result else {
                throw RPCError(.notFound, "no cancellation '\(id)'", reason: .cancellationNotFound, subject: id)
            }
            var metadata: Logger.Metadata = [
                "order.id": "\(result.order.id)", "cancellation.id": "\(result.request.id)",
            ]
            if let refund = result.refund { metadata["refund.id"] = "\(refund.refundID)" }
            context.log(.info, what, metadata: metadata)
            return result
        }
    }

    /// The decision for an action the caller's event does not lead to: the machine's refusal
    /// (keeping the record's new lifecycle when it changed, such as a lock), or an internal error.
    private static func refused(
        _ record: CancellationRequest,
        _ updated: CancellationRequest,
        _ action: CancellationStateMachine.Action
    ) -> CancellationDecision {
        guard case .refuse(let code) = action else {
            return .refuse(nil, RPCError(.internalError, "unexpected transition", reason: .internalError))
        }
        return .refuse(
            updated.lifecycle == record.lifecycle ? nil : updated,
            CancellationRefused(
                refusal: code,
                id: record.id,
                triesLeft: max(0, CancellationStateMachine.defaultMaxFailedAttempts - updated.lifecycle.failedAttempts)
            )
        )
    }

    /// `record` after `event`: its new lifecycle, stamped `nowMs`, and what to do about it.
    private static func transition(
        _ record: CancellationRequest,
        _ machine: CancellationStateMachine,
        _ event: CancellationStateMachine.Event,
        nowMs: Int64
    ) -> (CancellationRequest, CancellationStateMachine.Action) {
        let (lifecycle, action) = machine.handle(record.lifecycle, event)
        var updated = record
        updated.lifecycle = lifecycle
        updated.updatedMs = nowMs
        return (updated, action)
    }

    // MARK: Withdrawal

    /// Takes back a pending or locked request (agents and operators): it becomes WITHDRAWN, its
    /// lines are free at once, the reason goes into the order's history, and the customer is told.
    private func withdraw(
        _ context: CallContext,
        _ request: WithdrawCancellationRequest
    ) -> EventLoopFuture<WithdrawCancellationResponse> {
        guard !request.id.isEmpty else {
            return context.eventLoop.makeFailedFuture(
                RPCError(.invalidArgument, "id is required", reason: .fieldRequired, subject: "request.id")
            )
        }
        guard request.reason.contains(where: { !$0.isWhitespace }) else {
            return context.eventLoop.makeFailedFuture(
                RPCError(
                    .invalidArgument,
                    "say why the request is withdrawn",
                    reason: .fieldRequired,
                    subject: "request.reason"
                )
            )
        }
        let now = self.now()
        let machine = CancellationStateMachine()
        let reason = request.reason
        return settle(context, request.id, presenter: nil, nowMs: now, logging: "cancellation withdrawn") {
            record,
            _,
            order,
            _ in
            let (updated, action) = Self.transition(record, machine, .withdraw(nowMs: now), nowMs: now)
            switch action {
            case .markWithdrawn:
                let lines = record.lines.map { "\($0.lineID)\($0.quantity.map { " ×\($0)" } ?? "")" }.joined(
                    separator: ", "
                )
                return .withdraw(
                    updated,
                    PortalNotification(
                        accountID: order.account.id,
                        cancellationID: record.id,
                        kind: "CANCELLATION_WITHDRAWN",
                        subject: "Cancellation request for order \(order.externalID) withdrawn",
                        body:
                            "The request to cancel part of your order \(order.externalID) (\(lines)) was withdrawn by customer service. Nothing was cancelled; your order stays as it was, and the confirmation code sent for this request no longer works.",
                        email: order.account.email
                    ),
                    reason: reason
                )
            default:
                return Self.refused(record, updated, action)
            }
        }.map { result in
            WithdrawCancellationResponse(cancellation: ViewMapping.view(result.request, nowMs: now))
        }
    }

    // MARK: Inventory

    private func releaseInventory(
        _ context: CallContext,
        _ request: ReleaseInventoryRequest
    ) -> EventLoopFuture<ReleaseInventoryResponse> {
        let now = self.now()
        return awaitRelease(context, request.id).flatMap { status in
            let pools = status.releases.map { change in
                storage.stock(sku: change.sku, location: change.location, on: context.eventLoop).map { pools in
                    ReleasedStock(
                        lineID: change.lineID,
                        sku: change.sku,
                        location: change.location,
                        quantity: change.quantity,
                        pool: pools.first.map(ViewMapping.view)
                            ?? StockPoolView(sku: change.sku, location: change.location)
                    )
                }
            }
            return EventLoopFuture.whenAllSucceed(pools, on: context.eventLoop).map { released in
                ReleaseInventoryResponse(
                    cancellation: ViewMapping.view(status.request, nowMs: now),
                    released: released,
                    complete: !status.waiting
                )
            }
        }
    }

    /// Re-drives a confirmed cancellation's releases and waits (until the call's deadline is near)
    /// for them to be applied.
    private func awaitRelease(
        _ context: CallContext,
        _ id: String
    ) -> EventLoopFuture<(request: CancellationRequest, releases: [StockChange], waiting: Bool)> {
        storage.releaseStatus(id, on: context.eventLoop).flatMap { status in
            guard let status else {
                return context.eventLoop.makeFailedFuture(
                    RPCError(.notFound, "no cancellation '\(id)'", reason: .cancellationNotFound, subject: id)
                )
            }
            guard status.request.lifecycle.state == .confirmed || status.request.lifecycle.state == .completed else {
                return context.eventLoop.makeFailedFuture(
                    RPCError(
                        .failedPrecondition,
                        "cancellation \(id) is \(status.request.lifecycle.state.rawValue); only confirmed ones release stock",
                        reason: .notConfirmed,
                        subject: id
                    )
                )
            }
            guard status.waiting, context.eventLoop.now + .milliseconds(50) < context.deadline else {
                return context.eventLoop.makeSucceededFuture(status)
            }
            return context.eventLoop.scheduleTask(in: .milliseconds(5)) {}.futureResult.flatMap {
                awaitRelease(context, id)
            }
        }
    }

    /// Checks the shape of a request's lines: present, bounded, quantities not negative.
    static func requestedLines(orderID: String, _ lines: [CancelLine]) throws -> [RequestedLine] {
        guard !orderID.isEmpty else {
            throw RPCError(
                .invalidArgument,
                "order_id is required",
                reason: .fieldRequired,
                subject: "request.order_id"
            )
        }
        guard !lines.isEmpty else {
            throw RPCError(.invalidArgument, "name at least one line", reason: .fieldRequired, subject: "request.lines")
        }
        guard lines.count <= maxLines else {
            throw RPCError(
                .invalidArgument,
                "at most \(maxLines) lines per request",
                reason: .fieldOutOfRange,
                subject: "request.lines"
            )
        }
        return try lines.enumerated().map { index, line in
            guard !line.lineID.isEmpty else {
                throw RPCError(
                    .invalidArgument,
                    "line_id is required",
                    reason: .fieldRequired,
                    subject: "request.lines[\(index)].line_id"
                )
            }
            guard line.quantity >= 0 else {
                throw RPCError(
                    .invalidArgument,
                    "quantity must not be negative (0: all remaining units)",
                    reason: .fieldOutOfRange,
                    subject: "request.lines[\(index)].quantity"
                )
            }
            return RequestedLine(lineID: line.lineID, quantity: line.quantity == 0 ? nil : line.quantity)
        }
    }
}

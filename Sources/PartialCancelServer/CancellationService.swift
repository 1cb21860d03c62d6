import NIOCore
import PartialCancelDomain
import PartialCancelStorage
import PartialCancelWire

/// Eligibility and binding quotes (SPEC sections 5 and 7). Request, confirmation, refunds and
/// inventory release build on it.
struct CancellationService {
    let storage: Storage
    let policy: CancellationPolicy
    let now: @Sendable () -> Int64

    /// Bounds the work of one request.
    static let maxLines = 500

    var methods: [MethodDescriptor] {
        [
            .unary(Methods.validateEligibility, access: .roles([.service, .agent, .portal, .admin]), request: ValidateEligibilityRequest.self) { context, request in
                validate(context, request)
            },
        ]
    }

    private func validate(_ context: CallContext, _ request: ValidateEligibilityRequest) -> EventLoopFuture<ValidateEligibilityResponse> {
        let requested: [RequestedLine]
        do {
            requested = try Self.requestedLines(orderID: request.orderID, request.lines)
        } catch {
            return context.eventLoop.makeFailedFuture(error)
        }
        let policy = self.policy
        let now = self.now()
        return storage.order(request.orderID, on: context.eventLoop).flatMapThrowing { found in
            guard let order = found?.order else {
                throw RPCError(.notFound, "no order '\(request.orderID)'", reason: "ORDER_NOT_FOUND", subject: request.orderID)
            }
            try AccountScope.check(context, account: order.account.id)
            // Pending requests come with the request/confirm flow; none can exist yet.
            let verdicts = Eligibility.evaluate(order, requested, pendingLineIDs: [], policy: policy, nowMs: now)
            let eligible = verdicts.allSatisfy(\.eligible)
            var quote: QuoteView?
            if eligible {
                do {
                    quote = ViewMapping.view(try Cancellation.quote(order, verdicts, policy: policy, nowMs: now, storeCredit: request.storeCredit))
                } catch {
                    throw RPCError(.failedPrecondition, "the order's tenders cannot take this refund", reason: "TENDERS_EXHAUSTED", subject: order.id)
                }
            }
            return ValidateEligibilityResponse(eligible: eligible, lines: verdicts.map(ViewMapping.view), quote: quote)
        }
    }

    /// Checks the shape of a request's lines: present, bounded, quantities not negative.
    static func requestedLines(orderID: String, _ lines: [CancelLine]) throws -> [RequestedLine] {
        guard !orderID.isEmpty else { throw RPCError(.invalidArgument, "order_id is required", reason: "FIELD_REQUIRED", subject: "request.order_id") }
        guard !lines.isEmpty else { throw RPCError(.invalidArgument, "name at least one line", reason: "FIELD_REQUIRED", subject: "request.lines") }
        guard lines.count <= maxLines else {
            throw RPCError(.invalidArgument, "at most \(maxLines) lines per request", reason: "FIELD_OUT_OF_RANGE", subject: "request.lines")
        }
        return try lines.enumerated().map { index, line in
            guard !line.lineID.isEmpty else {
                throw RPCError(.invalidArgument, "line_id is required", reason: "FIELD_REQUIRED", subject: "request.lines[\(index)].line_id")
            }
            guard line.quantity >= 0 else {
                throw RPCError(.invalidArgument, "quantity must not be negative (0: all remaining units)", reason: "FIELD_OUT_OF_RANGE",
                               subject: "request.lines[\(index)].quantity")
            }
            return RequestedLine(lineID: line.lineID, quantity: line.quantity == 0 ? nil : line.quantity)
        }
    }
}

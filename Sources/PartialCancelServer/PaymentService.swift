import NIOCore
import PartialCancelDomain
import PartialCancelStorage
import PartialCancelWire

/// RecordRefundResult: a payment service's later answer for an allocation it accepted (docs/PAYMENTS.md).
struct PaymentService {
    let storage: any StorePort
    let fallback: RefundAllocation.Fallback

    var methods: [MethodDescriptor] {
        [
            .unary(Methods.recordRefundResult, request: RecordRefundResultRequest.self) { context, request in
                record(context, request)
            }
        ]
    }

    private func record(
        _ context: CallContext,
        _ request: RecordRefundResultRequest
    ) -> EventLoopFuture<RecordRefundResultResponse> {
        let id = request.allocationID
        let succeeded: Bool
        switch request.result {
        case RefundAllocation.State.succeeded.rawValue: succeeded = true
        case RefundAllocation.State.failed.rawValue: succeeded = false
        default:
            return context.eventLoop.makeFailedFuture(
                RPCError(
                    .invalidArgument,
                    "result must be SUCCEEDED or FAILED (got '\(request.result)')",
                    reason: request.result.isEmpty ? .fieldRequired : .fieldOutOfRange,
                    subject: "request.result"
                )
            )
        }
        let reason = request.reason.trimmingCharacters(in: .whitespaces)
        if !succeeded && reason.isEmpty {
            return context.eventLoop.makeFailedFuture(
                RPCError(
                    .invalidArgument,
                    "a FAILED result needs its reason",
                    reason: .fieldRequired,
                    subject: "request.reason"
                )
            )
        }
        let storage = self.storage
        let fallback = self.fallback
        let promise = context.eventLoop.makePromise(of: RecordRefundResultResponse.self)
        promise.completeWithTask {
            let settlement = try await PaymentDelivery.settle(
                id,
                succeeded: succeeded,
                reason: reason,
                actor: context.actor,
                fallback: fallback,
                storage: storage,
                on: context.eventLoop
            )
            switch settlement {
            case nil:
                throw RPCError(.notFound, "no refund allocation '\(id)'", reason: .allocationNotFound, subject: id)
            case .settled(let allocation, _, let replacement):
                context.log(
                    .info,
                    "refund result recorded",
                    metadata: ["allocation.id": "\(id)", "state": "\(allocation.state.rawValue)"]
                )
                return RecordRefundResultResponse(
                    allocation: ViewMapping.view(allocation),
                    duplicate: false,
                    replacement: replacement.map(ViewMapping.view)
                )
            case .duplicate(let allocation):
                return RecordRefundResultResponse(allocation: ViewMapping.view(allocation), duplicate: true)
            case .conflict(let allocation):
                throw RPCError(
                    .failedPrecondition,
                    "allocation \(id) is \(allocation.state.rawValue) already; a result is recorded once",
                    reason: .refundResultConflict,
                    subject: id,
                    detail: allocation.state.rawValue
                )
            }
        }
        return promise.futureResult
    }
}

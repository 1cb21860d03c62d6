import Crypto
import NIOCore
import PartialCancelStorage
import PartialCancelWire

/// Idempotency keys on mutating methods, with Stripe's semantics: the same key with the same request
/// returns the stored reply; the same key with a different request is FAILED_PRECONDITION
/// `IDEMPOTENCY_KEY_REUSED`; a key whose first call is still running is ABORTED
/// `IDEMPOTENCY_KEY_IN_USE`. Keys are scoped to everything that decides whom a call is for — the
/// principal, the customer a portal acts for (`metadata.on_behalf_of`) — and to the method, and
/// kept for the retention: one customer's key can neither replay nor poison another's.
/// Definitive answers (success and refusals) are stored; transient failures (UNAVAILABLE,
/// DEADLINE_EXCEEDED, INTERNAL, RESOURCE_EXHAUSTED, CANCELLED) give the key back for a retry.
struct Idempotency {
    let storage: any StorePort
    let retentionMs: Int64
    /// A claim older than this whose call never finished (a crash) may be taken over.
    let staleAfterMs: Int64
    let now: @Sendable () -> Int64

    static let maxKeyBytes = 255
    static let transient: Set<StatusCode> = [
        .unavailable, .deadlineExceeded, .internalError, .resourceExhausted, .cancelled, .unknown,
    ]

    /// The stored scope of a key. The account is length-prefixed, so that no account name and
    /// key can spell another account's scope; calls that act for nobody keep the plain form.
    static func scope(_ context: CallContext, method: String, key: String) -> String {
        let account = context.metadata.onBehalfOf
        guard !account.isEmpty else { return "\(context.principal.name)|\(method)|\(key)" }
        return "\(context.principal.name)|for:\(account.utf8.count):\(account)|\(method)|\(key)"
    }

    func wrap(_ method: MethodDescriptor) -> MethodDescriptor {
        let inner = method.handler
        return MethodDescriptor(name: method.name, access: method.access) { context, request in
            let key = context.metadata.idempotencyKey
            guard !key.isEmpty else { return inner(context, request) }
            guard key.utf8.count <= Self.maxKeyBytes,
                key.unicodeScalars.allSatisfy({ $0.value >= 0x21 && $0.value < 0x7F })
            else {
                return context.eventLoop.makeFailedFuture(
                    RPCError(
                        .invalidArgument,
                        "idempotency_key must be 1-\(Self.maxKeyBytes) printable ASCII characters",
                        reason: .fieldMalformed,
                        subject: "metadata.idempotency_key"
                    )
                )
            }
            let scope = Self.scope(context, method: method.name, key: key)
            let fingerprint = Array(SHA256.hash(data: Array(buffer: request)))
            return storage.claimIdempotency(
                scope: scope,
                fingerprint: fingerprint,
                nowMs: now(),
                retentionMs: retentionMs,
                staleAfterMs: staleAfterMs,
                on: context.eventLoop
            ).flatMap { claim in
                switch claim {
                case .mismatch:
                    return context.eventLoop.makeFailedFuture(
                        RPCError(
                            .failedPrecondition,
                            "this idempotency key was used with a different request",
                            reason: .idempotencyKeyReused,
                            subject: "metadata.idempotency_key"
                        )
                    )
                case .inProgress:
                    return context.eventLoop.makeFailedFuture(
                        RPCError(
                            .aborted,
                            "a call with this idempotency key is still running; retry later",
                            reason: .idempotencyKeyInUse,
                            subject: "metadata.idempotency_key"
                        )
                    )
                case .replay(let statusBytes, let response):
                    let status = (try? Status(decoding: ByteBuffer(bytes: statusBytes))) ?? .ok
                    if status.isOK { return context.eventLoop.makeSucceededFuture(ByteBuffer(bytes: response)) }
                    return context.eventLoop.makeFailedFuture(
                        RPCError(status.code, status.message, reasons: status.reasons)
                    )
                case .claimed:
                    return inner(context, request).flatMapError { error in
                        let status = StatusMapping.status(for: error)
                        let record: EventLoopFuture<Void> =
                            Self.transient.contains(status.code)
                            ? storage.releaseIdempotency(scope: scope, on: context.eventLoop)
                            : storage.completeIdempotency(
                                scope: scope,
                                status: Array(buffer: status.encoded()),
                                response: [],
                                nowMs: now(),
                                on: context.eventLoop
                            )
                        return record.flatMapThrowing { throw error }
                    }.flatMap { response in
                        storage.completeIdempotency(
                            scope: scope,
                            status: Array(buffer: Status.ok.encoded()),
                            response: Array(buffer: response),
                            nowMs: now(),
                            on: context.eventLoop
                        ).map { response }
                    }
                }
            }
        }
    }
}

import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PartialCancelDomain

// Storage: Idempotency keys.
extension Storage {
    /// Claims an idempotency scope (principal, method, key) for a request with `fingerprint`.
    public func claimIdempotency(
        scope: String,
        fingerprint: [UInt8],
        nowMs: Int64,
        retentionMs: Int64,
        staleAfterMs: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<IdempotencyClaim> {
        on(router.shard(forOrder: "idem:" + scope), loop) { store in
            try store.claimIdempotency(
                scope: scope,
                fingerprint: fingerprint,
                nowMs: nowMs,
                retentionMs: retentionMs,
                staleAfterMs: staleAfterMs
            )
        }
    }

    /// Stores the reply of a claimed scope.
    public func completeIdempotency(
        scope: String,
        status: [UInt8],
        response: [UInt8],
        nowMs: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<Void> {
        on(router.shard(forOrder: "idem:" + scope), loop) { store in
            try store.completeIdempotency(scope: scope, status: status, response: response, nowMs: nowMs)
        }
    }

    /// Gives a claim back (the call failed in a way worth retrying).
    public func releaseIdempotency(scope: String, on loop: any EventLoop) -> EventLoopFuture<Void> {
        on(router.shard(forOrder: "idem:" + scope), loop) { store in try store.releaseIdempotency(scope: scope) }
    }

}

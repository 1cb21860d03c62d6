import NIOConcurrencyHelpers

/// Wrong confirmation tokens per caller. A request locks itself after five wrong tokens (the
/// domain's rule); this bounds what one caller can try across many requests: after `limit` wrong
/// tokens within a window, that caller's confirmations and declines are refused with
/// RESOURCE_EXHAUSTED `TOKEN_ATTEMPTS_LIMITED` without any token being looked at, until the window
/// ends. Only wrong tokens count, once they are known to be wrong, so a service confirming many
/// customers' requests at once is never held back; calls already in flight when the limit is
/// reached still get their answer (at most one window of a connection's calls in flight more). A caller is the principal, and for a portal the principal and the customer it acts for, so
/// that one customer's mistakes do not lock the whole portal out. Shared by every connection.
final class TokenAttemptLimiter: Sendable {
    private struct Window {
        var startMs: Int64
        var failures: Int
    }

    let limit: Int
    let windowMs: Int64
    /// Callers tracked at most; windows that ended are dropped first, so memory stays bounded.
    static let maxTracked = 100_000
    private let windows = NIOLockedValueBox<[String: Window]>([:])

    init(limit: Int, windowMs: Int64) {
        self.limit = limit
        self.windowMs = windowMs
    }

    static func caller(_ context: CallContext) -> String {
        context.principal.role == .portal ? "\(context.principal.name)|\(context.metadata.onBehalfOf)" : context.principal.name
    }

    /// The refusal for a caller whose wrong tokens in the current window reached the limit, or nil.
    func refusal(for caller: String, nowMs: Int64) -> RPCError? {
        let retryAfter: Int64? = windows.withLockedValue { windows in
            guard let window = windows[caller], nowMs < window.startMs + windowMs, window.failures >= limit else { return nil }
            return window.startMs + windowMs - nowMs
        }
        return retryAfter.map {
            RPCError(.resourceExhausted, "too many wrong confirmation tokens from this caller; try again in \(($0 + 999) / 1000) s",
                     reason: "TOKEN_ATTEMPTS_LIMITED", subject: "token_failures_per_caller", detail: "\(limit) per \(windowMs) ms")
        }
    }

    /// Counts a wrong token.
    func recordFailure(for caller: String, nowMs: Int64) {
        windows.withLockedValue { windows in
            if var window = windows[caller], nowMs < window.startMs + windowMs {
                window.failures += 1
                windows[caller] = window
                return
            }
            if windows.count >= Self.maxTracked {
                windows = windows.filter { nowMs < $0.value.startMs + windowMs }
                if windows.count >= Self.maxTracked { windows.removeAll() }
            }
            windows[caller] = Window(startMs: nowMs, failures: 1)
        }
    }
}

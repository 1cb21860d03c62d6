import NIOConcurrencyHelpers
import PartialCancelStorage

/// Wrong confirmation tokens per caller. A request locks itself after five wrong tokens (the
/// domain's rule); this bounds what one caller can try across many requests: after `limit` wrong
/// tokens within a window, that caller's confirmations and declines are refused with
/// RESOURCE_EXHAUSTED `TOKEN_ATTEMPTS_LIMITED` without any token being looked at, until the window
/// ends. A caller is the principal, and for a portal the principal and the customer it acts for,
/// so that one customer's mistakes do not lock the whole portal out. Shared by every connection.
///
/// The count is kept where the token is compared, not where the call arrives: a call is admitted
/// to the comparison (`admit`, under the lock) only while the caller's wrong tokens in the window
/// plus its comparisons still running are below the limit, and the slot it reserved becomes a
/// failure or is given back once the comparison's outcome is known (`settle`). However many calls a
/// caller pipelines, at most `limit` wrong tokens per window are ever compared. Only wrong tokens
/// count, so a service confirming many customers at once is held back only while it has `limit`
/// comparisons running at the very same moment (at most one per shard can run). `refusal` is the
/// early check at the door, which spares the shards the calls of a caller already cut off.
///
/// This count is per process. A store that several processes share (PostgreSQL) also counts each
/// caller's wrong tokens in its own table, handed a `TokenPresenter`, so that a caller cut off on
/// one node is cut off on all (docs/SCALING.md).
final class TokenAttemptLimiter: Sendable {
    private struct Window {
        var startMs: Int64
        var failures: Int
        /// Comparisons admitted in this window whose outcome is not known yet.
        var inFlight: Int
    }

    /// A reserved comparison: hand it back to `settle` exactly once.
    struct Admission: Sendable {
        fileprivate let caller: String
        fileprivate let windowStartMs: Int64
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

    func presenter(_ caller: String) -> TokenPresenter {
        TokenPresenter(caller: caller, limit: limit, windowMs: windowMs)
    }

    static func caller(_ context: CallContext) -> String {
        context.principal.role == .portal
            ? "\(context.principal.name)|\(context.metadata.onBehalfOf)" : context.principal.name
    }

    /// The refusal for a caller whose wrong tokens (and comparisons running) in the current window
    /// reached the limit, or nil.
    func refusal(for caller: String, nowMs: Int64) -> TokenAttemptsLimited? {
        let retryAfter: Int64? = windows.withLockedValue { windows in
            guard let window = windows[caller], nowMs < window.startMs + windowMs,
                window.failures + window.inFlight >= limit
            else { return nil }
            return window.startMs + windowMs - nowMs
        }
        return retryAfter.map(refusal(retryAfterMs:))
    }

    /// Admits one token comparison, atomically with the check: refused when the caller's wrong
    /// tokens plus comparisons in flight reach the limit, otherwise a slot is reserved.
    func admit(_ caller: String, nowMs: Int64) -> Result<Admission, TokenAttemptsLimited> {
        let outcome: (admitted: Bool, ms: Int64) = windows.withLockedValue { windows in
            var window: Window
            if let current = windows[caller], nowMs < current.startMs + windowMs {
                window = current
            } else {
                if windows[caller] == nil, windows.count >= Self.maxTracked {
                    windows = windows.filter { nowMs < $0.value.startMs + windowMs }
                    if windows.count >= Self.maxTracked { windows.removeAll() }
                }
                window = Window(startMs: nowMs, failures: 0, inFlight: 0)
            }
            guard window.failures + window.inFlight < limit else { return (false, window.startMs + windowMs - nowMs) }
            window.inFlight += 1
            windows[caller] = window
            return (true, window.startMs)
        }
        return outcome.admitted
            ? .success(Admission(caller: caller, windowStartMs: outcome.ms))
            : .failure(refusal(retryAfterMs: outcome.ms))
    }

    /// Ends an admitted comparison: its slot becomes a failure when the token was wrong, and is
    /// given back otherwise. A window that ended meanwhile keeps nothing of it.
    func settle(_ admission: Admission, wrong: Bool) {
        windows.withLockedValue { windows in
            guard var window = windows[admission.caller], window.startMs == admission.windowStartMs else { return }
            window.inFlight = max(0, window.inFlight - 1)
            if wrong { window.failures += 1 }
            windows[admission.caller] = window
        }
    }

    private func refusal(retryAfterMs: Int64) -> TokenAttemptsLimited {
        TokenAttemptsLimited(retryAfterMs: retryAfterMs, limit: limit, windowMs: windowMs)
    }
}

extension CancellationRefused: WrongTokenRefusal {
    var countsAsWrongToken: Bool { refusal.isWrongToken }
}

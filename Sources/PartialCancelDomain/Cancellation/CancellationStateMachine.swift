/// The states of a cancellation request (SPEC section 8).
public enum CancellationState: String, Sendable, Hashable, CaseIterable, Codable {
    case pendingConfirmation = "PENDING_CONFIRMATION"
    case confirmed = "CONFIRMED"
    case completed = "COMPLETED"
    case expired = "EXPIRED"
    case declined = "DECLINED"
    case aborted = "ABORTED"
    /// Too many wrong tokens: the token is dead and the lines are free for a new request.
    case locked = "LOCKED"
    /// Taken back by an agent or an operator before the customer answered; the lines are free.
    case withdrawn = "WITHDRAWN"

    /// No event moves the request out of these any more.
    public var isFinal: Bool {
        self == .completed || self == .expired || self == .declined || self == .aborted || self == .locked
            || self == .withdrawn
    }
}

/// What the lifecycle needs to know about a request: its state, its token's expiry and the wrong
/// tries so far. The rest of the request (lines, quote, actor) rides along untouched.
public struct CancellationLifecycle: Sendable, Hashable, Codable {
    public var state: CancellationState
    public var expiresAtMs: Int64
    public var failedAttempts: Int

    public init(state: CancellationState = .pendingConfirmation, expiresAtMs: Int64, failedAttempts: Int = 0) {
        self.state = state
        self.expiresAtMs = expiresAtMs
        self.failedAttempts = failedAttempts
    }
}

/// The request lifecycle as a pure state machine: events in, the next state and one action out, no
/// I/O. `PENDING_CONFIRMATION → CONFIRMED → COMPLETED`, or `EXPIRED`, `DECLINED`, `ABORTED`,
/// `LOCKED` (too many wrong tokens), `WITHDRAWN` (taken back by an agent or operator).
public struct CancellationStateMachine: Sendable {
    /// Wrong tokens before the request is locked (SPEC: 5).
    public static let defaultMaxFailedAttempts = 5
    public var maxFailedAttempts: Int

    public init(maxFailedAttempts: Int = CancellationStateMachine.defaultMaxFailedAttempts) {
        self.maxFailedAttempts = maxFailedAttempts
    }

    public enum Event: Sendable, Hashable {
        /// The customer's token, already compared (in constant time) by the caller, and whether the
        /// quote still holds for the order as it is now.
        case confirm(tokenMatches: Bool, quoteHolds: Bool, nowMs: Int64)
        case decline(tokenMatches: Bool, nowMs: Int64)
        /// Time passed (a sweep, or any event arriving after the expiry).
        case tick(nowMs: Int64)
        /// The cancelled units' stock is back in its pools.
        case stockReleased
        /// An agent or operator takes the request back (a pending or locked one).
        case withdraw(nowMs: Int64)
        /// The order changed under a pending request (a fulfilment event) and its lines are no
        /// longer eligible: it ends now instead of failing when the customer confirms.
        case abort(nowMs: Int64)
    }

    public enum Action: Sendable, Hashable {
        /// Cancel the units, record the refund, schedule the stock release, notify: one transaction.
        case applyCancellation
        /// The request was confirmed before: answer with the result recorded then.
        case returnEarlierResult
        case markDeclined
        case markExpired
        case markCompleted
        /// Record the withdrawal and tell the customer.
        case markWithdrawn
        /// Record the abort with its reasons and tell the customer.
        case markAborted
        /// Nothing to do.
        case none
        /// Refuse the event, for this reason.
        case refuse(Refusal)
    }

    /// What a pending request refuses before anything else: expiry, a lock, a wrong token (which counts).
    private func checkPending(_ lifecycle: inout CancellationLifecycle, tokenMatches: Bool, nowMs: Int64) -> Action? {
        if nowMs >= lifecycle.expiresAtMs {
            lifecycle.state = .expired
            return .refuse(.requestExpired)
        }
        // Stored before LOCKED was a state: locked by its count alone.
        if lifecycle.failedAttempts >= maxFailedAttempts {
            lifecycle.state = .locked
            return .refuse(.requestLocked)
        }
        guard tokenMatches else {
            lifecycle.failedAttempts += 1
            if lifecycle.failedAttempts >= maxFailedAttempts {
                lifecycle.state = .locked
                return .refuse(.requestLocked)
            }
            return .refuse(.tokenInvalid)
        }
        return nil
    }

    /// The next lifecycle and the action to take.
    public func handle(_ lifecycle: CancellationLifecycle, _ event: Event) -> (CancellationLifecycle, Action) {
        var next = lifecycle
        switch event {
        case .tick(let now):
            if lifecycle.state == .pendingConfirmation && now >= lifecycle.expiresAtMs {
                next.state = .expired
                return (next, .markExpired)
            }
            if lifecycle.state == .pendingConfirmation && lifecycle.failedAttempts >= maxFailedAttempts {
                next.state = .locked
            }
            return (next, .none)

        case .withdraw(let now):
            switch lifecycle.state {
            case .pendingConfirmation:
                if now >= lifecycle.expiresAtMs {
                    next.state = .expired
                    return (next, .refuse(.requestExpired))
                }
                next.state = .withdrawn
                return (next, .markWithdrawn)
            case .locked:
                next.state = .withdrawn
                return (next, .markWithdrawn)
            case .withdrawn:
                return (next, .refuse(.requestWithdrawn))
            case .confirmed, .completed:
                return (next, .refuse(.requestConfirmed))
            case .expired:
                return (next, .refuse(.requestExpired))
            case .declined:
                return (next, .refuse(.requestDeclined))
            case .aborted:
                return (next, .refuse(.requestAborted))
            }

        case .abort(let now):
            // Only a request still waiting for the customer; an expired or locked one holds nothing.
            guard lifecycle.state == .pendingConfirmation, now < lifecycle.expiresAtMs,
                lifecycle.failedAttempts < maxFailedAttempts
            else { return (next, .none) }
            next.state = .aborted
            return (next, .markAborted)

        case .stockReleased:
            guard lifecycle.state == .confirmed else { return (next, .none) }
            next.state = .completed
            return (next, .markCompleted)

        case .confirm(let tokenMatches, let quoteHolds, let now):
            switch lifecycle.state {
            case .confirmed, .completed:
                return tokenMatches ? (next, .returnEarlierResult) : (next, .refuse(.tokenInvalid))
            case .expired:
                return (next, .refuse(.requestExpired))
            case .declined:
                return (next, .refuse(.requestDeclined))
            case .aborted:
                return (next, .refuse(.requestAborted))
            case .locked:
                return (next, .refuse(.requestLocked))
            case .withdrawn:
                return (next, .refuse(.requestWithdrawn))
            case .pendingConfirmation:
                if let refusal = checkPending(&next, tokenMatches: tokenMatches, nowMs: now) { return (next, refusal) }
                guard quoteHolds else {
                    next.state = .aborted
                    return (next, .refuse(.quoteChanged))
                }
                next.state = .confirmed
                return (next, .applyCancellation)
            }

        case .decline(let tokenMatches, let now):
            guard lifecycle.state == .pendingConfirmation else {
                switch lifecycle.state {
                case .declined: return (next, .refuse(.requestDeclined))
                case .locked: return (next, .refuse(.requestLocked))
                case .withdrawn: return (next, .refuse(.requestWithdrawn))
                default: return (next, .refuse(.requestNotPending))
                }
            }
            if let refusal = checkPending(&next, tokenMatches: tokenMatches, nowMs: now) { return (next, refusal) }
            next.state = .declined
            return (next, .markDeclined)
        }
    }
}

/// Why the state machine refused an event; the raw value is the status's reason code.
public enum Refusal: String, Sendable, Hashable, CaseIterable {
    /// The token does not match the request's.
    case tokenInvalid = "TOKEN_INVALID"
    /// Too many wrong tokens: the request is locked for good.
    case requestLocked = "REQUEST_LOCKED"
    /// The order changed since the quote, and the refund would differ: the request is aborted.
    case quoteChanged = "QUOTE_CHANGED"
    case requestExpired = "REQUEST_EXPIRED"
    case requestDeclined = "REQUEST_DECLINED"
    case requestAborted = "REQUEST_ABORTED"
    case requestWithdrawn = "REQUEST_WITHDRAWN"
    /// A confirmed request can no longer be withdrawn.
    case requestConfirmed = "REQUEST_CONFIRMED"
    /// A decline of a request that is no longer pending (confirmed, expired or aborted).
    case requestNotPending = "REQUEST_NOT_PENDING"

    /// A wrong token was presented: counted against the caller's token-attempt limit.
    public var isWrongToken: Bool { self == .tokenInvalid || self == .requestLocked }
}

extension CancellationRequest {
    /// The request once all its stock is back: COMPLETED at `nowMs` if it was confirmed; nil when
    /// the release changes nothing (not confirmed, or completed already).
    public func completedAfterStockRelease(nowMs: Int64) -> CancellationRequest? {
        let (next, action) = CancellationStateMachine().handle(lifecycle, .stockReleased)
        guard action == .markCompleted else { return nil }
        var completed = self
        completed.lifecycle = next
        completed.updatedMs = nowMs
        return completed
    }
}

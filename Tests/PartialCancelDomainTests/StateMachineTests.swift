import Testing

@testable import PartialCancelDomain

/// The request lifecycle, one path per test, refusals included.
@Suite("Cancellation state machine")
struct StateMachineTests {
    let machine = CancellationStateMachine(maxFailedAttempts: 5)
    let pending = CancellationLifecycle(expiresAtMs: 1000)

    @Test("confirm with the right token before expiry: CONFIRMED, apply; then stock released: COMPLETED")
    func happyPath() {
        let (confirmed, action) = machine.handle(pending, .confirm(tokenMatches: true, quoteHolds: true, nowMs: 10))
        #expect(confirmed.state == .confirmed && action == .applyCancellation)
        let (completed, done) = machine.handle(confirmed, .stockReleased)
        #expect(completed.state == .completed && done == .markCompleted)
    }

    @Test("confirming twice returns the earlier result, before and after completion")
    func confirmTwice() {
        for state in [CancellationState.confirmed, .completed] {
            let lifecycle = CancellationLifecycle(state: state, expiresAtMs: 1000)
            #expect(
                machine.handle(lifecycle, .confirm(tokenMatches: true, quoteHolds: false, nowMs: 5000)).1
                    == .returnEarlierResult
            )
            #expect(
                machine.handle(lifecycle, .confirm(tokenMatches: false, quoteHolds: true, nowMs: 10)).1
                    == .refuse(.tokenInvalid)
            )
        }
    }

    @Test(
        "a wrong token counts; the fifth wrong try locks the request (LOCKED, final), even against the right token later"
    )
    func wrongTokens() {
        var lifecycle = pending
        for attempt in 1...5 {
            let (next, action) = machine.handle(lifecycle, .confirm(tokenMatches: false, quoteHolds: true, nowMs: 10))
            #expect(action == .refuse(attempt == 5 ? .requestLocked : .tokenInvalid))
            #expect(next.failedAttempts == attempt && next.state == (attempt == 5 ? .locked : .pendingConfirmation))
            lifecycle = next
        }
        #expect(
            machine.handle(lifecycle, .confirm(tokenMatches: true, quoteHolds: true, nowMs: 10)).1
                == .refuse(.requestLocked)
        )
        #expect(machine.handle(lifecycle, .decline(tokenMatches: true, nowMs: 10)).1 == .refuse(.requestLocked))
    }

    @Test(
        "withdraw: a pending or locked request becomes WITHDRAWN; confirmed, final and expired ones refuse with their reason"
    )
    func withdraw() {
        #expect(
            machine.handle(pending, .withdraw(nowMs: 10)) == (
                CancellationLifecycle(state: .withdrawn, expiresAtMs: 1000), .markWithdrawn
            )
        )
        let locked = CancellationLifecycle(state: .locked, expiresAtMs: 1000, failedAttempts: 5)
        #expect(machine.handle(locked, .withdraw(nowMs: 10)).1 == .markWithdrawn)
        // Stored before LOCKED was a state: the count alone locks it, and a tick says so.
        let legacy = CancellationLifecycle(expiresAtMs: 1000, failedAttempts: 5)
        #expect(machine.handle(legacy, .tick(nowMs: 10)).0.state == .locked)
        let expiredNow = machine.handle(pending, .withdraw(nowMs: 1000))
        #expect(expiredNow.0.state == .expired && expiredNow.1 == .refuse(.requestExpired))
        let refusals: [(CancellationState, Refusal)] = [
            (.confirmed, .requestConfirmed), (.completed, .requestConfirmed), (.expired, .requestExpired),
            (.declined, .requestDeclined), (.aborted, .requestAborted), (.withdrawn, .requestWithdrawn),
        ]
        for (state, code) in refusals {
            let lifecycle = CancellationLifecycle(state: state, expiresAtMs: 1000)
            #expect(machine.handle(lifecycle, .withdraw(nowMs: 10)) == (lifecycle, .refuse(code)), "\(state)")
        }
        let withdrawn = CancellationLifecycle(state: .withdrawn, expiresAtMs: 1000)
        #expect(
            machine.handle(withdrawn, .confirm(tokenMatches: true, quoteHolds: true, nowMs: 10)).1
                == .refuse(.requestWithdrawn)
        )
        #expect(machine.handle(withdrawn, .decline(tokenMatches: true, nowMs: 10)).1 == .refuse(.requestWithdrawn))
        #expect(CancellationState.locked.isFinal && CancellationState.withdrawn.isFinal)
    }

    @Test("after the expiry a confirmation is refused and the request is EXPIRED")
    func expired() {
        let (next, action) = machine.handle(pending, .confirm(tokenMatches: true, quoteHolds: true, nowMs: 1000))
        #expect(next.state == .expired && action == .refuse(.requestExpired))
        #expect(
            machine.handle(next, .confirm(tokenMatches: true, quoteHolds: true, nowMs: 10)).1
                == .refuse(.requestExpired)
        )
        let (swept, sweep) = machine.handle(pending, .tick(nowMs: 1000))
        #expect(swept.state == .expired && sweep == .markExpired)
        #expect(machine.handle(pending, .tick(nowMs: 999)).1 == .none)
    }

    @Test("a quote that no longer holds aborts the request; a new request is needed")
    func aborted() {
        let (next, action) = machine.handle(pending, .confirm(tokenMatches: true, quoteHolds: false, nowMs: 10))
        #expect(next.state == .aborted && action == .refuse(.quoteChanged))
        #expect(
            machine.handle(next, .confirm(tokenMatches: true, quoteHolds: true, nowMs: 10)).1
                == .refuse(.requestAborted)
        )
    }

    @Test("decline with the token: DECLINED, and it cannot be confirmed afterwards")
    func declined() {
        let (next, action) = machine.handle(pending, .decline(tokenMatches: true, nowMs: 10))
        #expect(next.state == .declined && action == .markDeclined)
        #expect(
            machine.handle(next, .confirm(tokenMatches: true, quoteHolds: true, nowMs: 10)).1
                == .refuse(.requestDeclined)
        )
        #expect(machine.handle(next, .decline(tokenMatches: true, nowMs: 10)).1 == .refuse(.requestDeclined))
        #expect(machine.handle(pending, .decline(tokenMatches: false, nowMs: 10)).1 == .refuse(.tokenInvalid))
    }

    @Test("stock released before confirmation, or twice, changes nothing")
    func stockReleasedOutOfOrder() {
        #expect(machine.handle(pending, .stockReleased).1 == .none)
        #expect(machine.handle(CancellationLifecycle(state: .completed, expiresAtMs: 0), .stockReleased).1 == .none)
    }
}

@Suite("Cancellation request ids")
struct CancellationRequestIDTests {
    @Test(
        "request ids carry their order id",
        arguments: [
            ("web-W-1001/c1", "web-W-1001"), ("a.b_c-d/c12", "a.b_c-d"), ("web-W-1001", nil), ("x/c", nil),
            ("/c1", nil), ("x/d1", nil),
        ]
    )
    func parse(id: String, order: String?) {
        #expect(CancellationRequest.orderID(fromRequestID: id) == order)
    }
}

import PartialCancelStorage
import PartialCancelTestSupport
import PartialCancelWire
import Testing

@testable import PartialCancelDomain
@testable import PartialCancelServer

@Suite("Status mapping")
struct StatusMappingTests {
    static let refusals: [(Refusal, StatusCode)] = [
        (.tokenInvalid, .permissionDenied), (.requestLocked, .permissionDenied), (.quoteChanged, .aborted),
        (.requestExpired, .failedPrecondition), (.requestDeclined, .failedPrecondition),
        (.requestAborted, .failedPrecondition),
        (.requestWithdrawn, .failedPrecondition), (.requestConfirmed, .failedPrecondition),
        (.requestNotPending, .failedPrecondition),
    ]

    @Test("every refusal of the state machine has its status, with the request as subject", arguments: refusals)
    func refusal(refusal: Refusal, code: StatusCode) {
        let status = StatusMapping.status(for: CancellationRefused(refusal: refusal, id: "web-W-1/c1"))
        #expect(status.code == code)
        #expect(status.reasons == [Reason(ReasonCode(refusal.rawValue), subject: "web-W-1/c1")])
        #expect(!status.message.isEmpty)
    }

    @Test("every refusal is listed in the table above")
    func allRefusals() {
        #expect(Set(Self.refusals.map(\.0)) == Set(Refusal.allCases))
    }

    @Test("domain, quote, watch, storage and framing errors have their statuses; anything else is a bare INTERNAL")
    func errors() {
        let verdict = LineVerdict(
            lineID: "L2",
            quantity: 1,
            reasons: [EligibilityReason(.orderShipped, rule: "order.status")]
        )
        let ineligible = StatusMapping.status(for: QuoteError.ineligible([verdict]))
        #expect(
            ineligible.code == .failedPrecondition
                && ineligible.reasons == [Reason(rawCode: "ORDER_SHIPPED", subject: "L2", detail: "order.status")]
        )
        let tenders = StatusMapping.status(for: QuoteError.tendersCannotTakeRefund(orderID: "web-W-1", amount: 5))
        #expect(
            tenders.code == .failedPrecondition && tenders.reasons.first?.is(.tendersExhausted) == true
                && tenders.reasons.first?.subject == "web-W-1"
        )
        let ahead = StatusMapping.status(for: WatchError.ahead(subject: "web-W-1", seq: 9, last: 3))
        #expect(ahead.code == .outOfRange && ahead.reasons == [Reason(.watchSeqAhead, subject: "web-W-1", detail: "3")])
        let domain = StatusMapping.status(
            for: DomainError(.outOfRange, path: "lines[0].quantity", "must be at least 1")
        )
        #expect(
            domain.code == .invalidArgument && domain.reasons.first?.code == "FIELD_OUT_OF_RANGE"
                && domain.reasons.first?.subject == "lines[0].quantity"
        )
        let frame = StatusMapping.status(for: FrameError.empty)
        #expect(frame.code == .invalidArgument && frame.reasons.first?.is(.frameEmpty) == true)
        struct Unlisted: Error { var secret = "card 4111" }
        let other = StatusMapping.status(for: Unlisted())
        #expect(other == Status(.internalError, "internal error", reasons: [Reason(.internalError)]))
    }
}

import Foundation
import NIOCore
import PartialCancelClient
import PartialCancelDomain
import PartialCancelTestSupport
import PartialCancelWire
import Testing

/// A request locked by wrong tokens ends (LOCKED) and frees its lines; agents and operators can
/// withdraw a pending or locked request (WITHDRAWN), with a reason in the history and a message to
/// the customer.
@Suite("Locked and withdrawn requests")
struct LockAndWithdrawTests {
    static func refusal(_ body: () async throws -> Void) async -> (StatusCode, String)? {
        do {
            try await body()
            return nil
        } catch let error as ClientError {
            return (error.code, error.status.reasons.first?.code ?? "")
        } catch {
            return (.unknown, "\(error)")
        }
    }

    static func history(
        _ client: PartialCancelClient,
        _ order: String = "web-W-1001"
    ) async throws -> [HistoryEntryView] {
        try await client.call(Methods.getOrder, GetOrderRequest(orderID: order), as: GetOrderResponse.self).history
    }

    @Test(
        "five wrong tokens lock the request: LOCKED in GetCancellation and the history, its lines are free at once, its token is dead"
    )
    func lockFreesLines() async throws {
        let (server, agent, portal) = try await ConfirmationTests.setUp()
        let first = try await ConfirmationTests.request(agent, [CancelLine(lineID: "L1", quantity: 1)])
        let token = try await ConfirmationTests.token(portal, for: first.id)
        for attempt in 1...5 {
            let refused = await Self.refusal {
                _ = try await ConfirmationTests.confirm(agent, first.id, String(repeating: "0", count: 64))
            }
            #expect(refused?.1 == (attempt == 5 ? "REQUEST_LOCKED" : "TOKEN_INVALID"))
        }
        let locked = try await agent.call(
            Methods.getCancellation,
            GetCancellationRequest(id: first.id),
            as: GetCancellationResponse.self
        ).cancellation
        #expect(locked.state == "LOCKED" && locked.failedAttempts == 5)
        #expect(
            try await Self.history(agent).contains {
                $0.event == "CANCELLATION_LOCKED" && $0.subject == first.id && $0.toState == "LOCKED"
            }
        )
        // The customer's own token no longer works on it, for confirming or declining.
        #expect(
            await Self.refusal { _ = try await ConfirmationTests.confirm(portal, first.id, token) }?.1
                == "REQUEST_LOCKED"
        )
        #expect(
            await Self.refusal {
                _ = try await portal.call(
                    Methods.declineCancellation,
                    DeclineCancellationRequest(id: first.id, token: token),
                    as: DeclineCancellationResponse.self,
                    metadata: Metadata(onBehalfOf: "acct-42")
                )
            }?.1 == "REQUEST_LOCKED"
        )
        // "Ask for a new one" is true: the same line can be requested again at once, and confirmed.
        let second = try await ConfirmationTests.request(agent, [CancelLine(lineID: "L1", quantity: 1)])
        #expect(second.id == "web-W-1001/c2" && second.state == "PENDING_CONFIRMATION")
        let confirmed = try await ConfirmationTests.confirm(
            portal,
            second.id,
            try await ConfirmationTests.token(portal, for: second.id)
        )
        #expect(confirmed.refund?.amount == 6421)
        for client in [agent, portal] { await client.close() }
        try await server.stop()
    }

    @Test(
        "WithdrawCancellation: a pending request is withdrawn with a reason, recorded, the customer told, its lines freed; confirmed ones cannot be"
    )
    func withdrawPending() async throws {
        let (server, agent, portal) = try await ConfirmationTests.setUp()
        let admin = try await server.client(key: TestServer.adminKey)
        let pending = try await ConfirmationTests.request(agent, [CancelLine(lineID: "L2b")])
        let token = try await ConfirmationTests.token(portal, for: pending.id)

        // A reason is required.
        #expect(
            await Self.refusal {
                _ = try await agent.call(
                    Methods.withdrawCancellation,
                    WithdrawCancellationRequest(id: pending.id, reason: "  "),
                    as: WithdrawCancellationResponse.self
                )
            }! == (.invalidArgument, "FIELD_REQUIRED")
        )
        let withdrawn = try await agent.call(
            Methods.withdrawCancellation,
            WithdrawCancellationRequest(id: pending.id, reason: "customer called: keeps the strap"),
            as: WithdrawCancellationResponse.self
        ).cancellation
        #expect(withdrawn.state == "WITHDRAWN")
        #expect(
            try await agent.call(
                Methods.getCancellation,
                GetCancellationRequest(id: pending.id),
                as: GetCancellationResponse.self
            ).cancellation.state == "WITHDRAWN"
        )
        let entry = try #require(try await Self.history(agent).first { $0.event == "CANCELLATION_WITHDRAWN" })
        #expect(
            entry.subject == pending.id && entry.fromState == "PENDING_CONFIRMATION" && entry.toState == "WITHDRAWN"
        )
        #expect(entry.actor == "agent (agent)" && entry.detail == "reason: customer called: keeps the strap")
        let inbox = try await portal.call(
            Methods.listNotifications,
            ListNotificationsRequest(limit: 10),
            as: ListNotificationsResponse.self,
            metadata: Metadata(onBehalfOf: "acct-42")
        ).notifications
        let message = try #require(
            inbox.first { $0.kind == "CANCELLATION_WITHDRAWN" && $0.cancellationID == pending.id }
        )
        #expect(message.body.contains("Nothing was cancelled") && !message.body.contains("keeps the strap"))

        // Its token is dead; withdrawing again says so; the line is free for a new request.
        #expect(
            await Self.refusal { _ = try await ConfirmationTests.confirm(portal, pending.id, token) }! == (
                .failedPrecondition, "REQUEST_WITHDRAWN"
            )
        )
        #expect(
            await Self.refusal {
                _ = try await admin.call(
                    Methods.withdrawCancellation,
                    WithdrawCancellationRequest(id: pending.id, reason: "again"),
                    as: WithdrawCancellationResponse.self
                )
            }! == (.failedPrecondition, "REQUEST_WITHDRAWN")
        )
        let again = try await ConfirmationTests.request(agent, [CancelLine(lineID: "L2b")])
        #expect(again.state == "PENDING_CONFIRMATION")

        // Confirmed (and completed) requests cannot be withdrawn; unknown ones are NOT_FOUND.
        _ = try await ConfirmationTests.confirm(
            portal,
            again.id,
            try await ConfirmationTests.token(portal, for: again.id)
        )
        #expect(
            await Self.refusal {
                _ = try await admin.call(
                    Methods.withdrawCancellation,
                    WithdrawCancellationRequest(id: again.id, reason: "too late"),
                    as: WithdrawCancellationResponse.self
                )
            }! == (.failedPrecondition, "REQUEST_CONFIRMED")
        )
        #expect(
            await Self.refusal {
                _ = try await admin.call(
                    Methods.withdrawCancellation,
                    WithdrawCancellationRequest(id: "web-W-1001/c99", reason: "x"),
                    as: WithdrawCancellationResponse.self
                )
            }! == (.notFound, "CANCELLATION_NOT_FOUND")
        )

        // An idempotency key replays the first answer instead of refusing the repeat.
        let third = try await ConfirmationTests.request(agent, [CancelLine(lineID: "L3")])
        let keyed = Metadata(idempotencyKey: "withdraw-\(third.id)")
        let once = try await agent.call(
            Methods.withdrawCancellation,
            WithdrawCancellationRequest(id: third.id, reason: "duplicate request"),
            as: WithdrawCancellationResponse.self,
            metadata: keyed
        )
        let twice = try await agent.call(
            Methods.withdrawCancellation,
            WithdrawCancellationRequest(id: third.id, reason: "duplicate request"),
            as: WithdrawCancellationResponse.self,
            metadata: keyed
        )
        #expect(once == twice && once.cancellation.state == "WITHDRAWN")
        #expect(try await Self.history(agent).filter { $0.event == "CANCELLATION_WITHDRAWN" }.count == 2)
        for client in [agent, portal, admin] { await client.close() }
        try await server.stop()
    }

    @Test("a locked request can be withdrawn too, and a service may not withdraw")
    func withdrawLocked() async throws {
        let (server, agent, portal) = try await ConfirmationTests.setUp()
        let pending = try await ConfirmationTests.request(agent, [CancelLine(lineID: "L3")])
        for _ in 1...5 {
            _ = await Self.refusal {
                _ = try await ConfirmationTests.confirm(agent, pending.id, String(repeating: "1", count: 64))
            }
        }
        let service = try await server.client(key: TestServer.serviceKey)
        #expect(
            await Self.refusal {
                _ = try await service.call(
                    Methods.withdrawCancellation,
                    WithdrawCancellationRequest(id: pending.id, reason: "x"),
                    as: WithdrawCancellationResponse.self
                )
            }! == (.permissionDenied, "ROLE_NOT_ALLOWED")
        )
        let withdrawn = try await agent.call(
            Methods.withdrawCancellation,
            WithdrawCancellationRequest(id: pending.id, reason: "locked by a guesser"),
            as: WithdrawCancellationResponse.self
        ).cancellation
        #expect(withdrawn.state == "WITHDRAWN")
        #expect(
            try await Self.history(agent).contains { $0.event == "CANCELLATION_WITHDRAWN" && $0.fromState == "LOCKED" }
        )
        for client in [agent, portal, service] { await client.close() }
        try await server.stop()
    }
}

import Foundation
import NIOCore
import PartialCancelClient
import PartialCancelDomain
import PartialCancelServer
import PartialCancelTestSupport
import PartialCancelWire
import Testing

/// Refunds executed (docs/PAYMENTS.md): the local ledger, and a real payment service over HTTP.
@Suite("Refunds executed")
struct PaymentTests {
    /// Confirms a cancellation of one mug on a copy of the sample order; returns the refund's id.
    static func refundOne(
        external: String,
        admin: PartialCancelClient,
        agent: PartialCancelClient,
        portal: PartialCancelClient
    ) async throws -> String {
        _ = try await admin.call(
            Methods.ingestOrder,
            IngestOrderRequest(
                channel: "web",
                payload: ByteBuffer(string: SamplePayloads.web.replacingOccurrences(of: "W-1001", with: external))
            ),
            as: IngestOrderResponse.self
        )
        let requested = try await ConfirmationTests.request(
            agent,
            [CancelLine(lineID: "L1", quantity: 1)],
            order: "web-\(external)"
        )
        let token = try await ConfirmationTests.token(portal, for: requested.id)
        return try #require(try await ConfirmationTests.confirm(portal, requested.id, token).refund?.refundID)
    }

    static func payments(_ client: PartialCancelClient, _ order: String) async throws -> [RefundAllocationView] {
        try await client.call(Methods.getOrder, GetOrderRequest(orderID: order), as: GetOrderResponse.self).payments
    }

    static func waitUntil(
        _ client: PartialCancelClient,
        _ order: String,
        _ done: @escaping ([RefundAllocationView]) -> Bool
    ) async throws -> [RefundAllocationView] {
        var last: [RefundAllocationView] = []
        try await waitFor("payments of \(order)", timeout: 20) {
            last = (try? await payments(client, order)) ?? []
            return done(last)
        }
        return last
    }

    @Test("the embedded ledger: each allocation appended once, synced, and SUCCEEDED; the history and GetOrder show it")
    func ledger() async throws {
        let ledger = FileManager.default.temporaryDirectory.appendingPathComponent("pcancel-ledger-\(UUID()).jsonl")
        defer { try? FileManager.default.removeItem(at: ledger) }
        let (server, agent, portal) = try await ConfirmationTests.setUp {
            $0.payments.deliver = true
            $0.payments.pollIntervalMs = 20
            $0.payments.adapter = .ledger(path: ledger.path)
        }
        let admin = try await server.client()
        let refundID = try await Self.refundOne(external: "W-L1", admin: admin, agent: agent, portal: portal)
        let settled = try await Self.waitUntil(agent, "web-W-L1") {
            !$0.isEmpty && $0.allSatisfy { $0.state == "SUCCEEDED" }
        }
        #expect(settled.map(\.id) == ["web-W-L1/\(refundID)/T2"] && settled.map(\.amount) == [6421])
        let lines = try String(contentsOf: ledger, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains(#""allocation_id":"web-W-L1\/\#(refundID)\/T2""#))
        let history = try await agent.call(
            Methods.getOrder,
            GetOrderRequest(orderID: "web-W-L1"),
            as: GetOrderResponse.self
        ).history
        #expect(history.last?.event == "REFUND_ALLOCATION_SUCCEEDED" && history.last?.detail == "6421 USD REFUND to T2")
        for client in [admin, agent, portal] { await client.close() }
        try await server.stop()
    }

    @Test(
        "a payment service down past the last attempt: a dead letter, highest amount first; re-driven, the allocation is sent again and succeeds"
    )
    func deadLetterAndRedrive() async throws {
        let service = try await PaymentServiceProcess.start()
        let (server, agent, portal) = try await ConfirmationTests.setUp {
            $0.payments.deliver = true
            $0.payments.adapter = .http(url: service.url, secret: service.secret)
            $0.payments.maxAttempts = 2
            $0.payments.backoffBaseMs = 10
            $0.payments.backoffCapMs = 20
            $0.payments.pollIntervalMs = 20
        }
        let admin = try await server.client()
        let refundID = try await Self.refundOne(external: "W-DOWN-1", admin: admin, agent: agent, portal: portal)
        let id = "web-W-DOWN-1/\(refundID)/T2"
        var letter: DeadLetterView?
        try await waitFor("the dead letter") {
            letter = try? await admin.call(
                Methods.listDeadLetters,
                ListDeadLettersRequest(),
                as: ListDeadLettersResponse.self
            ).deadLetters.first { $0.kind == "payment" }
            return letter != nil
        }
        let dead = try #require(letter)
        #expect(dead.subject == id && dead.priority == 6421 && dead.detail.contains("HTTP 503"))
        #expect(try await Self.payments(agent, "web-W-DOWN-1").first?.state == "PENDING")
        let redriven = try await admin.call(
            Methods.redriveDeadLetter,
            RedriveDeadLetterRequest(id: dead.id),
            as: RedriveDeadLetterResponse.self
        )
        #expect(redriven.resolved)
        let settled = try await Self.waitUntil(agent, "web-W-DOWN-1") { $0.first?.state == "SUCCEEDED" }
        #expect(settled.map(\.id) == [id])
        let state = try await service.state()
        #expect(state.requests[id] == 4 && state.applied[id]?.status == "succeeded")
        for client in [admin, agent, portal] { await client.close() }
        try await server.stop()
    }

    @Test(
        "a payment service over HTTP: success, 500s then success, a timeout, a decline and a refusal (store credit instead), an asynchronous result recorded once; every request signed"
    )
    func httpService() async throws {
        let service = try await PaymentServiceProcess.start()
        let (server, agent, portal) = try await ConfirmationTests.setUp {
            $0.payments.deliver = true
            $0.payments.adapter = .http(url: service.url, secret: service.secret)
            $0.payments.timeoutMs = 1000
            $0.payments.backoffBaseMs = 50
            $0.payments.backoffCapMs = 200
            $0.payments.pollIntervalMs = 20
        }
        let admin = try await server.client()
        var refunds: [String: String] = [:]
        for scenario in ["OK", "FLAKY", "SLOW", "DECLINE", "BAD", "ASYNC"] {
            refunds[scenario] = try await Self.refundOne(
                external: "W-\(scenario)-1",
                admin: admin,
                agent: agent,
                portal: portal
            )
        }
        func id(_ scenario: String) -> String { "web-W-\(scenario)-1/\(refunds[scenario]!)/T2" }
        for scenario in ["OK", "FLAKY", "SLOW"] {
            let settled = try await Self.waitUntil(agent, "web-W-\(scenario)-1") { $0.first?.state == "SUCCEEDED" }
            #expect(settled.map(\.id) == [id(scenario)], "\(scenario)")
        }
        for scenario in ["DECLINE", "BAD"] {
            let settled = try await Self.waitUntil(agent, "web-W-\(scenario)-1") {
                $0.count == 2 && $0[1].state == "SUCCEEDED"
            }
            #expect(settled[0].state == "FAILED" && settled[0].fallback == "STORE_CREDIT", "\(scenario)")
            #expect(settled[1].id == id(scenario) + "/credit" && settled[1].method == "STORE_CREDIT")
            #expect(settled[1].replaces == id(scenario) && settled[1].amount == settled[0].amount)
        }
        let declined = try await Self.payments(agent, "web-W-DECLINE-1")
        #expect(declined[0].reason == "card account closed")
        #expect(try await Self.payments(agent, "web-W-BAD-1")[0].reason.contains("HTTP 422"))

        // The asynchronous service took it; its result comes later, once.
        let taken = try await Self.waitUntil(agent, "web-W-ASYNC-1") { $0.first?.accepted == true }
        #expect(taken.first?.state == "PENDING")
        let recorded = try await admin.call(
            Methods.recordRefundResult,
            RecordRefundResultRequest(allocationID: id("ASYNC"), result: "SUCCEEDED"),
            as: RecordRefundResultResponse.self
        )
        #expect(recorded.allocation.state == "SUCCEEDED" && !recorded.duplicate)
        let again = try await admin.call(
            Methods.recordRefundResult,
            RecordRefundResultRequest(allocationID: id("ASYNC"), result: "SUCCEEDED"),
            as: RecordRefundResultResponse.self
        )
        #expect(again.duplicate && again.allocation.state == "SUCCEEDED")
        do {
            _ = try await admin.call(
                Methods.recordRefundResult,
                RecordRefundResultRequest(allocationID: id("ASYNC"), result: "FAILED", reason: "changed its mind"),
                as: RecordRefundResultResponse.self
            )
            Issue.record("a second, opposite result was recorded")
        } catch let error as ClientError {
            #expect(error.code == .failedPrecondition && error.status.reasons.first?.code == "REFUND_RESULT_CONFLICT")
        }

        // What the service saw: every request signed, each allocation applied once, for its amount.
        let state = try await service.state()
        #expect(state.badSignatures == 0)
        #expect(state.requests[id("FLAKY")] == 3)
        #expect((state.requests[id("SLOW")] ?? 0) >= 2)
        for scenario in ["OK", "FLAKY", "SLOW"] {
            #expect(state.applied[id(scenario)]?.status == "succeeded" && state.applied[id(scenario)]?.amount == 6421)
        }
        #expect(state.applied[id("DECLINE")]?.status == "failed" && state.applied[id("BAD")] == nil)
        #expect(state.applied[id("DECLINE") + "/credit"]?.status == "succeeded")
        let history = try await agent.call(
            Methods.getOrder,
            GetOrderRequest(orderID: "web-W-DECLINE-1"),
            as: GetOrderResponse.self
        ).history.map(\.event)
        #expect(history.suffix(2) == ["REFUND_ALLOCATION_FAILED", "REFUND_ALLOCATION_SUCCEEDED"])
        for client in [admin, agent, portal] { await client.close() }
        try await server.stop()
    }
}

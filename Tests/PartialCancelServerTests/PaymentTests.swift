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

    @Test("pcancel order get lists the payments; pcancel refund result records one, once")
    func commands() async throws {
        let (server, agent, portal) = try await ConfirmationTests.setUp()  // payments held: PENDING
        let admin = try await server.client()
        let refundID = try await Self.refundOne(external: "W-CLI-1", admin: admin, agent: agent, portal: portal)
        let id = "web-W-CLI-1/\(refundID)/T2"
        let pcancel = try Paths.executable("pcancel")
        let connection = ["--server", "127.0.0.1:\(server.port)", "--api-key", TestServer.adminKey]
        let shown = try await runCommand(pcancel, connection + ["order", "get", "web-W-CLI-1"], environment: [:])
        #expect(shown.status == 0, "\(shown.error)")
        #expect(shown.output.contains("payments:\n  \(id)  REFUND 64.21 to T2  PENDING"), "\(shown.output)")
        let recorded = try await runCommand(
            pcancel,
            connection + ["refund", "result", id, "--succeeded"],
            environment: [:]
        )
        #expect(recorded.status == 0 && recorded.output.contains("\(id)  REFUND 64.21 to T2  SUCCEEDED"), "\(recorded)")
        let again = try await runCommand(
            pcancel,
            connection + ["refund", "result", id, "--succeeded"],
            environment: [:]
        )
        #expect(again.output.hasPrefix("recorded before; nothing changed"))
        let conflict = try await runCommand(
            pcancel,
            connection + ["refund", "result", id, "--failed", "changed its mind"],
            environment: [:]
        )
        #expect(conflict.status != 0 && (conflict.output + conflict.error).contains("REFUND_RESULT_CONFLICT"))
        let json = try await runCommand(
            pcancel,
            connection + ["--json", "order", "get", "web-W-CLI-1"],
            environment: [:]
        )
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any])
        #expect((object["payments"] as? [[String: Any]])?.first?["state"] as? String == "SUCCEEDED")
        for client in [admin, agent, portal] { await client.close() }
        try await server.stop()
    }

    @Test(
        "SIGKILL of pcancel while allocations are on their way: after a restart every allocation is applied once, none lost, none paid twice"
    )
    func sigkill() async throws {
        let service = try await PaymentServiceProcess.start()
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (adminKey, portalKey) = ("pck_payments_admin", "pck_payments_portal")
        let config = directory.appendingPathComponent("config.json")
        try """
        {"api_keys": [{"name": "ops", "role": "admin", "sha256": "\(APIKey.hash(adminKey))"},
                      {"name": "portal", "role": "portal", "sha256": "\(APIKey.hash(portalKey))"}],
         "seed_sample_data": false,
         "payments": {"adapter": "http", "url": "\(service.url)", "secret": "\(service.secret)",
                      "timeout_ms": 2000, "backoff_base_ms": 100, "backoff_cap_ms": 300, "poll_interval_ms": 20}}
        """.write(to: config, atomically: true, encoding: .utf8)
        let arguments = [
            "--config", config.path, "--data-dir", directory.appendingPathComponent("data").path, "--port", "0",
        ]
        var server = try await ServerProcess.start(arguments: arguments, workingDirectory: directory)
        var admin = try await PartialCancelClient.connect(.init(port: server.port, apiKey: adminKey))
        let portal = try await PartialCancelClient.connect(.init(port: server.port, apiKey: portalKey))
        for (sku, location, onHand) in SampleData.stock {
            _ = try await admin.call(
                Methods.putStock,
                PutStockRequest(sku: sku, location: location, onHand: onHand * 10),
                as: PutStockResponse.self
            )
        }
        // Every allocation of a FLAKY order needs three requests: when the kill comes, some are
        // between them, some not sent yet, some settled.
        var orders: [String] = []
        for index in 0..<20 {
            let external = "W-FLAKY-K\(index)"
            _ = try await Self.refundOne(external: external, admin: admin, agent: admin, portal: portal)
            orders.append("web-\(external)")
        }
        server.signal(SIGKILL)
        _ = await server.waitForExit(timeout: 10)
        await admin.close()
        await portal.close()

        server = try await ServerProcess.start(arguments: arguments, workingDirectory: directory)
        admin = try await PartialCancelClient.connect(.init(port: server.port, apiKey: adminKey))
        var allocations: [RefundAllocationView] = []
        for order in orders {
            allocations += try await Self.waitUntil(admin, order) {
                !$0.isEmpty && $0.allSatisfy { $0.state == "SUCCEEDED" }
            }
        }
        let state = try await service.state()
        #expect(state.badSignatures == 0)
        #expect(allocations.count == orders.count)
        // The service applied exactly pcancel's allocations, each for its amount: none lost, none extra.
        #expect(Set(state.applied.keys) == Set(allocations.map(\.id)))
        for allocation in allocations {
            #expect(state.applied[allocation.id]?.amount == allocation.amount, "\(allocation.id)")
            #expect((state.requests[allocation.id] ?? 0) >= 3, "\(allocation.id)")
        }
        await admin.close()
        server.signal(SIGTERM)
        #expect(await server.waitForExit(timeout: 15) == 0)
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

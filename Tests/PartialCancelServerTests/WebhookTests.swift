import Foundation
import NIOCore
import PartialCancelClient
import PartialCancelDomain
import PartialCancelServer
import PartialCancelTestSupport
import PartialCancelWire
import Testing

/// Events out to touchpoints (docs/EVENTS.md), received by a real HTTP server that checks every
/// signature with the Standard Webhooks reference library.
@Suite("Webhooks")
struct WebhookTests {
    /// The history seqs of an order that touchpoints get (those with an event type).
    static func routedSeqs(_ client: PartialCancelClient, _ order: String) async throws -> [Int64] {
        try await client.call(Methods.getOrder, GetOrderRequest(orderID: order), as: GetOrderResponse.self).history
            .filter { TouchpointEvent.type(ofHistoryEvent: $0.event) != nil }.map(\.seq)
    }

    /// Per key (order id or `sku:SKU`), the seqs of the events that arrived, in the order they first arrived.
    static func arrivals(_ events: [[String: Any]]) -> [String: [Int64]] {
        var seen = Set<String>()
        var byKey: [String: [Int64]] = [:]
        for event in events {
            guard let id = event["id"] as? String, seen.insert(id).inserted, let slash = id.lastIndex(of: "/"),
                let seq = Int64(id[id.index(after: slash)...])
            else { continue }
            byKey[String(id[..<slash]), default: []].append(seq)
        }
        return byKey
    }

    @Test(
        "each subscription gets its types, signed, in order per order and per sku, retried past a receiver's failures; payloads carry id, type, time, version and state"
    )
    func delivered() async throws {
        let receiver = try await WebhookReceiverProcess.start(subscriptions: ["portal", "inventory"], failFirst: 3)
        let (server, agent, portal) = try await ConfirmationTests.setUp {
            $0.webhooks.subscriptions = [
                WebhookSubscription(
                    name: "portal",
                    url: receiver.url("portal"),
                    secret: receiver.secrets["portal"]!,
                    events: ["order.changed", "cancellation.*", "refund.*", "fulfilment.changed"]
                ),
                WebhookSubscription(
                    name: "inventory",
                    url: receiver.url("inventory"),
                    secret: receiver.secrets["inventory"]!,
                    events: ["stock.changed"]
                ),
            ]
            $0.webhooks.pollIntervalMs = 20
            $0.webhooks.backoffBaseMs = 10
            $0.webhooks.backoffCapMs = 40
            $0.payments.deliver = true
            $0.payments.pollIntervalMs = 20
        }
        let service = try await server.client(key: TestServer.serviceKey)
        let requested = try await ConfirmationTests.request(agent, [CancelLine(lineID: "L1", quantity: 1)])
        let token = try await ConfirmationTests.token(portal, for: requested.id)
        _ = try await ConfirmationTests.confirm(portal, requested.id, token)
        _ = try await FulfilmentEndToEndTests.record(
            service,
            FulfilmentEndToEndTests.warehouse([("wms-1", "web-W-1001", "L2", "released", false)])
        )
        var received: [String: [[String: Any]]] = [:]
        try await waitFor("the events", timeout: 20) {
            received = (try? await receiver.state().received) ?? [:]
            let types = Set((received["portal"] ?? []).compactMap { $0["type"] as? String })
            return types.isSuperset(of: ["refund.succeeded", "fulfilment.changed"])
        }
        let state = try await receiver.state()
        #expect(state.badSignatures.isEmpty, "\(state.badSignatures)")
        let events = received["portal"] ?? []
        let order = Self.arrivals(events)["web-W-1001"] ?? []
        // Every routed history entry arrived, in commit order (REFUND_ISSUED and wrong tokens have no type).
        #expect(order == (try await Self.routedSeqs(agent, "web-W-1001")), "\(order)")
        #expect(
            Set(events.compactMap { $0["type"] as? String }) == [
                "order.changed", "cancellation.requested", "cancellation.confirmed", "cancellation.completed",
                "refund.succeeded", "fulfilment.changed",
            ]
        )
        let confirmed = try #require(events.first { $0["type"] as? String == "cancellation.confirmed" })
        #expect(confirmed["id"] as? String == "web-W-1001/3" && confirmed["subject"] as? String == requested.id)
        #expect(confirmed["to"] as? String == "CONFIRMED" && (confirmed["time"] as? String)?.hasSuffix("Z") == true)
        let changed = try #require(events.last { $0["type"] as? String == "order.changed" })
        let after = try #require(changed["order"] as? [String: Any])
        #expect(after["total"] as? Int == 79_504 - 6421 && after["refunded"] as? Int == 6421)
        #expect(changed["order_version"] as? Int == after["version"] as? Int)
        // Stock: per sku in order; the mug's release is there.
        let stock = received["inventory"] ?? []
        #expect(stock.allSatisfy { $0["type"] as? String == "stock.changed" })
        for (key, seqs) in Self.arrivals(stock) { #expect(seqs == seqs.sorted() && seqs.first == 1, "\(key)") }
        #expect(stock.contains { $0["sku"] as? String == "MUG-01" && $0["cause"] as? String == "RELEASE" })
        for client in [agent, portal, service] { await client.close() }
        try await server.stop()
    }

    @Test(
        "an event past its last attempt is a dead letter and holds its order's later events back; re-driven, both arrive in order"
    )
    func deadLetter() async throws {
        let receiver = try await WebhookReceiverProcess.start(subscriptions: ["desk"], failFirst: 2)
        let (server, agent, portal) = try await ConfirmationTests.setUp {
            $0.webhooks.subscriptions = [
                WebhookSubscription(
                    name: "desk",
                    url: receiver.url("desk"),
                    secret: receiver.secrets["desk"]!,
                    events: ["cancellation.*"]
                )
            ]
            $0.webhooks.pollIntervalMs = 20
            $0.webhooks.maxAttempts = 2
            $0.webhooks.backoffBaseMs = 10
            $0.webhooks.backoffCapMs = 20
        }
        let admin = try await server.client()
        let requested = try await ConfirmationTests.request(agent, [CancelLine(lineID: "L1", quantity: 1)])
        var letter: DeadLetterView?
        try await waitFor("the dead letter") {
            letter = try? await admin.call(
                Methods.listDeadLetters,
                ListDeadLettersRequest(),
                as: ListDeadLettersResponse.self
            ).deadLetters.first { $0.kind == "event" }
            return letter != nil
        }
        _ = try await agent.call(
            Methods.withdrawCancellation,
            WithdrawCancellationRequest(id: requested.id, reason: "the customer called back"),
            as: WithdrawCancellationResponse.self
        )
        try await Task.sleep(nanoseconds: 300_000_000)
        // The withdrawal's event waits behind the dead one.
        #expect(try await receiver.state().received["desk"]?.isEmpty == true)
        let redriven = try await admin.call(
            Methods.redriveDeadLetter,
            RedriveDeadLetterRequest(id: try #require(letter).id),
            as: RedriveDeadLetterResponse.self
        )
        #expect(redriven.resolved)
        var types: [String] = []
        try await waitFor("both events") {
            types = ((try? await receiver.state().received["desk"]) ?? []).compactMap { $0["type"] as? String }
            return types.count == 2
        }
        #expect(types == ["cancellation.requested", "cancellation.withdrawn"])
        for client in [admin, agent, portal] { await client.close() }
        try await server.stop()
    }

    @Test(
        "SIGKILL of pcancel while events are on their way: after a restart every event arrives, in order per order, none lost"
    )
    func sigkill() async throws {
        // The receiver refuses its first 40 requests: when the kill comes, events are waiting.
        let receiver = try await WebhookReceiverProcess.start(subscriptions: ["all"], failFirst: 40)
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (adminKey, portalKey) = ("pck_webhooks_admin", "pck_webhooks_portal")
        let config = directory.appendingPathComponent("config.json")
        try """
        {"api_keys": [{"name": "ops", "role": "admin", "sha256": "\(APIKey.hash(adminKey))"},
                      {"name": "portal", "role": "portal", "sha256": "\(APIKey.hash(portalKey))"}],
         "seed_sample_data": false,
         "webhooks": {"poll_interval_ms": 20, "backoff_base_ms": 50, "backoff_cap_ms": 100,
                      "subscriptions": [{"name": "all", "url": "\(receiver.url("all"))",
                                         "secret": "\(receiver.secrets["all"]!)", "events": ["*"]}]}}
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
        var orders: [String] = []
        for index in 0..<15 {
            _ = try await PaymentTests.refundOne(
                external: "W-HOOK-\(index)",
                admin: admin,
                agent: admin,
                portal: portal
            )
            orders.append("web-W-HOOK-\(index)")
        }
        server.signal(SIGKILL)
        _ = await server.waitForExit(timeout: 10)
        await admin.close()
        await portal.close()

        server = try await ServerProcess.start(arguments: arguments, workingDirectory: directory)
        admin = try await PartialCancelClient.connect(.init(port: server.port, apiKey: adminKey))
        // The history is read again on each look: payment results of refunds the kill left pending
        // land after the restart, and their events must arrive too.
        var expected: [String: [Int64]] = [:]
        var arrived: [String: [Int64]] = [:]
        try await waitFor("every event", timeout: 30) {
            for order in orders { expected[order] = (try? await Self.routedSeqs(admin, order)) ?? [] }
            arrived = Self.arrivals((try? await receiver.state().received["all"]) ?? [])
            return orders.allSatisfy { arrived[$0] == expected[$0] }
        }
        for order in orders { #expect(arrived[order] == expected[order], "\(order)") }
        for (key, seqs) in arrived where key.hasPrefix("sku:") { #expect(seqs == seqs.sorted(), "\(key)") }
        #expect(try await receiver.state().badSignatures.isEmpty)
        await admin.close()
        server.signal(SIGTERM)
        #expect(await server.waitForExit(timeout: 15) == 0)
    }
}

import Foundation
import NIOCore
import PartialCancelClient
import PartialCancelDomain
import PartialCancelServer
import PartialCancelStorage
import PartialCancelTestSupport
import PartialCancelWire
import Testing

@Suite("Fulfilment events end to end")
struct FulfilmentEndToEndTests {
    /// A warehouse batch: (event id, order, line, status, correction).
    static func warehouse(_ events: [(String, String, String, String, Bool)]) -> String {
        let items = events.map { id, order, line, status, correction in
            #"{"event_id": "\#(id)", "order_id": "\#(order)", "line_id": "\#(line)", "status": "\#(status)", "at": "2026-12-03T10:15:00Z""#
                + (correction ? #", "correction": true}"# : "}")
        }
        return #"{"events": [\#(items.joined(separator: ", "))]}"#
    }

    static func record(
        _ client: PartialCancelClient,
        source: String = "warehouse",
        _ payload: String
    ) async throws -> RecordFulfilmentEventsResponse {
        try await client.call(
            Methods.recordFulfilmentEvents,
            RecordFulfilmentEventsRequest(source: source, payload: ByteBuffer(string: payload)),
            as: RecordFulfilmentEventsResponse.self
        )
    }

    static func order(_ client: PartialCancelClient, _ id: String = "web-W-1001") async throws -> GetOrderResponse {
        try await client.call(Methods.getOrder, GetOrderRequest(orderID: id), as: GetOrderResponse.self)
    }

    static func pool(_ client: PartialCancelClient, _ sku: String, _ location: String) async throws -> StockPoolView? {
        try await client.call(
            Methods.getStock,
            GetStockRequest(sku: sku, location: location),
            as: GetStockResponse.self
        ).pools.first
    }

    @Test(
        "statuses only move forward, a late lower one is ignored, a correction steps back, a duplicate is answered as before; shipping consumes stock once and the order ships with its last line"
    )
    func forwardOnly() async throws {
        let (server, agent, portal) = try await ConfirmationTests.setUp()
        let service = try await server.client(key: TestServer.serviceKey)
        let order = "web-W-1001"
        let first = try await Self.record(
            service,
            Self.warehouse([
                ("wms-1", order, "L1", "picked", false),
                ("wms-2", order, "L1", "released", false),
                ("wms-3", order, "L2", "released", false),
            ])
        )
        #expect(first.results.map(\.result) == ["APPLIED", "IGNORED", "APPLIED"])
        #expect(first.results[1].detail.contains("already PICKED"))
        #expect(first.results.map(\.orderVersion) == [2, 2, 3])
        // The same events again: nothing changes, each answered with what was decided then.
        let again = try await Self.record(service, Self.warehouse([("wms-1", order, "L1", "picked", false)]))
        #expect(again.results.first?.result == "DUPLICATE" && again.results.first?.orderVersion == 2)
        let correction = try await Self.record(service, Self.warehouse([("wms-4", order, "L1", "released", true)]))
        #expect(correction.results.first?.result == "APPLIED")
        var view = try await Self.order(agent)
        #expect(view.order.lines.first { $0.id == "L1" }?.fulfilment?.status == "RELEASED_TO_WAREHOUSE")
        #expect(view.order.lines.first { $0.id == "L2a" }?.fulfilment?.status == "RELEASED_TO_WAREHOUSE")
        #expect(
            view.history.contains {
                $0.event == "FULFILMENT_UPDATED" && $0.detail == "correction, warehouse event wms-4"
            }
        )

        // Shipping: on hand and reserved both go down by the line's units, once, wherever the pool lives.
        let mugsBefore = try #require(try await Self.pool(agent, "MUG-01", "WH-EAST"))
        let shipped = try await Self.record(
            service,
            Self.warehouse([("wms-5", order, "L1", "shipped", false), ("wms-6", order, "L1", "shipped", false)])
        )
        #expect(shipped.results.map(\.result) == ["APPLIED", "IGNORED"])
        try await server.server.storage.waitForDelivery(on: agent.eventLoop).get()
        let mugs = try #require(try await Self.pool(agent, "MUG-01", "WH-EAST"))
        #expect(mugs.onHand == mugsBefore.onHand - 2 && mugs.reserved == mugsBefore.reserved - 2)
        let back = try await Self.record(service, Self.warehouse([("wms-7", order, "L1", "picked", true)]))
        #expect(back.results.first?.result == "REFUSED" && back.results.first?.reason == "PAYLOAD_INCONSISTENT")
        #expect(back.results.first?.deadLetterID.hasPrefix("dl-") == true)

        // The bundle ships with its components; the 3PL's television with its partner's feed.
        _ = try await Self.record(service, Self.warehouse([("wms-8", order, "L2", "shipped", false)]))
        let partner = try await Self.record(
            service,
            source: "3pl",
            #"{"partner": "NORTHPL", "shipments": [{"ref": "NP-1", "milestone": "HANDED_TO_CARRIER", "client_order": "web-W-1001", "ts": 1764756900, "lines": [{"client_line": "L4"}]}]}"#
        )
        #expect(partner.results.map(\.eventID) == ["NORTHPL:NP-1:HANDED_TO_CARRIER:L4"])
        #expect(partner.results.first?.result == "APPLIED")
        view = try await Self.order(agent)
        #expect(view.order.status == "SHIPPED")
        #expect(view.history.contains { $0.event == "ORDER_STATUS_CHANGED" && $0.toState == "SHIPPED" })
        try await server.server.storage.waitForDelivery(on: agent.eventLoop).get()
        for (sku, location, onHand) in SampleData.stock {
            let pool = try #require(try await Self.pool(agent, sku, location))
            let shippedUnits: Int64 = sku == "MUG-01" ? 2 : 1
            #expect(pool.reserved == 0 && pool.onHand == onHand - shippedUnits, "\(sku)")
        }
        let audit = try await (server.server.storage as! Storage).audit(on: agent.eventLoop).get()
        #expect(audit.violations.isEmpty, "\(audit.violations)")
        for client in [agent, portal, service] { await client.close() }
        try await server.stop()
    }

    @Test(
        "an event that makes a pending request ineligible aborts it at once: ABORTED with the reason, the customer told, the token dead"
    )
    func abortsPending() async throws {
        let (server, agent, portal) = try await ConfirmationTests.setUp()
        let service = try await server.client(key: TestServer.serviceKey)
        let mug = try await ConfirmationTests.request(agent, [CancelLine(lineID: "L1", quantity: 1)])
        let strap = try await ConfirmationTests.request(agent, [CancelLine(lineID: "L2b")])
        let token = try await ConfirmationTests.token(portal, for: mug.id)
        let watch = WatchTests.watchOrder(agent)
        _ = try await watch.wait { !$0.isEmpty }
        let picked = try await Self.record(service, Self.warehouse([("wms-1", "web-W-1001", "L1", "picked", false)]))
        #expect(picked.aborted.map(\.id) == [mug.id] && picked.aborted.first?.state == "ABORTED")
        // The watch shows the change at once: the line picked, then the request aborted.
        let changes = try await watch.wait { $0.contains { $0.entry?.event == "CANCELLATION_ABORTED" } }
        #expect(changes.compactMap(\.entry?.event).suffix(2) == ["FULFILMENT_UPDATED", "CANCELLATION_ABORTED"])
        watch.task.cancel()
        let request = try await agent.call(
            Methods.getCancellation,
            GetCancellationRequest(id: mug.id),
            as: GetCancellationResponse.self
        ).cancellation
        #expect(request.state == "ABORTED")
        let history = try await Self.order(agent).history
        let entry = try #require(history.first { $0.event == "CANCELLATION_ABORTED" })
        #expect(entry.detail.contains("FULFILMENT_IN_PROGRESS") && entry.detail.contains("line L1 PICKED"))
        let inbox = try await portal.call(
            Methods.listNotifications,
            ListNotificationsRequest(limit: 100),
            as: ListNotificationsResponse.self,
            metadata: Metadata(onBehalfOf: "acct-42")
        ).notifications
        let told = try #require(inbox.first { $0.cancellationID == mug.id && $0.kind == "CANCELLATION_ABORTED" })
        #expect(told.body.contains("line L1 PICKED") && told.subject.contains("could not go ahead"))
        do {
            _ = try await ConfirmationTests.confirm(portal, mug.id, token)
            Issue.record("confirmed an aborted request")
        } catch let error as ClientError {
            #expect(error.status.reasons.first?.code == "REQUEST_ABORTED")
        }
        // The other request covers other lines: it waits on.
        let other = try await agent.call(
            Methods.getCancellation,
            GetCancellationRequest(id: strap.id),
            as: GetCancellationResponse.self
        ).cancellation
        #expect(other.state == "PENDING_CONFIRMATION")
        #expect(try await server.server.storage.refunds(orderID: "web-W-1001", on: agent.eventLoop).get().isEmpty)
        for client in [agent, portal, service] { await client.close() }
        try await server.stop()
    }

    @Test(
        "a confirmation and a PICKED event racing for the same line: exactly one wins, every time (order's version decides)"
    )
    func raceWithConfirmation() async throws {
        let (server, agent, portal) = try await ConfirmationTests.setUp()
        let service = try await server.client(key: TestServer.serviceKey)
        let admin = try await server.client()
        let wins = try await Self.race(rounds: 60, admin: admin, agent: agent, portal: portal, service: service)
        print("fulfilment race: confirmation first \(wins.confirmation), event first \(wins.event)")
        try await server.server.storage.waitForDelivery(on: agent.eventLoop).get()
        let audit = try await (server.server.storage as! Storage).audit(on: agent.eventLoop).get()
        #expect(audit.violations.isEmpty, "\(audit.violations)")
        for client in [agent, portal, service, admin] { await client.close() }
        try await server.stop()
    }

    /// `rounds` orders, each with a request for all of L1 that the customer confirms while the
    /// warehouse reports L1 picked (the confirmation held back a moment in every other round, so
    /// that both get to go first): exactly one of them wins each time. Returns who won how often.
    static func race(
        rounds: Int,
        admin: PartialCancelClient,
        agent: PartialCancelClient,
        portal: PartialCancelClient,
        service: PartialCancelClient
    ) async throws -> (confirmation: Int, event: Int) {
        var wins = (confirmation: 0, event: 0)
        for round in 0..<rounds {
            let external = "W-RACE-\(round)"
            let order = "web-\(external)"
            _ = try await admin.call(
                Methods.ingestOrder,
                IngestOrderRequest(
                    channel: "web",
                    payload: ByteBuffer(string: SamplePayloads.web.replacingOccurrences(of: "W-1001", with: external))
                ),
                as: IngestOrderResponse.self
            )
            let requested = try await ConfirmationTests.request(agent, [CancelLine(lineID: "L1")], order: order)
            let token = try await ConfirmationTests.token(portal, for: requested.id)
            async let confirmed: Result<ConfirmCancellationResponse, any Error> = {
                if round % 2 == 1 { try? await Task.sleep(nanoseconds: UInt64.random(in: 0...3_000_000)) }
                do { return .success(try await ConfirmationTests.confirm(portal, requested.id, token)) } catch {
                    return .failure(error)
                }
            }()
            async let picked = Self.record(service, Self.warehouse([("race-\(round)", order, "L1", "picked", false)]))
            let (confirmation, event) = try await (confirmed, picked)
            let view = try await Self.order(agent, order)
            let refunds = view.history.filter { $0.event == "REFUND_ISSUED" }
            let line = view.order.lines.first { $0.id == "L1" }
            switch confirmation {
            case .success(let response):
                // The confirmation came first: the line's units are cancelled, the event finds none.
                wins.confirmation += 1
                #expect(response.refund != nil && refunds.count == 1)
                #expect(event.results.first?.result == "IGNORED" && event.aborted.isEmpty)
                #expect(line?.cancelledQuantity == 2 && line?.fulfilment?.status == "RESERVED")
            case .failure(let error):
                // The event came first: the request is aborted, nothing refunded.
                wins.event += 1
                #expect((error as? ClientError)?.status.reasons.first?.code == "REQUEST_ABORTED")
                #expect(event.results.first?.result == "APPLIED")
                #expect(event.aborted.map(\.id) == [requested.id])
                #expect(refunds.isEmpty && line?.cancelledQuantity == 0 && line?.fulfilment?.status == "PICKED")
            }
        }
        return wins
    }

    @Test(
        "a malformed batch is refused with its field path and kept as a dead letter; an event for a missing order is refused, kept, and re-driven once the order exists"
    )
    func refusalsAndRedrive() async throws {
        let server = try await TestServer.start()
        let admin = try await server.client()
        let service = try await server.client(key: TestServer.serviceKey)
        do {
            _ = try await Self.record(
                service,
                #"{"events": [{"event_id": "x", "order_id": "web-W-1001", "line_id": "L1", "status": "lost", "at": "2026-12-03T10:15:00Z"}]}"#
            )
            Issue.record("a malformed batch was accepted")
        } catch let error as ClientError {
            #expect(error.code == .invalidArgument)
            #expect(error.status.reasons.first?.subject == "events[0].status")
            #expect(error.status.reasons.contains { $0.code == "DEAD_LETTERED" })
        }
        do {
            _ = try await Self.record(service, source: "carrier-pigeon", #"{"events": []}"#)
            Issue.record("an unknown source was accepted")
        } catch let error as ClientError {
            #expect(error.code == .invalidArgument && error.status.message.contains("known: 3pl, warehouse"))
        }
        let early = try await Self.record(service, Self.warehouse([("wms-9", "web-W-1001", "L1", "picked", false)]))
        let refused = try #require(early.results.first)
        #expect(refused.result == "REFUSED" && refused.reason == "ORDER_NOT_FOUND" && refused.orderVersion == 0)
        let letters = try await admin.call(
            Methods.listDeadLetters,
            ListDeadLettersRequest(),
            as: ListDeadLettersResponse.self
        ).deadLetters
        #expect(Set(letters.map(\.kind)) == ["fulfilment", "fulfilment-event"])
        // Not yet: the order is still missing, so the letter stays open.
        var redriven = try await admin.call(
            Methods.redriveDeadLetter,
            RedriveDeadLetterRequest(id: refused.deadLetterID),
            as: RedriveDeadLetterResponse.self
        )
        #expect(!redriven.resolved)
        _ = try await admin.call(
            Methods.ingestOrder,
            IngestOrderRequest(channel: "web", payload: ByteBuffer(string: SamplePayloads.web)),
            as: IngestOrderResponse.self
        )
        redriven = try await admin.call(
            Methods.redriveDeadLetter,
            RedriveDeadLetterRequest(id: refused.deadLetterID),
            as: RedriveDeadLetterResponse.self
        )
        #expect(redriven.resolved)
        #expect(try await Self.order(admin).order.lines.first { $0.id == "L1" }?.fulfilment?.status == "PICKED")
        // The event is recorded now: sent again by its source, it is a duplicate.
        let late = try await Self.record(service, Self.warehouse([("wms-9", "web-W-1001", "L1", "picked", false)]))
        #expect(late.results.first?.result == "DUPLICATE")
        for client in [admin, service] { await client.close() }
        try await server.stop()
    }

    @Test("the payloads in examples/ ingest as new orders and record as the README says")
    func examples() async throws {
        let (server, agent, portal) = try await ConfirmationTests.setUp()
        let admin = try await server.client()
        let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples")
        func file(_ name: String) throws -> ByteBuffer {
            ByteBuffer(bytes: try Data(contentsOf: examples.appendingPathComponent(name)))
        }
        for (channel, id) in [
            ("web", "web-W-2001"), ("marketplace", "marketplace-MP-6001"), ("callcenter", "callcenter-CC-4001"),
        ] {
            let ingested = try await admin.call(
                Methods.ingestOrder,
                IngestOrderRequest(channel: channel, payload: try file("\(channel).json")),
                as: IngestOrderResponse.self
            )
            #expect(ingested.created && ingested.order.id == id && ingested.order.totals.total == 79_504)
        }
        let strap = try await ConfirmationTests.request(agent, [CancelLine(lineID: "L2b")])
        let warehouse = try await admin.call(
            Methods.recordFulfilmentEvents,
            RecordFulfilmentEventsRequest(source: "warehouse", payload: try file("warehouse.json")),
            as: RecordFulfilmentEventsResponse.self
        )
        #expect(warehouse.results.map(\.result) == ["APPLIED", "APPLIED"])
        #expect(warehouse.aborted.map(\.id) == [strap.id])
        let partner = try await admin.call(
            Methods.recordFulfilmentEvents,
            RecordFulfilmentEventsRequest(source: "3pl", payload: try file("3pl.json")),
            as: RecordFulfilmentEventsResponse.self
        )
        #expect(partner.results.map(\.result) == ["APPLIED"])
        let television = try await agent.call(
            Methods.validateEligibility,
            ValidateEligibilityRequest(orderID: "web-W-1001", lines: [CancelLine(lineID: "L4")]),
            as: ValidateEligibilityResponse.self
        )
        #expect(television.eligible)
        for client in [admin, agent, portal] { await client.close() }
        try await server.stop()
    }

    @Test("a partner's cancel window: closed, the line is refused as 3PL; opened, it may be cancelled")
    func partnerWindow() async throws {
        let (server, agent, portal) = try await ConfirmationTests.setUp()
        let service = try await server.client(key: TestServer.serviceKey)
        func eligible() async throws -> Bool {
            try await agent.call(
                Methods.validateEligibility,
                ValidateEligibilityRequest(orderID: "web-W-1001", lines: [CancelLine(lineID: "L4")]),
                as: ValidateEligibilityResponse.self
            ).eligible
        }
        #expect(try await eligible() == false)
        let opened = try await Self.record(
            service,
            source: "3pl",
            #"{"partner": "NORTHPL", "shipments": [{"ref": "NP-2", "milestone": "HOLD", "client_order": "web-W-1001", "cancel_window_open": true, "ts": 1764756900, "lines": [{"client_line": "L4"}]}]}"#
        )
        #expect(opened.results.map(\.result) == ["APPLIED"])  // HOLD changes no status: one event, the window's
        #expect(try await eligible() == true)
        for client in [agent, portal, service] { await client.close() }
        try await server.stop()
    }
}

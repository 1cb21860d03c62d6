import Foundation
import Logging
import NIOCore
import PartialCancelClient
import PartialCancelDomain
import PartialCancelServer
import PartialCancelTestSupport
import PartialCancelWire
import Testing

@Suite("Eligibility end to end")
struct CancellationEndToEndTests {
    func validate(
        _ client: PartialCancelClient,
        _ order: String,
        _ lines: [CancelLine],
        onBehalfOf: String = ""
    ) async throws -> ValidateEligibilityResponse {
        try await client.call(
            Methods.validateEligibility,
            ValidateEligibilityRequest(orderID: order, lines: lines),
            as: ValidateEligibilityResponse.self,
            metadata: Metadata(onBehalfOf: onBehalfOf)
        )
    }

    @Test("an agent validates the sample order's lines: verdicts with named rules, and a quote when all are eligible")
    func validateSample() async throws {
        let server = try await TestServer.start { _ in }
        let service = try await server.client(key: TestServer.serviceKey)
        _ = try await service.call(
            Methods.ingestOrder,
            IngestOrderRequest(channel: "web", payload: ByteBuffer(string: SamplePayloads.web)),
            as: IngestOrderResponse.self
        )
        let agent = try await server.client(key: TestServer.agentKey)

        let mug = try await validate(agent, "web-W-1001", [CancelLine(lineID: "L1", quantity: 1)])
        #expect(mug.eligible)
        let quote = try #require(mug.quote)
        // half of 116.74 and of 11.67 (floor)
        #expect(quote.lines == [LineRefundView(lineID: "L1", quantity: 1, net: 5837, tax: 584)])
        #expect(quote.refundTotal == 6421)
        #expect(quote.tenders == [TenderAllocationView(tenderID: "T2", method: "REFUND", amount: 6421)])
        #expect(quote.newTotals.total == 79_504 - 6421)
        #expect(quote.policy == "proportional" && quote.orderVersion == 1)

        let mixed = try await validate(
            agent,
            "web-W-1001",
            [CancelLine(lineID: "L2b"), CancelLine(lineID: "L4"), CancelLine(lineID: "L9")]
        )
        #expect(!mixed.eligible)
        #expect(mixed.quote == nil)
        #expect(mixed.lines.map(\.eligible) == [true, false, false])
        #expect(
            mixed.lines[1].reasons.first
                == EligibilityReasonView(
                    code: "THIRD_PARTY_LOGISTICS",
                    rule: "line.fulfilment.partner_accepts_cancel",
                    detail: "line L4 at 3PL-WEST (THIRD_PARTY_LOGISTICS)"
                )
        )
        #expect(mixed.lines[2].reasons.map(\.code) == ["LINE_NOT_FOUND"])
        // An unknown line is told which lines there are.
        #expect(mixed.lines[2].reasons.first?.detail.hasSuffix("the order's lines: L1, L2, L2a, L2b, L3, L4") == true)

        // Nothing changed: validation has no side effects.
        let order = try await agent.call(
            Methods.getOrder,
            GetOrderRequest(orderID: "web-W-1001"),
            as: GetOrderResponse.self
        )
        #expect(order.order.version == 1 && order.order.lines.allSatisfy { $0.cancelledQuantity == 0 })
        for client in [service, agent] { await client.close() }
        try await server.stop()
    }

    @Test("bad requests name their field; unknown orders are NOT_FOUND; portals see only their account")
    func refusals() async throws {
        let server = try await TestServer.start { _ in }
        let service = try await server.client(key: TestServer.serviceKey)
        _ = try await service.call(
            Methods.ingestOrder,
            IngestOrderRequest(channel: "web", payload: ByteBuffer(string: SamplePayloads.web)),
            as: IngestOrderResponse.self
        )
        let cases: [(String, [CancelLine], String, StatusCode, String)] = [
            ("web-W-1001", [], "", .invalidArgument, "request.lines"),
            ("web-W-1001", [CancelLine(lineID: "L1", quantity: -1)], "", .invalidArgument, "request.lines[0].quantity"),
            ("web-W-1001", [CancelLine(lineID: "")], "", .invalidArgument, "request.lines[0].line_id"),
            ("", [CancelLine(lineID: "L1")], "", .invalidArgument, "request.order_id"),
            ("web-NOPE", [CancelLine(lineID: "L1")], "", .notFound, "web-NOPE"),
        ]
        for (order, lines, _, code, subject) in cases {
            do {
                _ = try await validate(service, order, lines)
                Issue.record("accepted \(order) \(lines)")
            } catch let error as ClientError {
                #expect(error.code == code)
                #expect(error.status.reasons.first?.subject == subject)
            }
        }
        let portal = try await server.client(key: TestServer.portalKey)
        #expect(try await validate(portal, "web-W-1001", [CancelLine(lineID: "L1")], onBehalfOf: "acct-42").eligible)
        await #expect(throws: ClientError.self) {
            _ = try await validate(portal, "web-W-1001", [CancelLine(lineID: "L1")], onBehalfOf: "acct-1")
        }
        for client in [service, portal] { await client.close() }
        try await server.stop()
    }

    @Test("the configured policy applies: reprice and a channel window")
    func configuredPolicy() async throws {
        let server = try await TestServer.start { configuration in
            configuration.cancellation = CancellationPolicy(rules: [
                .init(channel: "marketplace", cancelWindowMinutes: 30),
                .init(channel: "web", refundPolicy: .reprice),
            ])
        }
        let service = try await server.client(key: TestServer.serviceKey)
        for (channel, payload) in SampleData.orders {
            _ = try await service.call(
                Methods.ingestOrder,
                IngestOrderRequest(channel: channel, payload: ByteBuffer(string: payload)),
                as: IngestOrderResponse.self
            )
        }
        // The marketplace order was placed on 2026-11-20: far outside a 30-minute window.
        let late = try await validate(service, "marketplace-MP-5001", [CancelLine(lineID: "L1")])
        #expect(late.lines[0].reasons.map(\.rule) == ["channel_rule marketplace/* cancel_window_minutes=30"])
        // Web uses reprice. With a TV whose partner still accepts cancellation, cancelling it and the
        // camera kit leaves 135.00 < 150.00: SAVE20 is withdrawn from what remains.
        let payload = SamplePayloads.web.replacingOccurrences(of: "W-1001", with: "W-2001")
            .replacingOccurrences(of: #""partner_accepts_cancel": false"#, with: #""partner_accepts_cancel": true"#)
        _ = try await service.call(
            Methods.ingestOrder,
            IngestOrderRequest(channel: "web", payload: ByteBuffer(string: payload)),
            as: IngestOrderResponse.self
        )
        let kit = try await validate(service, "web-W-2001", [CancelLine(lineID: "L2"), CancelLine(lineID: "L4")])
        #expect(kit.quote?.policy == "reprice")
        #expect(kit.quote?.deductions.map(\.code) == ["PROMOTION_WITHDRAWN"])
        // SAVE20's shares on L1 (3.26) and L3 (0.41), plus L1's 10% tax on its share: 3.26 + 0.33 + 0.41.
        #expect(kit.quote?.deductions.first?.amount == Int64(326 + 33 + 41))
        await service.close()
        try await server.stop()
    }
}

@Suite("Cancellation requests end to end")
struct CancellationRequestTests {
    func ingestSample(_ server: TestServer) async throws {
        let service = try await server.client(key: TestServer.serviceKey)
        _ = try await service.call(
            Methods.ingestOrder,
            IngestOrderRequest(channel: "web", payload: ByteBuffer(string: SamplePayloads.web)),
            as: IngestOrderResponse.self
        )
        await service.close()
    }

    func request(
        _ client: PartialCancelClient,
        _ lines: [CancelLine],
        reason: String = "ADDED_BY_MISTAKE",
        onBehalfOf: String = ""
    ) async throws -> CancellationView {
        try await client.call(
            Methods.requestCancellation,
            RequestCancellationRequest(orderID: "web-W-1001", lines: lines, reasonCode: reason),
            as: RequestCancellationResponse.self,
            metadata: Metadata(onBehalfOf: onBehalfOf)
        ).cancellation
    }

    @Test("a request records the binding quote, tells the customer the token, and takes its lines")
    func request() async throws {
        let server = try await TestServer.start { _ in }
        try await ingestSample(server)
        let agent = try await server.client(key: TestServer.agentKey)
        let validated = try await agent.call(
            Methods.validateEligibility,
            ValidateEligibilityRequest(orderID: "web-W-1001", lines: [CancelLine(lineID: "L1", quantity: 1)]),
            as: ValidateEligibilityResponse.self
        )
        let created = try await request(agent, [CancelLine(lineID: "L1", quantity: 1)])
        #expect(created.id == "web-W-1001/c1")
        #expect(created.state == "PENDING_CONFIRMATION")
        #expect(created.actor == "agent (agent)")
        #expect(created.quote.refundTotal == 6421)
        #expect(created.quote.lines == validated.quote?.lines)
        #expect(created.expiresAtMs - created.createdMs == 24 * 3_600_000)

        // The customer's portal inbox holds the token; nobody else can read it.
        let portal = try await server.client(key: TestServer.portalKey)
        let inbox = try await portal.call(
            Methods.listNotifications,
            ListNotificationsRequest(),
            as: ListNotificationsResponse.self,
            metadata: Metadata(onBehalfOf: "acct-42")
        ).notifications
        #expect(inbox.count == 1)
        #expect(inbox[0].kind == "CONFIRMATION_REQUESTED" && inbox[0].cancellationID == created.id)
        let tokenLine = try #require(inbox[0].body.split(separator: "\n").last)
        #expect(tokenLine.hasPrefix("Token: ") && tokenLine.dropFirst(7).count == 64)
        #expect(
            try await portal.call(
                Methods.listNotifications,
                ListNotificationsRequest(),
                as: ListNotificationsResponse.self,
                metadata: Metadata(onBehalfOf: "acct-7")
            ).notifications.isEmpty
        )
        do {
            _ = try await agent.call(
                Methods.listNotifications,
                ListNotificationsRequest(),
                as: ListNotificationsResponse.self,
                metadata: Metadata(onBehalfOf: "acct-42")
            )
            Issue.record("an agent read the customer's inbox")
        } catch let error as ClientError {
            #expect(error.code == .permissionDenied)
        }

        // The line is now pending: another request for it is refused, other lines are not.
        do {
            _ = try await request(agent, [CancelLine(lineID: "L1", quantity: 1)])
            Issue.record("a second request took a pending line")
        } catch let error as ClientError {
            #expect(error.code == .failedPrecondition)
            #expect(
                error.status.reasons.first
                    == Reason(rawCode: "CANCELLATION_PENDING", subject: "L1", detail: "cancellation.pending")
            )
        }
        #expect(try await request(agent, [CancelLine(lineID: "L2b")]).id == "web-W-1001/c2")

        let read = try await agent.call(
            Methods.getCancellation,
            GetCancellationRequest(id: created.id),
            as: GetCancellationResponse.self
        ).cancellation
        #expect(read == created)
        let order = try await agent.call(
            Methods.getOrder,
            GetOrderRequest(orderID: "web-W-1001"),
            as: GetOrderResponse.self
        )
        #expect(order.history.map(\.event) == ["INGESTED", "CANCELLATION_REQUESTED", "CANCELLATION_REQUESTED"])
        #expect(order.order.version == 1)  // nothing changes until the customer confirms
        for client in [agent, portal] { await client.close() }
        try await server.stop()
    }

    @Test("refused requests record nothing and say why")
    func refused() async throws {
        let server = try await TestServer.start { _ in }
        try await ingestSample(server)
        let agent = try await server.client(key: TestServer.agentKey)
        do {
            _ = try await request(agent, [CancelLine(lineID: "L4")])
            Issue.record("an ineligible line was requested")
        } catch let error as ClientError {
            #expect(error.code == .failedPrecondition)
            #expect(error.status.reasons.map(\.code) == ["THIRD_PARTY_LOGISTICS"])
        }
        do {
            _ = try await request(agent, [CancelLine(lineID: "L1")], reason: "just because")
            Issue.record("a malformed reason code was accepted")
        } catch let error as ClientError {
            #expect(error.status.reasons.first?.subject == "request.reason_code")
        }
        let portal = try await server.client(key: TestServer.portalKey)
        await #expect(throws: ClientError.self) {
            _ = try await request(portal, [CancelLine(lineID: "L1")], onBehalfOf: "acct-7")
        }
        #expect(try await request(portal, [CancelLine(lineID: "L1")], onBehalfOf: "acct-42").id == "web-W-1001/c1")
        await #expect(throws: ClientError.self) {
            _ = try await agent.call(
                Methods.getCancellation,
                GetCancellationRequest(id: "web-W-1001/c9"),
                as: GetCancellationResponse.self
            )
        }
        for client in [agent, portal] { await client.close() }
        try await server.stop()
    }
}

@Suite("Confirmation end to end")
struct ConfirmationTests {
    static func token(_ portal: PartialCancelClient, for id: String, account: String = "acct-42") async throws -> String
    {
        let inbox = try await portal.call(
            Methods.listNotifications,
            ListNotificationsRequest(limit: 100),
            as: ListNotificationsResponse.self,
            metadata: Metadata(onBehalfOf: account)
        ).notifications
        let message = try #require(inbox.first { $0.cancellationID == id && $0.kind == "CONFIRMATION_REQUESTED" })
        let line = try #require(message.body.split(separator: "\n").first { $0.hasPrefix("Token: ") })
        return String(line.dropFirst(7))
    }

    static func setUp(
        _ configure: @escaping (inout ServerConfiguration) -> Void = { _ in },
        payload: String = SamplePayloads.web,
        logger: Logger? = nil,
        clock: WallClock = .system
    ) async throws
        -> (TestServer, agent: PartialCancelClient, portal: PartialCancelClient)
    {
        let server = try await TestServer.start(logger: logger, clock: clock, configuring: configure)
        let admin = try await server.client()
        for (sku, location, onHand) in SampleData.stock {
            _ = try await admin.call(
                Methods.putStock,
                PutStockRequest(sku: sku, location: location, onHand: onHand),
                as: PutStockResponse.self
            )
        }
        _ = try await admin.call(
            Methods.ingestOrder,
            IngestOrderRequest(channel: "web", payload: ByteBuffer(string: payload)),
            as: IngestOrderResponse.self
        )
        await admin.close()
        return (
            server, try await server.client(key: TestServer.agentKey),
            try await server.client(key: TestServer.portalKey)
        )
    }

    static func request(
        _ agent: PartialCancelClient,
        _ lines: [CancelLine],
        order: String = "web-W-1001"
    ) async throws -> CancellationView {
        try await agent.call(
            Methods.requestCancellation,
            RequestCancellationRequest(orderID: order, lines: lines, reasonCode: "ADDED_BY_MISTAKE"),
            as: RequestCancellationResponse.self
        ).cancellation
    }

    /// Confirms as the customer's portal (acting for the sample order's account).
    static func confirm(
        _ client: PartialCancelClient,
        _ id: String,
        _ token: String,
        account: String = "acct-42"
    ) async throws -> ConfirmCancellationResponse {
        try await client.call(
            Methods.confirmCancellation,
            ConfirmCancellationRequest(id: id, token: token),
            as: ConfirmCancellationResponse.self,
            metadata: Metadata(onBehalfOf: account)
        )
    }

    @Test("pcancel confirm a second time says when it was confirmed, and that nothing was done again")
    func confirmTwiceCommand() async throws {
        let (server, agent, portal) = try await Self.setUp()
        let requested = try await Self.request(agent, [CancelLine(lineID: "L1", quantity: 1)])
        let token = try await Self.token(portal, for: requested.id)
        let first = try await Self.confirm(portal, requested.id, token)
        let pcancel = try Paths.executable("pcancel")
        let again = try await runCommand(
            pcancel,
            [
                "--server", "127.0.0.1:\(server.port)", "--api-key", TestServer.agentKey, "confirm", requested.id,
                "--token", token,
            ],
            environment: [:]
        )
        #expect(again.status == 0, "\(again.error)")
        let confirmedAt = RFC3339.format(try #require(first.refund).createdMs)
        #expect(
            again.output.contains("(already confirmed at \(confirmedAt); nothing was done again)"),
            "\(again.output)"
        )
        // The history as a person reads it: amounts as everywhere else in the CLI, RFC 3339 times.
        let history = try await runCommand(
            pcancel,
            [
                "--server", "127.0.0.1:\(server.port)", "--api-key", TestServer.agentKey, "order", "history",
                "web-W-1001",
            ],
            environment: [:]
        )
        #expect(history.output.contains("(total 795.04 USD)") && history.output.contains("refund 64.21 USD"))
        #expect(!history.output.contains("6421 USD"), "\(history.output)")
        #expect(history.output.contains(/#1 20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z INGESTED/))
        // Why is it where it is: its refund, when it was confirmed, its payment (held PENDING here).
        let shown = try await agent.call(
            Methods.getCancellation,
            GetCancellationRequest(id: requested.id),
            as: GetCancellationResponse.self
        )
        #expect(shown.refund?.refundID == first.refund?.refundID && shown.waitsFor.isEmpty)
        #expect(shown.payments.map(\.state) == ["PENDING"] && shown.payments.first?.amount == 6421)
        let get = try await runCommand(
            pcancel,
            [
                "--server", "127.0.0.1:\(server.port)", "--api-key", TestServer.agentKey, "cancellation", "get",
                requested.id,
            ],
            environment: [:]
        )
        #expect(
            get.output.contains("refund \(first.refund!.refundID): 64.21 USD, confirmed \(confirmedAt)"),
            "\(get.output)"
        )
        #expect(
            get.output.contains("payments:\n  web-W-1001/\(first.refund!.refundID)/T2  REFUND 64.21 to T2  PENDING")
        )
        #expect(!get.output.contains("confirmation token sent"))
        for client in [agent, portal] { await client.close() }
        try await server.stop()
    }

    @Test(
        "the mistaken item: requested, confirmed by token, refunded to the cent, stock released, COMPLETED; twice is the same answer"
    )
    func mistakenItem() async throws {
        let (server, agent, portal) = try await Self.setUp()
        let requested = try await Self.request(agent, [CancelLine(lineID: "L1", quantity: 1)])
        let token = try await Self.token(portal, for: requested.id)
        let confirmed = try await Self.confirm(portal, requested.id, token)
        let refund = try #require(confirmed.refund)
        #expect(refund.amount == 6421 && refund.amount == requested.quote.refundTotal)
        #expect(refund.refundID.hasPrefix("rf_") && refund.refundID.count == 35)
        #expect(refund.allocations == [TenderAllocationView(tenderID: "T2", method: "REFUND", amount: 6421)])
        let order = try #require(confirmed.order)
        #expect(order.version == 2 && order.totals.total == 79_504 - 6421 && order.totals.refunded == 6421)
        #expect(order.lines.first { $0.id == "L1" }?.cancelledQuantity == 1)
        #expect(order.tenders.first { $0.id == "T2" }?.refunded == 6421)

        try await server.server.storage.waitForDelivery(on: agent.eventLoop).get()
        let mugs = try await agent.call(
            Methods.getStock,
            GetStockRequest(sku: "MUG-01", location: "WH-EAST"),
            as: GetStockResponse.self
        ).pools
        #expect(mugs == [StockPoolView(sku: "MUG-01", location: "WH-EAST", onHand: 120, reserved: 1, available: 119)])
        let state = try await agent.call(
            Methods.getCancellation,
            GetCancellationRequest(id: requested.id),
            as: GetCancellationResponse.self
        ).cancellation.state
        #expect(state == "COMPLETED")

        let again = try await Self.confirm(agent, requested.id, token)
        #expect(again.refund == refund)
        // The second answer says it is the first one's: confirmed before, nothing done again.
        #expect(again.earlier && !confirmed.earlier)
        let refunds = try await server.server.storage.refunds(orderID: "web-W-1001", on: agent.eventLoop).get()
        #expect(refunds.count == 1)
        // The audit trail: every change of the order, the request and the refund, with actor and old → new.
        let history = try await agent.call(
            Methods.getOrder,
            GetOrderRequest(orderID: "web-W-1001"),
            as: GetOrderResponse.self
        ).history
        let trail = history.map { "\($0.seq) \($0.event) \($0.subject) \($0.fromState) -> \($0.toState)" }
        #expect(
            trail == [
                "1 INGESTED web-W-1001  -> CONFIRMED",
                "2 CANCELLATION_REQUESTED \(requested.id)  -> PENDING_CONFIRMATION",
                "3 CANCELLATION_CONFIRMED \(requested.id) PENDING_CONFIRMATION -> CONFIRMED",
                "4 ORDER_UPDATED web-W-1001 CONFIRMED, total 79504 USD -> CONFIRMED, total 73083 USD",
                "5 REFUND_ISSUED \(refund.refundID)  -> ISSUED",
                "6 CANCELLATION_COMPLETED \(requested.id) CONFIRMED -> COMPLETED",
            ]
        )
        #expect(history.allSatisfy { $0.atMs > 0 && !$0.actor.isEmpty })
        #expect(history[2].actor.contains("portal") || history[2].actor.contains("agent"))
        let inbox = try await portal.call(
            Methods.listNotifications,
            ListNotificationsRequest(),
            as: ListNotificationsResponse.self,
            metadata: Metadata(onBehalfOf: "acct-42")
        ).notifications
        #expect(inbox.first?.kind == "CANCELLATION_CONFIRMED")
        for client in [agent, portal] { await client.close() }
        try await server.stop()
    }

    @Test("ReleaseInventory re-drives idempotently and reports the pools; only confirmed cancellations release")
    func releaseInventory() async throws {
        let (server, agent, portal) = try await Self.setUp()
        let admin = try await server.client()
        let kit = try await Self.request(agent, [CancelLine(lineID: "L2")])
        do {
            _ = try await admin.call(
                Methods.releaseInventory,
                ReleaseInventoryRequest(id: kit.id),
                as: ReleaseInventoryResponse.self
            )
            Issue.record("released a pending cancellation")
        } catch let error as ClientError {
            #expect(error.code == .failedPrecondition && error.status.reasons.first?.code == "NOT_CONFIRMED")
        }
        _ = try await Self.confirm(portal, kit.id, try await Self.token(portal, for: kit.id))
        for _ in 0..<2 {
            let release = try await admin.call(
                Methods.releaseInventory,
                ReleaseInventoryRequest(id: kit.id),
                as: ReleaseInventoryResponse.self
            )
            #expect(release.complete && release.cancellation.state == "COMPLETED")
            #expect(release.released.map(\.lineID) == ["L2a", "L2b"])  // the bundle's parts are what is on the shelf
            #expect(release.released.map(\.pool.reserved) == [0, 0])
            #expect(release.released.map(\.pool.available) == [15, 40])
        }
        await #expect(throws: ClientError.self) {
            _ = try await agent.call(
                Methods.releaseInventory,
                ReleaseInventoryRequest(id: kit.id),
                as: ReleaseInventoryResponse.self
            )
        }
        for client in [agent, portal, admin] { await client.close() }
        try await server.stop()
    }

    @Test("wrong tokens are refused and counted; the fifth locks the request; a decline ends another")
    func tokens() async throws {
        let (server, agent, portal) = try await Self.setUp()
        let first = try await Self.request(agent, [CancelLine(lineID: "L2b")])
        for attempt in 1...5 {
            do {
                _ = try await Self.confirm(agent, first.id, String(repeating: "0", count: 64))
                Issue.record("a forged token confirmed")
            } catch let error as ClientError {
                #expect(error.code == .permissionDenied)
                #expect(error.status.reasons.first?.code == (attempt == 5 ? "REQUEST_LOCKED" : "TOKEN_INVALID"))
                if attempt < 5 {
                    // The customer is told how many tries are left before the request locks.
                    let left = 5 - attempt
                    #expect(
                        error.status.message.hasSuffix("\(left) \(left == 1 ? "try" : "tries") left before it locks")
                    )
                    #expect(error.status.reasons.first?.detail == "tries_left=\(left)")
                }
            }
        }
        let token = try await Self.token(portal, for: first.id)
        await #expect(throws: ClientError.self) { _ = try await Self.confirm(portal, first.id, token) }
        let locked = try await agent.call(
            Methods.getCancellation,
            GetCancellationRequest(id: first.id),
            as: GetCancellationResponse.self
        ).cancellation
        #expect(locked.failedAttempts == 5 && locked.state == "LOCKED")

        let second = try await Self.request(agent, [CancelLine(lineID: "L3")])
        let declineToken = try await Self.token(portal, for: second.id)
        let declined = try await portal.call(
            Methods.declineCancellation,
            DeclineCancellationRequest(id: second.id, token: declineToken),
            as: DeclineCancellationResponse.self,
            metadata: Metadata(onBehalfOf: "acct-42")
        )
        #expect(declined.cancellation.state == "DECLINED")
        do {
            _ = try await Self.confirm(portal, second.id, declineToken)
            Issue.record("a declined request was confirmed")
        } catch let error as ClientError {
            #expect(error.code == .failedPrecondition)
            #expect(error.status.reasons.first?.code == "REQUEST_DECLINED")
        }
        // The declined request no longer holds its line; nor does the locked one.
        #expect(try await Self.request(agent, [CancelLine(lineID: "L3")]).id == "web-W-1001/c3")
        #expect(try await Self.request(agent, [CancelLine(lineID: "L2b")]).id == "web-W-1001/c4")
        await #expect(throws: ClientError.self) { _ = try await Self.confirm(agent, "web-W-1001/c9", declineToken) }
        for client in [agent, portal] { await client.close() }
        try await server.stop()
    }

    @Test("a quote that no longer holds aborts the confirmation; racing confirmations give one refund")
    func abortedAndRacing() async throws {
        // Reprice on web, and a TV whose partner accepts cancellation.
        let payload = SamplePayloads.web.replacingOccurrences(
            of: #""partner_accepts_cancel": false"#,
            with: #""partner_accepts_cancel": true"#
        )
        let (server, agent, portal) = try await Self.setUp(
            { $0.cancellation = CancellationPolicy(refundPolicy: .reprice) },
            payload: payload
        )
        let kit = try await Self.request(agent, [CancelLine(lineID: "L2")])
        let tv = try await Self.request(agent, [CancelLine(lineID: "L4")])
        let kitToken = try await Self.token(portal, for: kit.id)
        let tvToken = try await Self.token(portal, for: tv.id)
        // Two confirmations of the same request at once: both answered, one refund.
        async let one = Self.confirm(portal, tv.id, tvToken)
        async let two = Self.confirm(agent, tv.id, tvToken)
        let (a, b) = try await (one, two)
        #expect(a.refund == b.refund && a.refund != nil)
        // The TV is gone: the kit's cancellation now leaves 135.00 < 150.00, so SAVE20 would be
        // withdrawn and the refund would differ from what the customer was shown.
        do {
            _ = try await Self.confirm(portal, kit.id, kitToken)
            Issue.record("confirmed against a changed quote")
        } catch let error as ClientError {
            #expect(error.code == .aborted)
            #expect(error.status.reasons.first?.code == "QUOTE_CHANGED")
        }
        let aborted = try await agent.call(
            Methods.getCancellation,
            GetCancellationRequest(id: kit.id),
            as: GetCancellationResponse.self
        ).cancellation
        #expect(aborted.state == "ABORTED")
        #expect(try await server.server.storage.refunds(orderID: "web-W-1001", on: agent.eventLoop).get().count == 1)
        for client in [agent, portal] { await client.close() }
        try await server.stop()
    }
}

@Suite("Idempotency keys")
struct IdempotencyTests {
    @Test(
        "a portal's keys never cross the customers it acts for: no replay of another's reply, no poisoning of another's key"
    )
    func scopedToCustomer() async throws {
        let (server, agent, portal) = try await ConfirmationTests.setUp()
        func request(_ line: String, for account: String, key: String) async throws -> RequestCancellationResponse {
            try await portal.call(
                Methods.requestCancellation,
                RequestCancellationRequest(
                    orderID: "web-W-1001",
                    lines: [CancelLine(lineID: line, quantity: 1)],
                    reasonCode: "ADDED_BY_MISTAKE"
                ),
                as: RequestCancellationResponse.self,
                metadata: Metadata(idempotencyKey: key, onBehalfOf: account)
            )
        }
        // The owner's reply (a quote of acct-42's order) is not replayed to a portal acting for acct-7.
        let owners = try await request("L1", for: "acct-42", key: "k-1")
        #expect(owners.cancellation.id == "web-W-1001/c1")
        do {
            let leaked = try await request("L1", for: "acct-7", key: "k-1")
            Issue.record("acct-7 got acct-42's stored reply: \(leaked.cancellation.id)")
        } catch let error as ClientError {
            #expect(error.code == .notFound || error.code == .permissionDenied)
        }
        // acct-7's refused call under a key does not decide what the same key does for acct-42.
        await #expect(throws: ClientError.self) { _ = try await request("L2", for: "acct-7", key: "k-2") }
        let second = try await request("L2", for: "acct-42", key: "k-2")
        #expect(second.cancellation.lines.map(\.lineID) == ["L2"])
        for client in [agent, portal] { await client.close() }
        try await server.stop()
    }

    @Test(
        "same key and request: the stored reply; same key, other request: IDEMPOTENCY_KEY_REUSED; keys are per principal"
    )
    func semantics() async throws {
        let server = try await TestServer.start { _ in }
        let service = try await server.client(key: TestServer.serviceKey)
        let admin = try await server.client()
        let ingest = IngestOrderRequest(channel: "web", payload: ByteBuffer(string: SamplePayloads.web))
        let first = try await service.call(
            Methods.ingestOrder,
            ingest,
            as: IngestOrderResponse.self,
            metadata: Metadata(idempotencyKey: "ingest-1")
        )
        let replay = try await service.call(
            Methods.ingestOrder,
            ingest,
            as: IngestOrderResponse.self,
            metadata: Metadata(idempotencyKey: "ingest-1")
        )
        #expect(first.created && replay == first)  // the stored reply, created: true included
        let other = IngestOrderRequest(channel: "marketplace", payload: ByteBuffer(string: SamplePayloads.marketplace))
        do {
            _ = try await service.call(
                Methods.ingestOrder,
                other,
                as: IngestOrderResponse.self,
                metadata: Metadata(idempotencyKey: "ingest-1")
            )
            Issue.record("a reused key ran another request")
        } catch let error as ClientError {
            #expect(error.code == .failedPrecondition && error.status.reasons.first?.code == "IDEMPOTENCY_KEY_REUSED")
        }
        // Another principal's key of the same name is its own.
        #expect(
            try await admin.call(
                Methods.ingestOrder,
                other,
                as: IngestOrderResponse.self,
                metadata: Metadata(idempotencyKey: "ingest-1")
            ).created
        )

        // A retried request does not create a second cancellation.
        let request = RequestCancellationRequest(
            orderID: "web-W-1001",
            lines: [CancelLine(lineID: "L1", quantity: 1)],
            reasonCode: "ADDED_BY_MISTAKE"
        )
        let a = try await service.call(
            Methods.requestCancellation,
            request,
            as: RequestCancellationResponse.self,
            metadata: Metadata(idempotencyKey: "rq-7")
        )
        let b = try await service.call(
            Methods.requestCancellation,
            request,
            as: RequestCancellationResponse.self,
            metadata: Metadata(idempotencyKey: "rq-7")
        )
        #expect(a == b && a.cancellation.id == "web-W-1001/c1")
        // A refusal is a definitive answer and is replayed too.
        let refused = RequestCancellationRequest(
            orderID: "web-W-1001",
            lines: [CancelLine(lineID: "L4")],
            reasonCode: "ADDED_BY_MISTAKE"
        )
        for _ in 0..<2 {
            do {
                _ = try await service.call(
                    Methods.requestCancellation,
                    refused,
                    as: RequestCancellationResponse.self,
                    metadata: Metadata(idempotencyKey: "rq-8")
                )
                Issue.record("an ineligible request was accepted")
            } catch let error as ClientError {
                #expect(
                    error.code == .failedPrecondition && error.status.reasons.first?.code == "THIRD_PARTY_LOGISTICS"
                )
            }
        }
        do {
            _ = try await service.call(
                Methods.ingestOrder,
                ingest,
                as: IngestOrderResponse.self,
                metadata: Metadata(idempotencyKey: String(repeating: "k", count: 300))
            )
            Issue.record("an over-long key was accepted")
        } catch let error as ClientError {
            #expect(error.status.reasons.first?.subject == "metadata.idempotency_key")
        }
        for client in [service, admin] { await client.close() }
        try await server.stop()
    }
}

@Suite("More confirmation paths")
struct MoreConfirmationTests {
    @Test("the bundle accessory and the subscription line, confirmed over the wire, refunded to the cent")
    func accessoryAndSubscription() async throws {
        let (server, agent, portal) = try await ConfirmationTests.setUp()
        let strap = try await ConfirmationTests.request(agent, [CancelLine(lineID: "L2b")])
        let strapRefund = try await ConfirmationTests.confirm(
            portal,
            strap.id,
            try await ConfirmationTests.token(portal, for: strap.id)
        )
        #expect(strapRefund.refund?.amount == Int64(2432 + 243))
        let subscription = try await ConfirmationTests.request(agent, [CancelLine(lineID: "L3")])
        let quoted = subscription.quote.refundTotal
        let done = try await ConfirmationTests.confirm(
            portal,
            subscription.id,
            try await ConfirmationTests.token(portal, for: subscription.id)
        )
        #expect(done.refund?.amount == quoted)  // the binding quote, not a later proration
        #expect(done.cancellation.state == "COMPLETED")  // a service line has no stock to wait for
        let order = try #require(done.order)
        #expect(order.totals.total == 79_504 - 2675 - quoted)
        #expect(order.lines.first { $0.id == "L2" }?.cancelledQuantity == 0)  // the camera kit stays
        try await server.server.storage.waitForDelivery(on: agent.eventLoop).get()
        let straps = try await agent.call(
            Methods.getStock,
            GetStockRequest(sku: "STRAP-01", location: "WH-EAST"),
            as: GetStockResponse.self
        ).pools
        #expect(straps.first?.reserved == 0 && straps.first?.available == 40)
        for client in [agent, portal] { await client.close() }
        try await server.stop()
    }

    @Test("a line that ships before the confirmation aborts the request, and no refund is issued")
    func shipped() async throws {
        let (server, agent, portal) = try await ConfirmationTests.setUp()
        let mug = try await ConfirmationTests.request(agent, [CancelLine(lineID: "L1", quantity: 1)])
        let token = try await ConfirmationTests.token(portal, for: mug.id)
        let warehouse = try await server.client(key: TestServer.serviceKey)
        let shipped = try await FulfilmentEndToEndTests.record(
            warehouse,
            FulfilmentEndToEndTests.warehouse([("wms-1", "web-W-1001", "L1", "shipped", false)])
        )
        await warehouse.close()
        // The shipping aborted the request at once; the customer's confirmation finds it so.
        #expect(shipped.aborted.map(\.id) == [mug.id])
        do {
            _ = try await ConfirmationTests.confirm(portal, mug.id, token)
            Issue.record("confirmed a shipped line")
        } catch let error as ClientError {
            #expect(error.code == .failedPrecondition && error.status.reasons.first?.code == "REQUEST_ABORTED")
        }
        #expect(try await server.server.storage.refunds(orderID: "web-W-1001", on: agent.eventLoop).get().isEmpty)
        for client in [agent, portal] { await client.close() }
        try await server.stop()
    }

    @Test("an expired request cannot be confirmed and frees its lines")
    func expired() async throws {
        let clock = ManualClock()
        let (server, agent, portal) = try await ConfirmationTests.setUp(
            { $0.cancellationTokenTTLSeconds = 60 },
            clock: clock.clock
        )
        let strap = try await ConfirmationTests.request(agent, [CancelLine(lineID: "L2b")])
        let strapToken = try await ConfirmationTests.token(portal, for: strap.id)
        clock.advance(byMs: 59_999)
        #expect(
            try await agent.call(
                Methods.getCancellation,
                GetCancellationRequest(id: strap.id),
                as: GetCancellationResponse.self
            ).cancellation.state
                == "PENDING_CONFIRMATION"
        )
        clock.advance(byMs: 1)
        do {
            _ = try await ConfirmationTests.confirm(portal, strap.id, strapToken)
            Issue.record("confirmed an expired request")
        } catch let error as ClientError {
            #expect(error.code == .failedPrecondition && error.status.reasons.first?.code == "REQUEST_EXPIRED")
        }
        #expect(
            try await agent.call(
                Methods.getCancellation,
                GetCancellationRequest(id: strap.id),
                as: GetCancellationResponse.self
            ).cancellation.state == "EXPIRED"
        )
        // The line is free again for a new request.
        #expect(try await ConfirmationTests.request(agent, [CancelLine(lineID: "L2b")]).state == "PENDING_CONFIRMATION")
        for client in [agent, portal] { await client.close() }
        try await server.stop()
    }
}

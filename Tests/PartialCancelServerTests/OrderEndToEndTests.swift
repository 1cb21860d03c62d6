import Foundation
import NIOCore
import PartialCancelClient
import PartialCancelDomain
import PartialCancelServer
import PartialCancelTestSupport
import PartialCancelWire
import Testing

/// Intake, orders, stock and dead letters over the wire, against a real server.
@Suite("Orders end to end")
struct OrderEndToEndTests {
    func ingest(_ client: PartialCancelClient, _ channel: String, _ payload: String) async throws -> IngestOrderResponse
    {
        try await client.call(
            Methods.ingestOrder,
            IngestOrderRequest(channel: channel, payload: ByteBuffer(string: payload)),
            as: IngestOrderResponse.self
        )
    }

    @Test("orders from all three channels ingest and read back identically; ingest is idempotent")
    func threeChannels() async throws {
        let server = try await TestServer.start { _ in }
        let client = try await server.client(key: TestServer.serviceKey)
        var views: [OrderView] = []
        for (channel, payload) in SampleData.orders {
            let first = try await ingest(client, channel, payload)
            #expect(first.created)
            let again = try await ingest(client, channel, payload)
            #expect(!again.created)
            #expect(again.order == first.order)
            let read = try await client.call(
                Methods.getOrder,
                GetOrderRequest(orderID: first.order.id),
                as: GetOrderResponse.self
            )
            #expect(read.order == first.order)
            #expect(read.history.map(\.event) == ["INGESTED"])
            views.append(read.order)
        }
        #expect(views.map(\.id) == ["web-W-1001", "marketplace-MP-5001", "callcenter-CC-3001"])
        #expect(Set(views.map(\.lines)).count == 1)
        #expect(Set(views.map(\.totals)).count == 1)
        #expect(views[0].totals.total == 79_504)
        await client.close()
        try await server.stop()
    }

    @Test("stock: put, reserve by intake across shards, read back")
    func stock() async throws {
        let server = try await TestServer.start { _ in }
        let admin = try await server.client()
        for pool in SampleData.stock {
            let put = try await admin.call(
                Methods.putStock,
                PutStockRequest(sku: pool.sku, location: pool.location, onHand: pool.onHand),
                as: PutStockResponse.self
            )
            #expect(put.pool.onHand == pool.onHand && put.pool.available == pool.onHand)
        }
        for (channel, payload) in SampleData.orders { _ = try await ingest(admin, channel, payload) }
        try await server.server.storage.waitForDelivery(on: admin.eventLoop).get()
        let mugs = try await admin.call(Methods.getStock, GetStockRequest(sku: "MUG-01"), as: GetStockResponse.self)
        #expect(
            mugs.pools == [StockPoolView(sku: "MUG-01", location: "WH-EAST", onHand: 120, reserved: 6, available: 114)]
        )
        let strap = try await admin.call(
            Methods.getStock,
            GetStockRequest(sku: "STRAP-01", location: "WH-EAST"),
            as: GetStockResponse.self
        )
        #expect(strap.pools.first?.reserved == 3)
        // Bad arguments name their field.
        do {
            _ = try await admin.call(
                Methods.putStock,
                PutStockRequest(sku: "MUG 01", location: "WH", onHand: 1),
                as: PutStockResponse.self
            )
            Issue.record("accepted a bad sku")
        } catch let error as ClientError {
            #expect(error.code == .invalidArgument)
            #expect(error.status.reasons.first?.subject == "request.sku")
        }
        do {
            _ = try await admin.call(
                Methods.putStock,
                PutStockRequest(sku: "MUG-01", location: "WH", onHand: -1),
                as: PutStockResponse.self
            )
            Issue.record("accepted a negative count")
        } catch let error as ClientError {
            #expect(error.status.reasons.first?.subject == "request.on_hand")
        }
        await admin.close()
        try await server.stop()
    }

    @Test("a refused payload names its field and becomes a dead letter; a redrive after a config change ingests it")
    func deadLetters() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pcancel-dlq-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // First run: a rule refuses web orders over 500.00 for standard accounts.
        var server = try await TestServer.start(dataDirectory: directory) {
            $0.intake.rules = [IntakeRule(channel: "web", tier: "standard", maxOrderTotal: 50_000)]
        }
        var client = try await server.client()
        do {
            _ = try await ingest(client, "web", SamplePayloads.web)
            Issue.record("the rule did not refuse")
        } catch let error as ClientError {
            #expect(error.code == .invalidArgument)
            #expect(
                error.status.reasons.first
                    == Reason(
                        rawCode: "INTAKE_RULE",
                        subject: "web/standard/max_order_total",
                        detail: "order total 79504 exceeds 50000 for web orders of standard accounts"
                    )
            )
            #expect(error.status.reasons.last?.code == "DEAD_LETTERED")
        }
        let broken = SamplePayloads.marketplace.replacingOccurrences(of: #""qty": 2"#, with: #""qty": 0"#)
        await #expect(throws: ClientError.self) { _ = try await ingest(client, "marketplace", broken) }
        var letters = try await client.call(
            Methods.listDeadLetters,
            ListDeadLettersRequest(),
            as: ListDeadLettersResponse.self
        ).deadLetters
        #expect(letters.count == 2)
        #expect(letters[0].reason == "INTAKE_RULE" && letters[0].priority == 73_500)  // the more valuable one first
        #expect(letters[1].reason == "FIELD_OUT_OF_RANGE" && letters[1].detail.hasPrefix("items[0].qty"))
        let stillRefused = try await client.call(
            Methods.redriveDeadLetter,
            RedriveDeadLetterRequest(id: letters[0].id),
            as: RedriveDeadLetterResponse.self
        )
        #expect(!stillRefused.resolved)
        #expect(stillRefused.deadLetter?.attempts == 2)
        await client.close()
        try await server.stop()

        // Second run without the rule: the redrive ingests it and closes the dead letter.
        server = try await TestServer.start(dataDirectory: directory) { _ in }
        client = try await server.client()
        let resolved = try await client.call(
            Methods.redriveDeadLetter,
            RedriveDeadLetterRequest(id: letters[0].id),
            as: RedriveDeadLetterResponse.self
        )
        #expect(resolved.resolved)
        #expect(resolved.order?.id == "web-W-1001")
        letters = try await client.call(
            Methods.listDeadLetters,
            ListDeadLettersRequest(),
            as: ListDeadLettersResponse.self
        ).deadLetters
        #expect(letters.map(\.reason) == ["FIELD_OUT_OF_RANGE"])
        await #expect(throws: ClientError.self) {
            _ = try await client.call(
                Methods.redriveDeadLetter,
                RedriveDeadLetterRequest(id: "dl-7-7"),
                as: RedriveDeadLetterResponse.self
            )
        }
        await client.close()
        try await server.stop()
    }

    @Test(
        "intake refuses a UTF-16 payload, an unknown currency, a control character and a placing time in the future, each naming its field, and dead-letters them"
    )
    func intakeRefusesBadData() async throws {
        let server = try await TestServer.start { _ in }
        let client = try await server.client(key: TestServer.serviceKey)
        let admin = try await server.client()
        var utf16: [UInt8] = [0xFF, 0xFE]
        for unit in SamplePayloads.web.utf16 { utf16 += [UInt8(unit & 0xFF), UInt8(unit >> 8)] }
        let tomorrow = RFC3339.format(Int64(Date().timeIntervalSince1970 * 1000) + 2 * 86_400_000)
        let cases: [(payload: ByteBuffer, reason: String, subject: String, detail: String)] = [
            (
                ByteBuffer(bytes: utf16), "FIELD_MALFORMED", "",
                "payload is not UTF-8: it starts with a UTF-16 byte order mark; send UTF-8 without one"
            ),
            (
                ByteBuffer(
                    string: SamplePayloads.web.replacingOccurrences(
                        of: #""currency": "USD""#,
                        with: #""currency": "XYZ""#
                    )
                ),
                "FIELD_OUT_OF_RANGE", "currency", "'XYZ' is not an active ISO 4217 currency"
            ),
            (
                ByteBuffer(
                    string: SamplePayloads.web.replacingOccurrences(
                        of: #""tier": "standard""#,
                        with: #""tier": "standard\n""#
                    )
                ),
                "FIELD_MALFORMED", "account.tier", "contains the control character U+000A"
            ),
            (
                ByteBuffer(string: SamplePayloads.web.replacingOccurrences(of: "2026-11-20T10:00:00Z", with: tomorrow)),
                "FIELD_OUT_OF_RANGE", "placed_at", "is in the future"
            ),
        ]
        for (payload, reason, subject, detail) in cases {
            do {
                _ = try await client.call(
                    Methods.ingestOrder,
                    IngestOrderRequest(channel: "web", payload: payload),
                    as: IngestOrderResponse.self
                )
                Issue.record("accepted: \(detail)")
            } catch let error as ClientError {
                #expect(error.code == .invalidArgument)
                let first = try #require(error.status.reasons.first)
                #expect(first.code == reason && first.subject == subject, "\(first)")
                #expect(first.detail.contains(detail), "\(first.detail)")
                #expect(error.status.reasons.last?.code == "DEAD_LETTERED")
            }
        }
        let letters = try await admin.call(
            Methods.listDeadLetters,
            ListDeadLettersRequest(),
            as: ListDeadLettersResponse.self
        ).deadLetters
        #expect(letters.count == cases.count)
        do {
            _ = try await client.call(
                Methods.getOrder,
                GetOrderRequest(orderID: "web-W-1001"),
                as: GetOrderResponse.self
            )
            Issue.record("a refused payload was stored as an order")
        } catch let error as ClientError {
            #expect(error.code == .notFound)
            #expect(error.status.message == "no order 'web-W-1001'")
        }
        // An id without its channel is told the form ids take.
        do {
            _ = try await client.call(Methods.getOrder, GetOrderRequest(orderID: "W-1001"), as: GetOrderResponse.self)
            Issue.record("found an order by its external id alone")
        } catch let error as ClientError {
            #expect(error.code == .notFound && error.status.reasons.first?.code == "ORDER_NOT_FOUND")
            #expect(
                error.status.message.contains("order ids are CHANNEL-EXTERNALID")
                    && error.status.message.contains("e.g. 'web-W-1001'")
            )
        }
        for c in [client, admin] { await c.close() }
        try await server.stop()
    }

    @Test("roles: agents cannot ingest; portals read only their own account's orders")
    func access() async throws {
        let server = try await TestServer.start { _ in }
        let service = try await server.client(key: TestServer.serviceKey)
        _ = try await ingest(service, "web", SamplePayloads.web)
        let agent = try await server.client(key: TestServer.agentKey)
        do {
            _ = try await ingest(agent, "web", SamplePayloads.web)
            Issue.record("an agent ingested")
        } catch let error as ClientError {
            #expect(error.code == .permissionDenied)
        }
        let portal = try await server.client(key: TestServer.portalKey)
        let own = try await portal.call(
            Methods.getOrder,
            GetOrderRequest(orderID: "web-W-1001"),
            as: GetOrderResponse.self,
            metadata: Metadata(onBehalfOf: "acct-42")
        )
        #expect(own.order.account.id == "acct-42")
        // Another account's order is answered as if it did not exist (AccessMatrixTests has the rest).
        for (account, code) in [("acct-7", StatusCode.notFound), ("", .invalidArgument)] {
            do {
                _ = try await portal.call(
                    Methods.getOrder,
                    GetOrderRequest(orderID: "web-W-1001"),
                    as: GetOrderResponse.self,
                    metadata: Metadata(onBehalfOf: account)
                )
                Issue.record("portal read another account's order")
            } catch let error as ClientError {
                #expect(error.code == code)
            }
        }
        for client in [service, agent, portal] { await client.close() }
        try await server.stop()
    }

    @Test("Health reports every shard to a caller with a key")
    func health() async throws {
        let server = try await TestServer.start { _ in }
        let client = try await server.client(key: TestServer.agentKey)
        let health = try await client.health()
        #expect(health.shards.map(\.index) == [0, 1])
        #expect(health.shards.allSatisfy { $0.open && $0.outboxBacklog == 0 })
        await client.close()
        try await server.stop()
    }
}

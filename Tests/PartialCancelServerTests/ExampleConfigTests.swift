import Foundation
import Logging
import NIOCore
import PartialCancelClient
import PartialCancelDomain
import PartialCancelStorage
import PartialCancelTestSupport
import PartialCancelWire
import Testing

@testable import PartialCancelServer

/// docs/example-config.json, loaded as `pcancel-server --config` loads it, starts a server that
/// serves the README's walkthrough with the development-only example keys documented beside it in
/// docs/CONFIGURATION.md. Only the port, the data directory and the Hello timeout are changed, so
/// that the test runs beside others; everything else is the file's (the token key and the maildir
/// go beside the data directory, as by default).
@Suite("The example configuration")
struct ExampleConfigTests {
    static let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/example-config.json").path

    /// The plain keys, as docs/CONFIGURATION.md lists them.
    static let keys: [(key: String, role: Role)] = [
        ("pck_example_service", .service), ("pck_example_agent", .agent), ("pck_example_portal", .portal),
        ("pck_example_admin", .admin),
    ]

    @Test("every documented example key is in the file, with its role")
    func keysMatchTheDocumentation() throws {
        let configuration = try ConfigurationFile.load(path: Self.file)
        #expect(configuration.apiKeys.count == Self.keys.count)
        let store = try KeyStore(configuration.apiKeys)
        for (key, role) in Self.keys {
            #expect(store.principal(for: key)?.role == role, "\(key)")
        }
        #expect(store.principal(for: "pck_example_unknown") == nil)
    }

    @Test("the example starts a server that serves the README's walkthrough")
    func servesTheWalkthrough() async throws {
        var configuration = try ConfigurationFile.load(path: Self.file)
        let dataDirectory = FileManager.default.temporaryDirectory
            .appendingPathComponent("pcancel-example-\(UUID())").path
        configuration.port = 0
        configuration.dataDirectory = dataDirectory
        // Tests share a few cores: a Hello may wait seconds for a thread (as TestServer allows).
        configuration.limits.helloTimeoutMs = 30_000
        var logger = Logger(label: "example-config")
        logger.logLevel = .warning
        let server = try PartialCancelServer(
            configuration: configuration,
            keyStore: try KeyStore(configuration.apiKeys),
            logger: logger
        )
        let seeded = try await server.seedSampleDataIfNew()
        #expect(seeded == ["web-W-1001", "marketplace-MP-5001", "callcenter-CC-3001"])
        let address = try await server.start()
        let task = Task { try await server.run() }
        let port = try #require(address.port)
        func connect(_ key: String) async throws -> PartialCancelClient {
            try await PartialCancelClient.connect(
                PartialCancelClient.Configuration(port: port, apiKey: key, clientName: "example-config")
            )
        }

        // Each key connects with its role, and pings.
        var clients: [Role: PartialCancelClient] = [:]
        for (key, role) in Self.keys {
            let client = try await connect(key)
            #expect(client.server.role == role.rawValue)
            let pong = try await client.ping(payload: ByteBuffer(string: role.rawValue))
            #expect(String(buffer: pong.payload) == role.rawValue)
            clients[role] = client
        }
        let admin = try #require(clients[.admin])
        let agent = try #require(clients[.agent])
        let portal = try #require(clients[.portal])
        let acting = Metadata(onBehalfOf: "acct-42")

        // The sample stock, reserved by the three sample orders (two mugs each); the admin sets stock.
        let mugs = try await admin.call(Methods.getStock, GetStockRequest(sku: "MUG-01"), as: GetStockResponse.self)
        #expect(
            mugs.pools == [StockPoolView(sku: "MUG-01", location: "WH-EAST", onHand: 120, reserved: 6, available: 114)]
        )
        let put = try await admin.call(
            Methods.putStock,
            PutStockRequest(sku: "EXAMPLE-01", location: "WH-EAST", onHand: 5),
            as: PutStockResponse.self
        )
        #expect(put.pool == StockPoolView(sku: "EXAMPLE-01", location: "WH-EAST", onHand: 5, reserved: 0, available: 5))

        // The agent reads the sample order.
        let order = try await agent.call(
            Methods.getOrder,
            GetOrderRequest(orderID: "web-W-1001"),
            as: GetOrderResponse.self
        )
        #expect(order.order.status == "CONFIRMED" && order.order.totals.total == 79_504)
        #expect(order.order.account.id == "acct-42")
        #expect(order.history.map(\.event) == ["INGESTED"])

        // The portal, acting for the order's customer, validates the walkthrough's lines.
        let verdict = try await portal.call(
            Methods.validateEligibility,
            ValidateEligibilityRequest(
                orderID: "web-W-1001",
                lines: [CancelLine(lineID: "L1", quantity: 1), CancelLine(lineID: "L2b"), CancelLine(lineID: "L4")]
            ),
            as: ValidateEligibilityResponse.self,
            metadata: acting
        )
        #expect(!verdict.eligible)
        #expect(verdict.lines.map(\.eligible) == [true, true, false])
        #expect(verdict.lines[2].reasons.map(\.code) == ["THIRD_PARTY_LOGISTICS"])
        // The sample subscription's paid period is seeded relative to now (10 of 30 days left), so
        // its refund is the README's on any day: floor(14.59 × 10/30) = 4.86 within minutes of seeding.
        let subscription = try await portal.call(
            Methods.validateEligibility,
            ValidateEligibilityRequest(orderID: "web-W-1001", lines: [CancelLine(lineID: "L3")]),
            as: ValidateEligibilityResponse.self,
            metadata: acting
        )
        #expect(subscription.quote?.refundTotal == 486)

        // An item added by mistake: requested by the admin, the token read from the portal inbox's
        // "Token: " line, confirmed by the portal, completed once the stock is back.
        let requested = try await admin.call(
            Methods.requestCancellation,
            RequestCancellationRequest(
                orderID: "web-W-1001",
                lines: [CancelLine(lineID: "L1", quantity: 1)],
                reasonCode: "ADDED_BY_MISTAKE"
            ),
            as: RequestCancellationResponse.self
        )
        #expect(requested.cancellation.id == "web-W-1001/c1")
        #expect(requested.cancellation.state == "PENDING_CONFIRMATION")
        #expect(requested.cancellation.quote.refundTotal == 6421)
        let inbox = try await portal.call(
            Methods.listNotifications,
            ListNotificationsRequest(),
            as: ListNotificationsResponse.self,
            metadata: acting
        )
        let notification = try #require(inbox.notifications.first)
        #expect(notification.kind == "CONFIRMATION_REQUESTED" && notification.cancellationID == "web-W-1001/c1")
        let lines = notification.body.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 5)
        #expect(lines.dropLast().last == "Cancellation: web-W-1001/c1")
        let tokenLine = try #require(lines.last)
        #expect(tokenLine.wholeMatch(of: /Token: [0-9a-f]{64}/) != nil)
        let token = String(tokenLine.dropFirst("Token: ".count))
        let confirmed = try await portal.call(
            Methods.confirmCancellation,
            ConfirmCancellationRequest(id: "web-W-1001/c1", token: token),
            as: ConfirmCancellationResponse.self,
            metadata: acting
        )
        #expect(["CONFIRMED", "COMPLETED"].contains(confirmed.cancellation.state))
        #expect(confirmed.refund?.amount == 6421)
        var state = confirmed.cancellation.state
        for _ in 0..<200 where state != "COMPLETED" {
            try await Task.sleep(for: .milliseconds(50))
            state =
                try await agent.call(
                    Methods.getCancellation,
                    GetCancellationRequest(id: "web-W-1001/c1"),
                    as: GetCancellationResponse.self
                ).cancellation.state
        }
        #expect(state == "COMPLETED")
        let after = try await admin.call(Methods.getStock, GetStockRequest(sku: "MUG-01"), as: GetStockResponse.self)
        #expect(after.pools.map(\.reserved) == [5])

        for client in clients.values { await client.close() }
        server.initiateShutdown()
        try await task.value
        for path in [
            dataDirectory, TokenSealer.defaultKeyFile(forDataDirectory: dataDirectory),
            NotificationConfiguration.defaultMaildir(forDataDirectory: dataDirectory),
        ] {
            try? FileManager.default.removeItem(atPath: path)
        }
    }
}

import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PartialCancelClient
import PartialCancelDomain
import PartialCancelLoad
import PartialCancelPostgres
import PartialCancelServer
import PartialCancelStorage
import PartialCancelTestSupport
import PartialCancelWire
import Testing

/// Several pcancel nodes on PostgreSQL (docs/SCALING.md), each a real server on port 0 with real
/// clients, on a database of the test process's throwaway cluster.
@Suite("PostgreSQL nodes")
struct PostgresNodesTests {
    /// Sample stock and the sample web order, through `node`.
    func seed(_ node: TestServer) async throws {
        let admin = try await node.client()
        for (sku, location, onHand) in SampleData.stock {
            _ = try await admin.call(
                Methods.putStock,
                PutStockRequest(sku: sku, location: location, onHand: onHand),
                as: PutStockResponse.self
            )
        }
        _ = try await admin.call(
            Methods.ingestOrder,
            IngestOrderRequest(channel: "web", payload: ByteBuffer(string: SamplePayloads.web)),
            as: IngestOrderResponse.self
        )
        await admin.close()
    }

    func mugs(_ client: PartialCancelClient) async throws -> [StockPoolView] {
        try await client.call(
            Methods.getStock,
            GetStockRequest(sku: "MUG-01", location: "WH-EAST"),
            as: GetStockResponse.self
        ).pools
    }

    @Test("two nodes deliver webhook events to one touchpoint: every event of every order arrives, in order")
    func webhooksAcrossNodes() async throws {
        let receiver = try await WebhookReceiverProcess.start(subscriptions: ["all"], failFirst: 5)
        let url = try await PostgresCluster.shared.newDatabase()
        let configure: @Sendable (inout ServerConfiguration) -> Void = {
            $0.webhooks.subscriptions = [
                WebhookSubscription(
                    name: "all",
                    url: receiver.url("all"),
                    secret: receiver.secrets["all"]!,
                    events: ["*"]
                )
            ]
            $0.webhooks.pollIntervalMs = 20
            $0.webhooks.backoffBaseMs = 10
            $0.webhooks.backoffCapMs = 40
        }
        let first = try await TestServer.startOnPostgres([url], configuring: configure)
        let second = try await TestServer.startOnPostgres([url], configuring: configure)
        try await seed(first)
        let admin = try await first.client()
        let agent = try await second.client(key: TestServer.agentKey)
        let portal = try await first.client(key: TestServer.portalKey)
        var orders = ["web-W-1001"]
        for index in 0..<8 {
            _ = try await PaymentTests.refundOne(external: "W-OK-H\(index)", admin: admin, agent: agent, portal: portal)
            orders.append("web-W-OK-H\(index)")
        }
        var expected: [String: [Int64]] = [:]
        for order in orders { expected[order] = try await WebhookTests.routedSeqs(agent, order) }
        var arrived: [String: [Int64]] = [:]
        try await waitFor("every event", timeout: 30) {
            arrived = WebhookTests.arrivals((try? await receiver.state().received["all"]) ?? [])
            return orders.allSatisfy { arrived[$0]?.count == expected[$0]?.count }
        }
        for order in orders { #expect(arrived[order] == expected[order], "\(order)") }
        for (key, seqs) in arrived where key.hasPrefix("sku:") { #expect(seqs == seqs.sorted(), "\(key)") }
        #expect(try await receiver.state().badSignatures.isEmpty)
        for client in [admin, agent, portal] { await client.close() }
        try await first.stop()
        try await second.stop()
    }

    @Test(
        "two nodes deliver refund allocations to one payment service: each leased by one node, sent once, applied once, SUCCEEDED"
    )
    func paymentsAcrossNodes() async throws {
        let service = try await PaymentServiceProcess.start()
        let url = try await PostgresCluster.shared.newDatabase()
        let configure: @Sendable (inout ServerConfiguration) -> Void = {
            $0.payments.deliver = true
            $0.payments.adapter = .http(url: service.url, secret: service.secret)
            $0.payments.pollIntervalMs = 20
        }
        let first = try await TestServer.startOnPostgres([url], configuring: configure)
        let second = try await TestServer.startOnPostgres([url], configuring: configure)
        try await seed(first)
        let admin = try await first.client()
        let agent = try await second.client(key: TestServer.agentKey)
        let portal = try await first.client(key: TestServer.portalKey)
        var orders: [String] = []
        for index in 0..<15 {
            _ = try await PaymentTests.refundOne(external: "W-OK-N\(index)", admin: admin, agent: agent, portal: portal)
            orders.append("web-W-OK-N\(index)")
        }
        var allocations: [RefundAllocationView] = []
        for order in orders {
            allocations += try await PaymentTests.waitUntil(agent, order) {
                !$0.isEmpty && $0.allSatisfy { $0.state == "SUCCEEDED" }
            }
        }
        let state = try await service.state()
        #expect(Set(state.applied.keys) == Set(allocations.map(\.id)) && allocations.count == orders.count)
        for allocation in allocations { #expect(state.requests[allocation.id] == 1, "\(allocation.id)") }
        for client in [admin, agent, portal] { await client.close() }
        try await first.stop()
        try await second.stop()
    }

    @Test(
        "two nodes: a confirmation through one and a PICKED event through the other race for a line; exactly one wins, every time"
    )
    func fulfilmentRace() async throws {
        let url = try await PostgresCluster.shared.newDatabase()
        let first = try await TestServer.startOnPostgres([url])
        let second = try await TestServer.startOnPostgres([url])
        try await seed(first)
        let admin = try await first.client()
        let agent = try await first.client(key: TestServer.agentKey)
        let portal = try await first.client(key: TestServer.portalKey)
        let service = try await second.client(key: TestServer.serviceKey)
        let wins = try await FulfilmentEndToEndTests.race(
            rounds: 30,
            admin: admin,
            agent: agent,
            portal: portal,
            service: service
        )
        print("fulfilment race on two nodes: confirmation first \(wins.confirmation), event first \(wins.event)")
        for client in [admin, agent, portal, service] { await client.close() }
        try await first.stop()
        try await second.stop()
    }

    @Test(
        "two nodes on one database: requested on one, confirmed on both at once, one refund, stock released once, the same history on both"
    )
    func twoNodes() async throws {
        let url = try await PostgresCluster.shared.newDatabase()
        let first = try await TestServer.startOnPostgres([url])
        let second = try await TestServer.startOnPostgres([url])
        try await seed(first)
        let agent = try await second.client(key: TestServer.agentKey)
        let requested = try await ConfirmationTests.request(agent, [CancelLine(lineID: "L1", quantity: 1)])
        #expect(requested.state == "PENDING_CONFIRMATION")
        let portals = [
            try await first.client(key: TestServer.portalKey), try await second.client(key: TestServer.portalKey),
        ]
        // The token reached the inbox that both nodes read.
        let token = try await ConfirmationTests.token(portals[0], for: requested.id)

        // The same confirmation through both nodes at the same moment: one applies it, the other
        // answers with what it recorded.
        async let viaFirst = ConfirmationTests.confirm(portals[0], requested.id, token)
        async let viaSecond = ConfirmationTests.confirm(portals[1], requested.id, token)
        let (one, other) = try await (viaFirst, viaSecond)
        let refund = try #require(one.refund)
        #expect(other.refund == refund && refund.amount == 6421)

        let refunds = try await first.server.storage.refunds(orderID: "web-W-1001", on: agent.eventLoop).get()
        #expect(refunds.map(\.refundID) == [refund.refundID])
        #expect(
            try await mugs(agent) == [
                StockPoolView(sku: "MUG-01", location: "WH-EAST", onHand: 120, reserved: 1, available: 119)
            ]
        )
        let histories = try await [first.client(), second.client()].asyncMap { client in
            try await client.call(Methods.getOrder, GetOrderRequest(orderID: "web-W-1001"), as: GetOrderResponse.self)
                .history.map { "\($0.seq) \($0.event)" }
        }
        #expect(histories[0] == histories[1])
        #expect(histories[0].filter { $0.hasSuffix("REFUND_ISSUED") }.count == 1)
        #expect(histories[0].last == "6 CANCELLATION_COMPLETED")

        await agent.close()
        for portal in portals { await portal.close() }
        try await first.stop()
        try await second.stop()
    }

    @Test(
        "a shard map of two PostgreSQL servers: orders and stock split by the hash, releases travel through the outbox"
    )
    func shardMap() async throws {
        let urls = [try await PostgresCluster.shared.newDatabase(), try await PostgresCluster.second.newDatabase()]
        #expect(urls[0].split(separator: "/")[1] != urls[1].split(separator: "/")[1])
        let node = try await TestServer.startOnPostgres(urls)
        try await seed(node)
        let agent = try await node.client(key: TestServer.agentKey)
        let portal = try await node.client(key: TestServer.portalKey)
        // The whole kit: its parts' stock lives in either database, wherever the hash puts it.
        let requested = try await ConfirmationTests.request(
            agent,
            [CancelLine(lineID: "L1"), CancelLine(lineID: "L2")]
        )
        let token = try await ConfirmationTests.token(portal, for: requested.id)
        let confirmed = try await ConfirmationTests.confirm(portal, requested.id, token)
        #expect(confirmed.refund != nil)
        try await node.server.storage.waitForDelivery(on: agent.eventLoop).get()
        let state = try await agent.call(
            Methods.getCancellation,
            GetCancellationRequest(id: requested.id),
            as: GetCancellationResponse.self
        ).cancellation.state
        #expect(state == "COMPLETED")
        #expect(try await mugs(agent).first?.reserved == 0)
        let health = try await node.server.storage.health(on: agent.eventLoop).get()
        #expect(health.map(\.index) == [0, 1] && health.allSatisfy { $0.open && $0.outboxBacklog == 0 })
        #expect(health.map(\.orders).reduce(0, +) == 1)
        await agent.close()
        await portal.close()
        try await node.stop()

        // The map is fixed once data is stored: the databases in another order are refused.
        await #expect(throws: (any Error).self) { _ = try await TestServer.startOnPostgres(urls.reversed()) }
    }

    @Test("a watch on one node sees every change committed through another, in order, with the order after it")
    func watchAcrossNodes() async throws {
        let url = try await PostgresCluster.shared.newDatabase()
        let first = try await TestServer.startOnPostgres([url])
        let second = try await TestServer.startOnPostgres([url])
        try await seed(first)
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let queue = ChangeQueue(limit: 100) {}
        #expect(
            try await first.server.storage.watchOrder("web-W-1001", after: 0, subscriber: queue, on: loop) { _ in }
                .get()
        )
        let stock = ChangeQueue(limit: 100) {}
        try await first.server.storage.watchStock([(sku: "MUG-01", after: 0)], subscriber: stock, on: loop).get()
        // Two changes through the other node: a fulfilment update, then a cancellation request.
        let warehouse = try await second.client(key: TestServer.serviceKey)
        _ = try await FulfilmentEndToEndTests.record(
            warehouse,
            FulfilmentEndToEndTests.warehouse([("wms-1", "web-W-1001", "L4", "picked", false)])
        )
        await warehouse.close()
        let agent = try await second.client(key: TestServer.agentKey)
        let requested = try await ConfirmationTests.request(agent, [CancelLine(lineID: "L1", quantity: 1)])
        let portal = try await second.client(key: TestServer.portalKey)
        _ = try await ConfirmationTests.confirm(
            portal,
            requested.id,
            try await ConfirmationTests.token(portal, for: requested.id)
        )

        var events: [ChangeEvent] = []
        var pools: [ChangeEvent] = []
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            events += queue.take(max: 100)
            pools += stock.take(max: 100)
            let done = events.contains {
                if case .order(_, let entry, _, _) = $0 { return entry?.event == "CANCELLATION_COMPLETED" }
                return false
            }
            if done && pools.count >= 2 { break }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        let entries = events.compactMap { event -> String? in
            guard case .order(_, let entry, _, _) = event, let entry else { return nil }
            return "\(entry.seq) \(entry.event)"
        }
        #expect(entries.first == "2 FULFILMENT_UPDATED")
        #expect(entries.last?.hasSuffix(" CANCELLATION_COMPLETED") == true)
        // Every entry after the snapshot, each once, in commit order.
        #expect(entries.map { Int($0.split(separator: " ")[0])! } == Array(2...(entries.count + 1)))
        if case .order(_, _, _, let order) = events.last {
            #expect(order?.lines.first { $0.id == "L1" }?.cancelledQuantity == 1)
        } else {
            Issue.record("no order event")
        }
        // The mug's pool: its snapshot, then the release committed through the other node.
        let reserved = pools.compactMap { event -> Int64? in
            guard case .stock(let pool) = event else { return nil }
            return pool.reserved
        }
        #expect(reserved == [2, 1])
        first.server.storage.unwatch(queue, keys: [.order("web-W-1001")])
        first.server.storage.unwatch(stock, keys: [.sku("MUG-01")])
        #expect(first.server.storage.watchCount == 0)
        await agent.close()
        await portal.close()
        try await first.stop()
        try await second.stop()
    }

    /// The answer's reason code, or ACCEPTED.
    static func outcome(
        _ client: PartialCancelClient,
        _ id: String,
        token: String,
        account: String? = nil
    ) async -> String {
        do {
            _ = try await client.call(
                Methods.confirmCancellation,
                ConfirmCancellationRequest(id: id, token: token),
                as: ConfirmCancellationResponse.self,
                metadata: Metadata(onBehalfOf: account ?? "")
            )
            return "ACCEPTED"
        } catch {
            return (error as? ClientError)?.status.reasons.first?.code ?? "\(error)"
        }
    }

    static func forged() -> String { String((0..<64).map { _ in BruteForceTests.hexDigits.randomElement()! }) }

    /// Two nodes on one new database, with a wrong-token limit of `limit` per hour, seeded, and
    /// three pending requests on the sample order.
    func limitedNodes(limit: Int) async throws -> (nodes: [TestServer], requests: [String]) {
        let url = try await PostgresCluster.shared.newDatabase()
        var nodes: [TestServer] = []
        for _ in 0..<2 {
            nodes.append(
                try await TestServer.startOnPostgres([url]) {
                    $0.limits.tokenFailuresPerCaller = limit
                    $0.limits.tokenFailureWindowMs = 3_600_000
                }
            )
        }
        try await seed(nodes[0])
        let agent = try await nodes[0].client(key: TestServer.agentKey)
        var requests: [String] = []
        for lines in [[CancelLine(lineID: "L1", quantity: 1)], [CancelLine(lineID: "L2b")], [CancelLine(lineID: "L3")]]
        {
            requests.append(try await ConfirmationTests.request(agent, lines).id)
        }
        await agent.close()
        return (nodes, requests)
    }

    @Test(
        "the wrong-token limit is shared: a caller cut off through one node is cut off on the other, its right token too"
    )
    func tokenLimitAcrossNodes() async throws {
        let (nodes, requests) = try await limitedNodes(limit: 6)
        let attackers = [
            try await nodes[0].client(key: TestServer.agentKey), try await nodes[1].client(key: TestServer.agentKey),
        ]
        // Six wrong tokens through the first node, two per request (no request locks itself).
        for index in 0..<6 {
            #expect(await Self.outcome(attackers[0], requests[index % 3], token: Self.forged()) == "TOKEN_INVALID")
        }
        // The second node has compared none of this caller's tokens, yet refuses it at once, even
        // with the right token.
        #expect(await Self.outcome(attackers[1], requests[0], token: Self.forged()) == "TOKEN_ATTEMPTS_LIMITED")
        let portal = try await nodes[1].client(key: TestServer.portalKey)
        let token = try await ConfirmationTests.token(portal, for: requests[0])
        #expect(await Self.outcome(attackers[1], requests[0], token: token) == "TOKEN_ATTEMPTS_LIMITED")
        // The customer's portal is another caller: its confirmation goes through.
        #expect(await Self.outcome(portal, requests[0], token: token, account: "acct-42") == "ACCEPTED")
        for client in attackers + [portal] { await client.close() }
        for node in nodes { try await node.stop() }
    }

    @Test(
        "wrong tokens sent through two nodes at once: the limit's worth are answered as wrong, all the rest as limited"
    )
    func concurrentWrongTokensAcrossNodes() async throws {
        let (nodes, requests) = try await limitedNodes(limit: 6)
        let attackers = [
            try await nodes[0].client(key: TestServer.agentKey), try await nodes[1].client(key: TestServer.agentKey),
        ]
        let outcomes = await withTaskGroup(of: String.self) { group in
            for index in 0..<80 {
                let attacker = attackers[index % 2]
                let id = requests[index % 3]
                group.addTask { await Self.outcome(attacker, id, token: Self.forged()) }
            }
            return await group.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
        }
        let answeredWrong = (outcomes["TOKEN_INVALID"] ?? 0) + (outcomes["REQUEST_LOCKED"] ?? 0)
        #expect(answeredWrong == 6, "\(outcomes)")
        #expect(outcomes["TOKEN_ATTEMPTS_LIMITED"] == 80 - answeredWrong, "\(outcomes)")
        for client in attackers { await client.close() }
        for node in nodes { try await node.stop() }
    }

    @Test(
        "checked flows through two nodes with connections that move when a node stops; the audit reads PostgreSQL and names damage"
    )
    func failoverAndAudit() async throws {
        let url = try await PostgresCluster.shared.newDatabase()
        let nodes = [try await TestServer.startOnPostgres([url]), try await TestServer.startOnPostgres([url])]
        func configurations(_ key: String) -> [PartialCancelClient.Configuration] {
            nodes.map { PartialCancelClient.Configuration(port: $0.port, apiKey: key, clientName: "failover") }
        }
        // The agent's side starts on the first node, the customer's on the second.
        let agent = FailoverTransport(configurations(TestServer.adminKey), preferred: 0)
        let portal = FailoverTransport(configurations(TestServer.portalKey), preferred: 1)
        let acks = NIOLockedValueBox<[AcknowledgedRefund]>([])
        var options = LoadOptions(prefix: "LDPGAUDIT")
        options.flows = 30
        options.onHand = 500
        options.acknowledge = { id, refund in
            acks.withLockedValue {
                $0.append(AcknowledgedRefund(cancellationID: id, refundID: refund.refundID, amount: refund.amount))
            }
        }
        let first = try await LoadRun(options: options, agents: [agent], portals: [portal]).run()
        #expect(first.succeeded)

        // The first node goes away: the agent's side moves to the second; flows go on there.
        try await nodes[0].stop()
        options.prefix = "LDPGAUDIT2"
        options.seedOrders = 30
        let moved = try await LoadRun(options: options, agents: [agent], portals: [portal]).run()
        #expect(moved.succeeded)
        let (agentConnections, portalConnections) = (await agent.connections, await portal.connections)
        #expect(agentConnections == 2 && portalConnections == 1)
        await agent.close()
        await portal.close()
        try await nodes[1].stop()

        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let store = try PostgresStore.open(
            configuration: PostgresStoreConfiguration(urls: [url]),
            sealer: .ephemeral(),
            eventLoop: loop,
            logger: Logger(label: "audit")
        )
        defer { store.close() }
        let acknowledged = acks.withLockedValue { $0 }
        let clean = try await store.audit(acknowledged: acknowledged, on: loop).get()
        #expect(clean.violations.isEmpty, "\(clean.violations)")
        #expect(clean.acknowledged == acknowledged.count && clean.refunds >= acknowledged.count && clean.orders >= 60)

        // Damage done by a client that is not ours: a refund removed (its allocations first: the schema
        // refuses to leave them without it), a pool changed behind the history.
        let lost = try #require(acknowledged.first)
        let psql = try await runCommand(
            URL(fileURLWithPath: "/usr/bin/psql"),
            [
                url, "-v", "ON_ERROR_STOP=1", "-q", "-c",
                """
                DELETE FROM refund_allocations WHERE refund_id IN
                    (SELECT refund_id FROM refunds WHERE cancellation_id = '\(lost.cancellationID)');
                DELETE FROM refunds WHERE cancellation_id = '\(lost.cancellationID)';
                UPDATE stock SET reserved = reserved + 1 WHERE sku = (SELECT min(sku) FROM stock);
                """,
            ]
        )
        #expect(psql.status == 0, "\(psql.error)")
        let damaged = try await store.audit(acknowledged: acknowledged, on: loop).get().violations
        #expect(damaged.contains { $0.contains(lost.cancellationID) && $0.contains("missing") }, "\(damaged)")
        #expect(damaged.contains { $0.contains("without a refund") }, "\(damaged)")
        #expect(damaged.contains { $0.hasPrefix("stock ") && $0.contains("orders hold") }, "\(damaged)")
        #expect(damaged.contains { $0.contains("its last recorded change says") }, "\(damaged)")
    }
}

import Foundation
import NIOConcurrencyHelpers
import NIOCore
import PartialCancelClient
import PartialCancelDomain
import PartialCancelServer
import PartialCancelTestSupport
import PartialCancelWire
import Testing

/// WatchOrder and WatchStock against a real server over TCP, with the real client.
@Suite("Watch streams")
struct WatchTests {
    /// Collects a stream's items in the background, so that a test can act and then look.
    final class Collector<Item: Sendable>: Sendable {
        private let items = NIOLockedValueBox<[Item]>([])
        private let ended = NIOLockedValueBox<(any Error)??>(nil)
        let task: Task<Void, Never>

        init(_ stream: AsyncThrowingStream<Item, any Error>) {
            let items = self.items
            let ended = self.ended
            task = Task {
                do {
                    for try await item in stream { items.withLockedValue { $0.append(item) } }
                    ended.withLockedValue { $0 = .some(nil) }
                } catch {
                    ended.withLockedValue { $0 = .some(error) }
                }
            }
        }

        var received: [Item] { items.withLockedValue { $0 } }
        /// nil while the stream runs; then nil-or-error inside.
        var end: (any Error)?? { ended.withLockedValue { $0 } }

        /// Waits (up to 10 s) until `done` holds for the items received.
        func wait(until done: ([Item]) -> Bool) async throws -> [Item] {
            for _ in 0..<1000 {
                let now = received
                if done(now) { return now }
                try await Task.sleep(nanoseconds: 10_000_000)
            }
            Issue.record("timed out; received \(received)")
            return received
        }
    }

    static func watchOrder(_ client: PartialCancelClient, after seq: Int64 = 0) -> Collector<OrderChange> {
        Collector(
            client.stream(
                Methods.watchOrder,
                WatchOrderRequest(orderID: "web-W-1001", afterSeq: seq),
                as: OrderChange.self
            )
        )
    }

    @Test(
        "a watcher sees every change of a full flow, in commit order, numbered without gaps, with the order as committed"
    )
    func fullFlow() async throws {
        let (server, agent, portal) = try await ConfirmationTests.setUp()
        let watcher = try await server.client(key: TestServer.serviceKey)
        let changes = Self.watchOrder(watcher)
        let snapshot = try await changes.wait { !$0.isEmpty }
        #expect(
            snapshot.first?.entry == nil && snapshot.first?.seq == 1 && snapshot.first?.order?.totals.total == 79_504
        )

        let stock = Collector(
            watcher.stream(
                Methods.watchStock,
                WatchStockRequest(skus: [StockCursor(sku: "MUG-01")]),
                as: StockUpdate.self
            )
        )
        _ = try await stock.wait { !$0.isEmpty }

        let requested = try await ConfirmationTests.request(agent, [CancelLine(lineID: "L1", quantity: 1)])
        let token = try await ConfirmationTests.token(portal, for: requested.id)
        let confirmed = try await ConfirmationTests.confirm(portal, requested.id, token)
        let all = try await changes.wait { $0.last?.entry?.event == "CANCELLATION_COMPLETED" }

        let entries = all.dropFirst().compactMap(\.entry)
        #expect(
            entries.map(\.event) == [
                "CANCELLATION_REQUESTED", "CANCELLATION_CONFIRMED", "ORDER_UPDATED", "REFUND_ISSUED",
                "CANCELLATION_COMPLETED",
            ]
        )
        #expect(entries.map(\.seq) == [2, 3, 4, 5, 6])
        #expect(all.dropFirst().map(\.seq) == [2, 3, 4, 5, 6])
        #expect(entries[3].subject == confirmed.refund?.refundID)
        // The same entries GetOrder reads: the stream is the audit trail, live.
        let history = try await agent.call(
            Methods.getOrder,
            GetOrderRequest(orderID: "web-W-1001"),
            as: GetOrderResponse.self
        ).history
        #expect(Array(history.dropFirst()) == entries)
        // The last entry of each commit carries the order as that commit left it.
        let afterConfirm = try #require(all.first { $0.entry?.event == "REFUND_ISSUED" }?.order)
        #expect(afterConfirm.totals.total == 79_504 - 6421 && afterConfirm.totals.refunded == 6421)
        #expect(afterConfirm.lines.first { $0.id == "L1" }?.cancelledQuantity == 1)

        // Stock: the release of the cancelled unit, after the snapshot.
        let updates = try await stock.wait { $0.contains { $0.cause == "RELEASE" } }
        let release = try #require(updates.first { $0.cause == "RELEASE" })
        #expect(updates.first?.cause == "SNAPSHOT" && release.seq > updates[0].seq)
        #expect(release.reserved == updates[0].reserved - 1 && release.available == release.onHand - release.reserved)

        changes.task.cancel()
        stock.task.cancel()
        for client in [agent, portal, watcher] { await client.close() }
        try await server.stop()
    }

    @Test("a stock watch over max_watch_skus SKUs is refused; one at the bound runs")
    func tooManySkus() async throws {
        let server = try await TestServer.start { $0.maxWatchSkus = 3 }
        let client = try await server.client(key: TestServer.agentKey)
        let over = Collector(
            client.stream(
                Methods.watchStock,
                WatchStockRequest(skus: (1...4).map { StockCursor(sku: "SKU-\($0)") }),
                as: StockUpdate.self
            )
        )
        _ = await over.task.value
        guard case .some(.some(let error as ClientError)) = over.end else {
            Issue.record("expected a refusal, got \(String(describing: over.end))")
            return
        }
        #expect(error.status.code == .invalidArgument && error.status.reasons.first?.subject == "request.skus")
        let fits = Collector(
            client.stream(
                Methods.watchStock,
                WatchStockRequest(skus: (1...3).map { StockCursor(sku: "SKU-\($0)") }),
                as: StockUpdate.self
            )
        )
        try await Task.sleep(nanoseconds: 200_000_000)
        #expect(fits.end == nil)
        fits.task.cancel()
        await client.close()
        try await server.stop()
    }

    @Test("a watcher that reconnects with the last sequence number it saw misses nothing and repeats nothing")
    func resume() async throws {
        let (server, agent, portal) = try await ConfirmationTests.setUp()
        var watcher = try await server.client(key: TestServer.agentKey)
        let first = Self.watchOrder(watcher)
        _ = try await first.wait { !$0.isEmpty }
        let requested = try await ConfirmationTests.request(agent, [CancelLine(lineID: "L1", quantity: 1)])
        let seen = try await first.wait { $0.last?.entry?.event == "CANCELLATION_REQUESTED" }
        let last = try #require(seen.last?.seq)
        await watcher.close()  // the connection drops
        _ = await first.task.value

        // Changes while nobody watches.
        let token = try await ConfirmationTests.token(portal, for: requested.id)
        _ = try await ConfirmationTests.confirm(portal, requested.id, token)

        watcher = try await server.client(key: TestServer.agentKey)
        let second = Self.watchOrder(watcher, after: last)
        let resumed = try await second.wait { $0.last?.entry?.event == "CANCELLATION_COMPLETED" }
        #expect(resumed.map(\.seq) == Array((last + 1)...(last + 4)))
        #expect(
            resumed.compactMap(\.entry?.event) == [
                "CANCELLATION_CONFIRMED", "ORDER_UPDATED", "REFUND_ISSUED", "CANCELLATION_COMPLETED",
            ]
        )
        #expect(resumed.last?.order?.totals.refunded == 6421)
        // Together, the two watches hold the whole history exactly once.
        let history = try await agent.call(
            Methods.getOrder,
            GetOrderRequest(orderID: "web-W-1001"),
            as: GetOrderResponse.self
        ).history
        #expect((seen.compactMap(\.entry) + resumed.compactMap(\.entry)) == Array(history.dropFirst()))

        // A sequence number past the history is refused, naming the last one.
        let ahead = Self.watchOrder(watcher, after: 99)
        _ = await ahead.task.value
        guard case .some(.some(let error as ClientError)) = ahead.end else {
            Issue.record("expected a refusal, got \(String(describing: ahead.end))")
            return
        }
        #expect(
            error.status.code == .outOfRange && error.status.reasons.first?.code == "WATCH_SEQ_AHEAD"
                && error.status.reasons.first?.detail == "6"
        )

        second.task.cancel()
        for client in [agent, portal, watcher] { await client.close() }
        try await server.stop()
    }

    @Test("a watcher that stops reading is dropped with WATCH_BUFFER_FULL; other watchers and flows carry on")
    func slowWatcher() async throws {
        // A small kernel send buffer, so that a watcher that stops reading fills it quickly.
        let (server, agent, portal) = try await ConfirmationTests.setUp {
            $0.limits.watchBufferChanges = 512
            $0.limits.socketSendBufferBytes = 16_384
            // This is about the watch's buffer: the connection must not be closed for not reading
            // first (which would drop the Reply queued behind the unread items).
            $0.limits.writeStallTimeoutMs = 600_000
        }
        let admin = try await server.client()

        // The slow watcher: a raw connection with a tiny receive buffer that never reads.
        let slow = try RawConnection(port: server.port, receiveBuffer: 2048)
        var frames = ByteBuffer()
        Envelope.hello(Hello(clientName: "slow", apiKey: TestServer.agentKey)).encode(into: &frames, framed: true)
        Envelope.call(
            Call(
                callID: 1,
                method: Methods.watchStock,
                request: WatchStockRequest(skus: [StockCursor(sku: "FLOOD-1")]).encoded()
            )
        )
        .encode(into: &frames, framed: true)
        slow.send(Array(buffer: frames))
        // A healthy watcher of the same sku.
        let healthy = Collector(
            admin.stream(
                Methods.watchStock,
                WatchStockRequest(skus: [StockCursor(sku: "FLOOD-1")]),
                as: StockUpdate.self
            )
        )
        _ = try await Task.sleep(nanoseconds: 200_000_000)

        // Flood the sku with changes, many in flight, until the slow watcher is dropped.
        var written = 0
        var dropped: UInt64 = 0
        while dropped == 0 && written < 200_000 {
            let batch = (written..<(written + 500)).map { index in
                admin.start(
                    Methods.putStock,
                    request: PutStockRequest(sku: "FLOOD-1", location: "WH-1", onHand: Int64(index % 1000)).encoded()
                ).response
            }
            for call in batch { _ = try await call.get() }
            written += batch.count
            dropped = try await admin.call(Methods.stats, StatsRequest(), as: StatsResponse.self).watchesDropped
        }
        #expect(dropped == 1)
        print("slow watcher dropped after \(written) stock changes")

        // Its call ended with the status that says why (after the items it had been sent).
        let envelopes = try await offCooperativePool {
            try slow.readEnvelopes { if case .reply = $0 { true } else { false } }
        }
        guard case .reply(let reply)? = envelopes.last else {
            Issue.record("no Reply after \(envelopes.count) frames")
            return
        }
        #expect(
            reply.callID == 1 && reply.status.code == .resourceExhausted
                && reply.status.reasons.first?.code == "WATCH_BUFFER_FULL"
        )

        // The healthy watcher saw every change, in order, and is still watching.
        let updates = try await healthy.wait { $0.count >= written }
        #expect(updates.map(\.seq) == Array(1...Int64(written)))
        #expect(healthy.end == nil)
        // A full flow still runs while watches come and go.
        let requested = try await ConfirmationTests.request(agent, [CancelLine(lineID: "L1", quantity: 1)])
        let token = try await ConfirmationTests.token(portal, for: requested.id)
        #expect(try await ConfirmationTests.confirm(portal, requested.id, token).refund != nil)

        healthy.task.cancel()
        for client in [agent, portal, admin] { await client.close() }
        try await server.stop()
    }
}

/// The operators' commands, as processes against a real server.
@Suite("Watch and stats commands")
struct WatchCommandTests {
    @Test(
        "pcancel watch order prints every change as it commits; stats and order history show the figures and the trail"
    )
    func commands() async throws {
        let (server, agent, portal) = try await ConfirmationTests.setUp()
        let pcancel = try Paths.executable("pcancel")
        let connection = ["--server", "127.0.0.1:\(server.port)", "--api-key", TestServer.agentKey, "--json"]
        // Resuming after entry 1 (the intake) makes the test independent of when the process connects.
        async let watched = runCommand(
            pcancel,
            connection + ["watch", "order", "web-W-1001", "--after", "1", "--count", "5"],
            environment: [:]
        )
        let requested = try await ConfirmationTests.request(agent, [CancelLine(lineID: "L1", quantity: 1)])
        let token = try await ConfirmationTests.token(portal, for: requested.id)
        _ = try await ConfirmationTests.confirm(portal, requested.id, token)

        let watch = try await watched
        #expect(watch.status == 0, "\(watch.error)")
        let changes = watch.output.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(changes.compactMap { $0["seq"] as? Int } == [2, 3, 4, 5, 6])
        #expect(
            changes.compactMap { ($0["entry"] as? [String: Any])?["event"] as? String }
                == [
                    "CANCELLATION_REQUESTED", "CANCELLATION_CONFIRMED", "ORDER_UPDATED", "REFUND_ISSUED",
                    "CANCELLATION_COMPLETED",
                ]
        )

        let history = try await runCommand(pcancel, connection + ["order", "history", "web-W-1001"], environment: [:])
        #expect(history.status == 0, "\(history.error)")
        let trail =
            try #require(try JSONSerialization.jsonObject(with: Data(history.output.utf8)) as? [String: Any])["history"]
            as? [[String: Any]]
        #expect(
            trail?.count == 6 && trail?[2]["from_state"] as? String == "PENDING_CONFIRMATION"
                && trail?[2]["to_state"] as? String == "CONFIRMED"
        )

        let stats = try await runCommand(pcancel, connection + ["stats"], environment: [:])
        #expect(stats.status == 0, "\(stats.error)")
        let figures = try #require(try JSONSerialization.jsonObject(with: Data(stats.output.utf8)) as? [String: Any])
        let methods = try #require(figures["methods"] as? [[String: Any]])
        #expect(methods.contains { $0["method"] as? String == Methods.confirmCancellation && $0["calls"] as? Int == 1 })
        #expect((figures["shards"] as? [[String: Any]])?.count == 2)

        // A watch of an order that does not exist ends with NOT_FOUND's exit code.
        let missing = try await runCommand(pcancel, connection + ["watch", "order", "web-NOPE"], environment: [:])
        #expect(missing.status == 3 && missing.output.contains("ORDER_NOT_FOUND"))

        for client in [agent, portal] { await client.close() }
        try await server.stop()
    }
}

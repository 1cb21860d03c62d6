import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import PartialCancelClient
import PartialCancelDomain
import PartialCancelTestSupport
import PartialCancelWire
import Testing

@testable import PartialCancelServer

/// Stats, the Prometheus endpoint, readiness and logs, against a real server.
@Suite("Observability")
struct ObservabilityTests {
    /// One HTTP/1.1 GET over a plain socket (off the cooperative pool): status line and body.
    static func get(port: Int, path: String) async throws -> (status: Int, body: String) {
        try await offCooperativePool {
            let connection = try RawConnection(port: port)
            connection.send(Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8))
            let text = String(decoding: connection.readUntilClosed(), as: UTF8.self)
            let parts = text.components(separatedBy: "\r\n\r\n")
            let status = Int(parts[0].split(separator: " ").dropFirst().first ?? "") ?? 0
            return (status, parts.dropFirst().joined(separator: "\r\n\r\n"))
        }
    }

    /// Prometheus text format: `name{label="value",…} number` lines, comments skipped.
    static func samples(_ text: String) -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    @Test("the metrics endpoint is scraped over HTTP and parsed; its counters and Stats match the calls made")
    func metricsEndpoint() async throws {
        let server = try await TestServer.start(configuring: { $0.metricsPort = 0 })
        let metricsPort = try #require(server.server.metricsAddress?.port)
        let admin = try await server.client()
        let agent = try await server.client(key: TestServer.agentKey)
        for _ in 0..<7 { _ = try await admin.ping() }
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
        for _ in 0..<3 {
            await #expect(throws: ClientError.self) {
                _ = try await agent.call(
                    Methods.getOrder,
                    GetOrderRequest(orderID: "web-NOPE"),
                    as: GetOrderResponse.self
                )
            }
        }
        // Method names a client makes up are counted under one label: they cannot grow the tables.
        for name in ["made.Up/One", "made.Up/Two"] {
            await #expect(throws: ClientError.self) { _ = try await agent.call(name, request: ByteBuffer()) }
        }
        // A line eligibility refuses, counted by reason and channel.
        let verdict = try await agent.call(
            Methods.validateEligibility,
            ValidateEligibilityRequest(orderID: "web-W-1001", lines: [CancelLine(lineID: "L2a")]),
            as: ValidateEligibilityResponse.self
        )

        let (status, body) = try await Self.get(port: metricsPort, path: "/metrics")
        #expect(status == 200)
        let samples = Self.samples(body)
        #expect(samples[#"pcancel_calls_total{method="Ping",code="OK"}"#] == 7)
        #expect(samples[#"pcancel_calls_total{method="GetOrder",code="NOT_FOUND"}"#] == 3)
        #expect(samples[#"pcancel_calls_total{method="IngestOrder",code="OK"}"#] == 1)
        #expect(samples[#"pcancel_call_duration_seconds_count{method="Ping"}"#] == 7)
        #expect(samples[#"pcancel_shard_open{shard="0"}"#] == 1 && samples[#"pcancel_shard_open{shard="1"}"#] == 1)
        #expect(samples[#"pcancel_connections"#] == 2)
        let rejects = verdict.lines.flatMap { $0.reasons.map(\.code) }
        #expect(!rejects.isEmpty)
        for reason in Set(rejects) {
            #expect(
                samples["pcancel_eligibility_rejects_total{reason=\"\(reason)\",channel=\"web\"}"]
                    == Double(rejects.filter { $0 == reason }.count)
            )
        }

        // Stats says the same, with latency percentiles.
        let stats = try await admin.call(Methods.stats, StatsRequest(), as: StatsResponse.self)
        let ping = try #require(stats.methods.first { $0.method == Methods.ping })
        #expect(ping.calls == 7 && ping.statuses == [StatusCount(code: "OK", reason: "", count: 7)])
        #expect(ping.p50Ms > 0 && ping.p50Ms <= ping.p99Ms && ping.p99Ms <= ping.maxMs)
        let getOrder = try #require(stats.methods.first { $0.method == Methods.getOrder })
        #expect(getOrder.statuses == [StatusCount(code: "NOT_FOUND", reason: "ORDER_NOT_FOUND", count: 3)])
        #expect(stats.eligibilityRejects.map(\.count).reduce(0, +) == UInt64(rejects.count))
        #expect(stats.shards.count == 2 && stats.connections == 2)
        #expect(
            stats.methods.first { $0.method == "(unknown)" }?.statuses == [
                StatusCount(code: "UNIMPLEMENTED", reason: "METHOD_UNKNOWN", count: 2)
            ]
        )
        #expect(!stats.methods.contains { $0.method.hasPrefix("made.Up") })
        #expect(samples[#"pcancel_calls_total{method="(unknown)",code="UNIMPLEMENTED"}"#] == 2)

        // Liveness and readiness, over HTTP and the Health RPC.
        #expect(try await Self.get(port: metricsPort, path: "/live").status == 200)
        #expect(try await Self.get(port: metricsPort, path: "/ready") == (200, "ready\n"))
        #expect(try await Self.get(port: metricsPort, path: "/nope").status == 404)
        let health = try await admin.health()
        #expect(health.ready && health.notReady.isEmpty && health.status == .serving)

        for client in [admin, agent] { await client.close() }
        try await server.stop()
    }

    @Test("a metrics port that cannot be bound fails the start with an error")
    func metricsPortTaken() async throws {
        let first = try await TestServer.start(configuring: { $0.metricsPort = 0 })
        let taken = try #require(first.server.metricsAddress?.port)
        await #expect(throws: (any Error).self) {
            _ = try await TestServer.start(configuring: { $0.metricsPort = taken })
        }
        try await first.stop()
    }

    @Test("readiness fails, naming each cause: a shard not open, outbox lag over its bound, draining")
    func readiness() async throws {
        let loop = EmbeddedEventLoop()
        let runtime = ServerRuntime(version: "test", limits: ServerLimits())
        var diagnostics = DiagnosticsService(
            runtime: runtime,
            maxPingDelayMs: 0,
            metrics: ServerMetrics(),
            maxOutboxLagMs: 30_000
        )
        let shards = NIOLockedValueBox([
            ShardHealthView(index: 0, open: true), ShardHealthView(index: 1, open: true, outboxOldestAgeMs: 29_000),
        ])
        diagnostics.shards = { loop in loop.makeSucceededFuture(shards.withLockedValue { $0 }) }
        var health = try diagnostics.health(on: loop).wait()
        #expect(health.ready && health.notReady.isEmpty)

        shards.withLockedValue {
            $0 = [
                ShardHealthView(index: 0, open: false),
                ShardHealthView(index: 1, open: true, outboxOldestAgeMs: 31_000),
            ]
        }
        health = try diagnostics.health(on: loop).wait()
        #expect(!health.ready && health.status == .notServing)
        #expect(
            health.notReady == [
                "server is not_serving", "shard 0 is not open",
                "shard 1 outbox lag 31000 ms exceeds max_outbox_lag_ms 30000",
            ]
        )

        shards.withLockedValue { $0 = [ShardHealthView(index: 0, open: true)] }
        _ = runtime.startDraining()
        health = try diagnostics.health(on: loop).wait()
        #expect(!health.ready && health.notReady == ["server is draining"])
    }

    @Test("an anonymous caller learns that a server is not ready, but not why")
    func anonymousReadiness() {
        let full = HealthResponse(
            status: .notServing,
            serverVersion: "1.2.3",
            uptimeMs: 5000,
            connections: 3,
            shards: [
                ShardHealthView(index: 0, open: false),
                ShardHealthView(index: 1, open: true, outboxOldestAgeMs: 31_000),
            ],
            ready: false,
            notReady: ["server is not_serving", "shard 0 is not open"]
        )
        let anonymous = DiagnosticsService.statusOnly(full)
        #expect(
            anonymous
                == HealthResponse(
                    status: .notServing,
                    serverVersion: "",
                    uptimeMs: 0,
                    connections: 0,
                    shards: [],
                    ready: false,
                    notReady: []
                )
        )
        #expect(
            DiagnosticsService.statusOnly(
                HealthResponse(status: .serving, serverVersion: "1", uptimeMs: 1, connections: 1, ready: true)
            ).ready
        )
    }

    /// A log handler that keeps every line, for the no-secrets check.
    final class CapturedLines: Sendable {
        let lines = NIOLockedValueBox<[String]>([])
    }

    @Test(
        "logs of a whole flow, at trace level, in both formats, carry call ids, order ids and peers, and no token or key"
    )
    func logsHoldNoSecrets() async throws {
        for format in PCancelLogHandler.Format.allCases {
            let captured = CapturedLines()
            let logger = Logger(label: "pcancel-server") { label in
                PCancelLogHandler(label: label, format: format, level: .trace) { line in
                    captured.lines.withLockedValue { $0.append(line) }
                }
            }
            let (server, agent, portal) = try await ConfirmationTests.setUp(logger: logger)
            let requested = try await ConfirmationTests.request(agent, [CancelLine(lineID: "L1", quantity: 1)])
            let token = try await ConfirmationTests.token(portal, for: requested.id)
            // A wrong token first, then the right one.
            await #expect(throws: ClientError.self) {
                _ = try await ConfirmationTests.confirm(portal, requested.id, String(repeating: "ab", count: 32))
            }
            _ = try await ConfirmationTests.confirm(portal, requested.id, token)
            for client in [agent, portal] { await client.close() }
            try await server.stop()

            let lines = captured.lines.withLockedValue { $0 }
            let text = lines.joined()
            #expect(lines.count > 10, "\(format): \(lines.count) lines")
            for secret in [
                token, String(repeating: "ab", count: 32), TestServer.adminKey, TestServer.agentKey,
                TestServer.portalKey, TestServer.serviceKey,
            ] {
                #expect(!text.contains(secret), "\(format) logs contain a secret")
            }
            #expect(
                lines.contains {
                    $0.contains("cancellation confirmed") && $0.contains("web-W-1001") && $0.contains("call.id")
                        && $0.contains("peer")
                }
            )
            if format == .json {
                for line in lines {
                    #expect(
                        (try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any],
                        "not JSON: \(line)"
                    )
                }
            }
        }
    }
}

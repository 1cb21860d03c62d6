import Foundation
import NIOCore
import PartialCancelClient
import PartialCancelDomain
import PartialCancelTestSupport
import PartialCancelWire
import Testing

@testable import PartialCancelServer

@Suite("Source health")
struct SourceHealthTests {
    static func configuration(_ rules: [SourceHealthRule], windowMs: Int64 = 300_000) -> SourceHealthConfiguration {
        var configuration = SourceHealthConfiguration()
        configuration.windowMs = windowMs
        configuration.rules = rules
        return configuration
    }

    @Test(
        "silence past a source's gap and a reject share past its bound are DEGRADED, with the reason; the window forgets"
    )
    func tracker() throws {
        let clock = ManualClock()
        let tracker = SourceHealthTracker(
            channels: ["web"],
            fulfilmentSources: ["warehouse"],
            configuration: Self.configuration([
                SourceHealthRule(source: "warehouse", maxSilenceMs: 60_000),
                SourceHealthRule(source: "*", maxRejectShare: 0.5, minEvents: 4),
            ]),
            now: clock.clock.nowMs
        )
        func source(_ name: String) throws -> SourceHealthView {
            try #require(tracker.snapshot().first { $0.name == name })
        }
        #expect(try source("warehouse").state == "OK" && source("web").state == "OK")
        clock.advance(byMs: 60_001)
        let silent = try source("warehouse")
        #expect(silent.state == "DEGRADED")
        #expect(silent.reasons == ["no accepted event since the server started (max_silence_ms 60000)"])
        tracker.record("warehouse", .accepted(lagMs: 1500))
        tracker.record("warehouse", .accepted(lagMs: 500))
        tracker.record("warehouse", .retry)
        let heard = try source("warehouse")
        #expect(heard.state == "OK" && heard.accepted == 2 && heard.retries == 1 && heard.kind == "fulfilment")
        #expect(heard.lagMeanMs == 1000 && heard.lagMaxMs == 1500)
        // Three of four rejected: past 50 %, with enough events to tell.
        tracker.record("web", .accepted(lagMs: nil))
        tracker.record("web", .rejected, count: 3)
        let rejecting = try source("web")
        #expect(rejecting.state == "DEGRADED" && rejecting.deadLetters == 3)
        #expect(rejecting.reasons == ["rejected 75 % of 4 events in the last 300 s (max_reject_share 50 %)"])
        #expect(rejecting.rejectedPerMinute == 0.6 && rejecting.rejectShare == 0.75)
        // A name the server does not know is not counted (callers cannot grow the table).
        tracker.record("carrier-pigeon", .rejected)
        #expect(tracker.snapshot().map(\.name) == ["warehouse", "web"])
        // Once the window has passed, the share is counted afresh; the totals stay.
        clock.advance(byMs: 300_001)
        let later = try source("web")
        #expect(later.state == "OK" && later.rejectShare == 0 && later.rejected == 3)
        #expect(try source("warehouse").state == "DEGRADED")
    }

    @Test(
        "Health, Stats and the metrics show each source; a channel rejecting too much and a silent warehouse are DEGRADED"
    )
    func endToEnd() async throws {
        let clock = ManualClock()
        let server = try await TestServer.start(clock: clock.clock) {
            $0.metricsPort = 0
            $0.sources = Self.configuration([
                SourceHealthRule(source: "warehouse", maxSilenceMs: 60_000),
                SourceHealthRule(source: "web", maxRejectShare: 0.5, minEvents: 3),
            ])
        }
        let admin = try await server.client()
        _ = try await admin.call(
            Methods.ingestOrder,
            IngestOrderRequest(channel: "web", payload: ByteBuffer(string: SamplePayloads.web)),
            as: IngestOrderResponse.self
        )
        _ = try await admin.call(
            Methods.ingestOrder,
            IngestOrderRequest(channel: "web", payload: ByteBuffer(string: SamplePayloads.web)),
            as: IngestOrderResponse.self
        )
        for _ in 0..<2 {
            await #expect(throws: ClientError.self) {
                _ = try await admin.call(
                    Methods.ingestOrder,
                    IngestOrderRequest(channel: "web", payload: ByteBuffer(string: "{}")),
                    as: IngestOrderResponse.self
                )
            }
        }
        _ = try await FulfilmentEndToEndTests.record(
            admin,
            FulfilmentEndToEndTests.warehouse([("wms-1", "web-W-1001", "L1", "picked", false)])
        )
        clock.advance(byMs: 90_000)
        let stats = try await admin.call(Methods.stats, StatsRequest(), as: StatsResponse.self).sources
        #expect(stats.map(\.name) == ["3pl", "callcenter", "marketplace", "warehouse", "web"])
        let web = try #require(stats.first { $0.name == "web" })
        #expect(web.accepted == 1 && web.retries == 1 && web.rejected == 2 && web.deadLetters == 2)
        #expect(web.state == "DEGRADED" && web.reasons.first?.hasPrefix("rejected 66.7 % of 3 events") == true)
        let warehouse = try #require(stats.first { $0.name == "warehouse" })
        #expect(warehouse.accepted == 1 && warehouse.state == "DEGRADED")
        #expect(warehouse.reasons == ["no accepted event for 90 s (max_silence_ms 60000)"])
        let health = try await admin.call(Methods.health, HealthRequest(), as: HealthResponse.self)
        #expect(health.ready && health.sources == stats)
        // A load balancer (an anonymous caller) learns nothing about the sources.
        #expect(DiagnosticsService.statusOnly(health).sources.isEmpty)
        let port = try #require(server.server.metricsAddress?.port)
        let metrics = try await ObservabilityTests.get(port: port, path: "/metrics").body
        #expect(metrics.contains(#"pcancel_source_degraded{source="web"} 1"#))
        #expect(metrics.contains(#"pcancel_source_degraded{source="marketplace"} 0"#))
        #expect(metrics.contains(#"pcancel_source_events_total{source="web",outcome="rejected"} 2"#))
        // Rendering again does not count twice.
        let again = try await ObservabilityTests.get(port: port, path: "/metrics").body
        #expect(again.contains(#"pcancel_source_events_total{source="web",outcome="rejected"} 2"#))
        await admin.close()
        try await server.stop()
    }
}

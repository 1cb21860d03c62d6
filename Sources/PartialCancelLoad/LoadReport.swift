import Foundation
import Histogram

/// The run's figures as a human table and as one JSON object (docs/LOAD.md).
public struct LoadReport: Sendable {
    /// The business target for the mean processing time: 2 minutes.
    public static let targetProcessingMs = 120_000.0

    public var result: LoadResult
    /// Fields that describe the run (server, shards, …), copied into the JSON.
    public var context: [String: String]

    public init(result: LoadResult, context: [String: String] = [:]) {
        self.result = result
        self.context = context
    }

    static let percentiles: [(name: String, value: Double)] = [("p50", 50), ("p90", 90), ("p99", 99), ("p99_9", 99.9)]

    /// Milliseconds with microsecond resolution: `mean`, `p50`, `p90`, `p99`, `p99_9`, `max`, `count`.
    static func milliseconds(_ h: LatencyHistogram) -> [String: Any] {
        var object: [String: Any] = [
            "count": Int(h.totalCount), "mean": ms(h.totalCount == 0 ? 0 : h.mean), "max": ms(Double(h.maxRecorded)),
        ]
        for p in percentiles { object[p.name] = ms(Double(h.valueAtPercentile(p.value))) }
        return object
    }

    private static func ms(_ micros: Double) -> Double { (micros / 1000 * 1000).rounded() / 1000 }

    public var json: [String: Any] {
        let s = result.snapshot
        let meanMs = s.processing.totalCount == 0 ? 0 : s.processing.mean / 1000
        var object: [String: Any] = [
            "flows_started": s.flowsStarted,
            "flows_completed": s.flowsCompleted,
            "flows_failed": s.flowsFailed,
            "mismatches": s.mismatchCount,
            "mismatches_by_kind": s.mismatches,
            "completed_by_scenario": Dictionary(
                uniqueKeysWithValues: s.completedByScenario.map { ($0.key.rawValue, $0.value) }
            ),
            "errors": s.errors.map { ["call_status_reason": $0.key, "count": $0.value] as [String: Any] },
            "examples": s.examples,
            "throughput_flows_per_s": (result.throughput * 10).rounded() / 10,
            "elapsed_s": (result.flowSeconds * 1000).rounded() / 1000,
            "processing_ms": Self.milliseconds(s.processing),
            "flow_ms": Self.milliseconds(s.flow),
            "rpc_ms": Dictionary(
                uniqueKeysWithValues: s.rpc.map { (LoadRecorder.shortName($0.key), Self.milliseconds($0.value)) }
            ),
            "seeded_orders": result.seeded,
            "seed_s": (result.seedSeconds * 1000).rounded() / 1000,
            "pools_audited": result.poolsAudited,
            "cpu_ms_per_flow": (result.cpuMsPerFlow * 1000).rounded() / 1000,
            "target_processing_ms": Self.targetProcessingMs,
            "target_over_mean": meanMs > 0 ? (Self.targetProcessingMs / meanMs).rounded() : 0,
            "mix": result.options.mix.description,
            "mode": result.options.rate == nil ? "closed" : "open",
            "concurrency": result.options.concurrency,
            "succeeded": result.succeeded,
        ]
        if let rate = result.options.rate { object["rate"] = rate }
        // Figures are numbers in the JSON, whatever the context map holds them as.
        for (key, value) in context { object[key] = Int(value).map { $0 as Any } ?? value }
        return object
    }

    public func jsonData() throws -> Data {
        try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys, .prettyPrinted])
    }

    /// The final human report.
    public var text: String {
        let s = result.snapshot
        var out: [String] = []
        let mode =
            result.options.rate.map { "open loop at \(Self.number($0)) flows/s" }
            ?? "closed loop, \(result.options.concurrency) flows at a time"
        out.append("pcancel-load: \(mode), mix \(result.options.mix)")
        for key in context.keys.sorted() { out.append("  \(key): \(context[key]!)") }
        out.append("seeded \(result.seeded) orders in \(String(format: "%.2f", result.seedSeconds)) s")
        out.append(
            String(
                format: "flows: %d completed, %d failed, %d mismatches in %.2f s — %.1f flows/s",
                s.flowsCompleted,
                s.flowsFailed,
                s.mismatchCount,
                result.flowSeconds,
                result.throughput
            )
        )
        out.append(
            String(
                format:
                    "process CPU per flow: %.3f ms (user and system, this process: with --embedded, the server's too)",
                result.cpuMsPerFlow
            )
        )
        out.append(
            "by scenario: "
                + Scenario.allCases.compactMap { scenario in
                    s.completedByScenario[scenario].map { "\(scenario.rawValue) \($0)" }
                }.joined(separator: ", ")
        )
        out.append("")
        out.append(Self.row("latency ms", ["count", "mean", "p50", "p90", "p99", "p99.9", "max"]))
        out.append(Self.histogramRow("processing", s.processing))
        out.append(Self.histogramRow("whole flow", s.flow))
        for (method, h) in s.rpc.sorted(by: { $0.key < $1.key }) {
            out.append(Self.histogramRow(LoadRecorder.shortName(method), h))
        }
        out.append("")
        if s.processing.totalCount > 0 {
            let meanMs = s.processing.mean / 1000
            out.append(
                String(
                    format: "mean processing %.3f ms: %.0f × inside the 2-minute target",
                    meanMs,
                    Self.targetProcessingMs / meanMs
                )
            )
        }
        out.append("stock audit: \(result.poolsAudited) pools")
        for (kind, n) in s.mismatches.sorted(by: { $0.key < $1.key }) { out.append("mismatch \(kind): \(n)") }
        for (key, n) in s.errors.sorted(by: { $0.key < $1.key }) { out.append("error \(key): \(n)") }
        for example in s.examples { out.append("  \(example)") }
        out.append(
            result.succeeded ? "OK: every flow checked, no mismatch" : "FAILED: see the mismatches and errors above"
        )
        return out.joined(separator: "\n")
    }

    /// One progress line: flows so far, rate, and the processing tail.
    public static func progress(_ s: LoadRecorder.Snapshot, elapsed: Double) -> String {
        let rate = elapsed > 0 ? Double(s.flowsCompleted) / elapsed : 0
        let p99 = Double(s.processing.valueAtPercentile(99)) / 1000
        return String(
            format: "[%6.1f s] flows %d done, %d failed, %d mismatches | %.0f flows/s | processing p99 %.2f ms",
            elapsed,
            s.flowsCompleted,
            s.flowsFailed,
            s.mismatchCount,
            rate,
            p99
        )
    }

    private static func histogramRow(_ name: String, _ h: LatencyHistogram) -> String {
        let values = [h.mean] + percentiles.map { Double(h.valueAtPercentile($0.value)) } + [Double(h.maxRecorded)]
        return row(name, ["\(h.totalCount)"] + values.map { String(format: "%.3f", $0 / 1000) })
    }

    private static func row(_ name: String, _ cells: [String]) -> String {
        name.padding(toLength: 22, withPad: " ", startingAt: 0)
            + cells.map { String(repeating: " ", count: max(0, 10 - $0.count)) + $0 }.joined()
    }

    private static func number(_ value: Double) -> String { value == value.rounded() ? "\(Int(value))" : "\(value)" }
}

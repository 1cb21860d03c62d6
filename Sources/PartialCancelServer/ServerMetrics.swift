import CoreMetrics
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import PartialCancelWire
import Prometheus

/// The server's counts and latencies, kept twice over: exactly (counts and an HdrHistogram per
/// method) for the `Stats` RPC, and as swift-metrics counters and timers on this server's own
/// Prometheus registry for the text endpoint. The registry is per server, never the process-wide
/// `MetricsSystem`, so that several servers in one process (tests, embedding) keep their own figures.
///
/// Per call: one lookup in a table fixed at start, one lock of that method's own record, and two
/// metric updates. Names a client makes up are counted under one `(unknown)` method, so callers
/// cannot grow the tables.
public final class ServerMetrics: Sendable {
    /// The label of calls to methods the server does not have.
    static let unknownMethod = "(unknown)"

    /// What the endpoint renders.
    private let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let methods: [String: MethodRecord]
    private let unknown: MethodRecord
    private let rejects = NIOLockedValueBox<[RejectKey: (count: UInt64, counter: CoreMetrics.Counter)]>([:])
    private let watchesDropped = NIOLockedValueBox<UInt64>(0)
    private let watchesDroppedCounter: CoreMetrics.Counter
    /// Each source's counts as last rendered, so that its counters move on by the difference.
    private let renderedSources = NIOLockedValueBox<[String: UInt64]>([:])

    /// - Parameter methods: the names of every method the server serves.
    public init(methods names: [String] = Methods.all) {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
            .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500),
            .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
        ]
        self.factory = factory
        var methods: [String: MethodRecord] = [:]
        for name in names { methods[name] = MethodRecord(name: name, label: Self.shortName(name), factory: factory) }
        self.methods = methods
        unknown = MethodRecord(name: Self.unknownMethod, label: Self.unknownMethod, factory: factory)
        watchesDroppedCounter = CoreMetrics.Counter(label: "pcancel_watches_dropped_total", factory: factory)
    }

    /// The method's short name for labels: `ConfirmCancellation` for `pcancel.v1.PartialCancellation/ConfirmCancellation`.
    static func shortName(_ method: String) -> String {
        method.split(separator: "/").last.map(String.init) ?? method
    }

    /// One finished call: its status code, first reason (none for OK) and time from call to answer.
    /// Connections record their calls; public for embedding and for measuring its cost.
    public func record(method: String, code: StatusCode, reason: String?, duration: TimeAmount) {
        (methods[method] ?? unknown).record(code: code, reason: reason, duration: duration)
    }

    /// Lines refused by eligibility: one count per reason, by the order's channel. Reasons and
    /// channels are the server's own codes, so the table stays small.
    func recordRejects(_ reasons: [String], channel: String) {
        guard !reasons.isEmpty else { return }
        let factory = self.factory
        let counters = rejects.withLockedValue { rejects in
            reasons.map { reason in
                let key = RejectKey(reason: reason, channel: channel)
                let counter =
                    rejects[key]?.counter
                    ?? CoreMetrics.Counter(
                        label: "pcancel_eligibility_rejects_total",
                        dimensions: [("reason", reason), ("channel", channel)],
                        factory: factory
                    )
                rejects[key] = ((rejects[key]?.count ?? 0) + 1, counter)
                return counter
            }
        }
        for counter in counters { counter.increment() }
    }

    /// A watch ended because its watcher fell behind.
    func recordWatchDropped() {
        watchesDropped.withLockedValue { $0 += 1 }
        watchesDroppedCounter.increment()
    }

    /// Per-method figures (methods called at least once), eligibility rejects and dropped
    /// watches, for `Stats`.
    func snapshot() -> (methods: [MethodStats], rejects: [RejectCount], watchesDropped: UInt64) {
        let methods = (Array(self.methods.values) + [unknown]).compactMap { $0.stats() }.sorted {
            $0.method < $1.method
        }
        let rejects = self.rejects.withLockedValue { $0 }.sorted {
            ($0.key.reason, $0.key.channel) < ($1.key.reason, $1.key.channel)
        }
        .map { RejectCount(reason: $0.key.reason, channel: $0.key.channel, count: $0.value.count) }
        return (methods, rejects, watchesDropped.withLockedValue { $0 })
    }

    /// Sets the gauges that describe now (connections, watches, each shard's queue and backlogs,
    /// each source's state), then renders everything in the Prometheus text format.
    func render(connections: Int, watches: Int, shards: [ShardHealthView], sources: [SourceHealthView] = []) -> [UInt8]
    {
        renderSources(sources)
        gauge("pcancel_connections").record(connections)
        gauge("pcancel_watches").record(watches)
        for shard in shards {
            let dimensions = [("shard", "\(shard.index)")]
            gauge("pcancel_shard_open", dimensions).record(shard.open ? 1 : 0)
            gauge("pcancel_shard_queue_depth", dimensions).record(Int64(shard.queueDepth))
            gauge("pcancel_outbox_backlog", dimensions).record(shard.outboxBacklog)
            gauge("pcancel_outbox_oldest_age_seconds", dimensions).record(Double(shard.outboxOldestAgeMs) / 1000)
            gauge("pcancel_dead_letters", dimensions).record(shard.deadLetters)
            gauge("pcancel_email_backlog", dimensions).record(shard.emailBacklog)
            gauge("pcancel_email_oldest_age_seconds", dimensions).record(Double(shard.emailOldestAgeMs) / 1000)
            gauge("pcancel_orders", dimensions).record(shard.orders)
        }
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }

    /// Per source: its counts as counters (each moved on by what arrived since the last render),
    /// and its state, reject share, lag and silence as gauges.
    private func renderSources(_ sources: [SourceHealthView]) {
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        renderedSources.withLockedValue { rendered in
            for source in sources {
                let counts = [
                    ("accepted", source.accepted), ("rejected", source.rejected), ("retry", source.retries),
                ]
                for (outcome, total) in counts {
                    let key = "\(source.name)/\(outcome)"
                    let delta = total - min(total, rendered[key] ?? 0)
                    if delta > 0 {
                        CoreMetrics.Counter(
                            label: "pcancel_source_events_total",
                            dimensions: [("source", source.name), ("outcome", outcome)],
                            factory: factory
                        ).increment(by: Int64(clamping: delta))
                    }
                    rendered[key] = total
                }
            }
        }
        for source in sources {
            let dimensions = [("source", source.name)]
            gauge("pcancel_source_degraded", dimensions).record(source.state == "DEGRADED" ? 1 : 0)
            gauge("pcancel_source_reject_share", dimensions).record(source.rejectShare)
            gauge("pcancel_source_lag_mean_seconds", dimensions).record(Double(source.lagMeanMs) / 1000)
            if source.lastAcceptedMs > 0 {
                gauge("pcancel_source_last_accepted_age_seconds", dimensions).record(
                    Double(max(0, nowMs - source.lastAcceptedMs)) / 1000
                )
            }
        }
    }

    private func gauge(_ label: String, _ dimensions: [(String, String)] = []) -> CoreMetrics.Gauge {
        CoreMetrics.Gauge(label: label, dimensions: dimensions, factory: factory)
    }

    private struct RejectKey: Hashable {
        var reason: String
        var channel: String
    }
}

/// One method's figures, behind its own lock (calls to different methods never contend).
private final class MethodRecord: Sendable {
    private struct StatusKey: Hashable {
        var code: StatusCode
        var reason: String
    }

    private struct State {
        var calls: UInt64 = 0
        var statuses: [StatusKey: UInt64] = [:]
        var latencies = Latencies()
        var counters: [StatusCode: CoreMetrics.Counter] = [:]
    }

    let name: String
    private let label: String
    private let factory: PrometheusMetricsFactory
    private let state: NIOLockedValueBox<State>
    private let ok: CoreMetrics.Counter
    private let timer: CoreMetrics.Timer

    init(name: String, label: String, factory: PrometheusMetricsFactory) {
        self.name = name
        self.label = label
        self.factory = factory
        state = NIOLockedValueBox(State())
        ok = CoreMetrics.Counter(
            label: "pcancel_calls_total",
            dimensions: [("method", label), ("code", StatusCode.ok.name)],
            factory: factory
        )
        timer = CoreMetrics.Timer(
            label: "pcancel_call_duration_seconds",
            dimensions: [("method", label)],
            factory: factory
        )
    }

    func record(code: StatusCode, reason: String?, duration: TimeAmount) {
        let micros = UInt64(max(0, duration.nanoseconds / 1000))
        let counter = state.withLockedValue { state -> CoreMetrics.Counter in
            state.calls += 1
            state.statuses[StatusKey(code: code, reason: reason ?? ""), default: 0] += 1
            state.latencies.record(micros)
            if code == .ok { return ok }
            if let counter = state.counters[code] { return counter }
            let counter = CoreMetrics.Counter(
                label: "pcancel_calls_total",
                dimensions: [("method", label), ("code", code.name)],
                factory: factory
            )
            state.counters[code] = counter
            return counter
        }
        counter.increment()
        timer.recordNanoseconds(duration.nanoseconds)
    }

    /// Nil until the first call.
    func stats() -> MethodStats? {
        state.withLockedValue { state in
            guard state.calls > 0 else { return nil }
            let latencies = state.latencies
            let ms = { (micros: UInt64) in Double(micros) / 1000 }
            return MethodStats(
                method: name,
                calls: state.calls,
                statuses: state.statuses.sorted {
                    ($0.key.code.rawValue, $0.key.reason) < ($1.key.code.rawValue, $1.key.reason)
                }
                .map { StatusCount(code: $0.key.code.name, reason: $0.key.reason, count: $0.value) },
                meanMs: latencies.mean / 1000,
                p50Ms: ms(latencies.valueAtPercentile(50)),
                p90Ms: ms(latencies.valueAtPercentile(90)),
                p99Ms: ms(latencies.valueAtPercentile(99)),
                maxMs: ms(latencies.max)
            )
        }
    }
}

import CoreMetrics
import NIOConcurrencyHelpers
import NIOCore
import PartialCancelWire
import Prometheus

/// The server's counts and latencies, kept twice over: exactly (counts and an HdrHistogram per
/// method) for the `Stats` RPC, and as swift-metrics counters and timers on this server's own
/// Prometheus registry for the text endpoint. Per call: one lock, one histogram record and two
/// metric updates. The registry is per server, never the process-wide `MetricsSystem`, so that
/// several servers in one process (tests, embedding) keep their own figures.
public final class ServerMetrics: Sendable {
    private struct StatusKey: Hashable {
        var code: StatusCode
        var reason: String
    }

    private struct MethodRecord {
        var calls: UInt64 = 0
        var statuses: [StatusKey: UInt64] = [:]
        var latencies = Latencies()
        var counters: [StatusCode: CoreMetrics.Counter] = [:]
        var timer: CoreMetrics.Timer
    }

    private struct RejectKey: Hashable {
        var reason: String
        var channel: String
    }

    private struct State {
        var methods: [String: MethodRecord] = [:]
        var rejects: [RejectKey: UInt64] = [:]
        var rejectCounters: [RejectKey: CoreMetrics.Counter] = [:]
        var watchesDropped: UInt64 = 0
    }

    /// The Prometheus registry the endpoint renders.
    public let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let state = NIOLockedValueBox(State())
    private let watchesDroppedCounter: CoreMetrics.Counter

    public init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
        ]
        self.factory = factory
        watchesDroppedCounter = CoreMetrics.Counter(label: "pcancel_watches_dropped_total", factory: factory)
    }

    /// The method's short name for labels: `ConfirmCancellation` for `pcancel.v1.PartialCancellation/ConfirmCancellation`.
    static func shortName(_ method: String) -> String {
        method.split(separator: "/").last.map(String.init) ?? method
    }

    /// One finished call: its status code, first reason (none for OK) and time from call to answer.
    func record(method: String, code: StatusCode, reason: String?, duration: TimeAmount) {
        let micros = UInt64(max(0, duration.nanoseconds / 1000))
        let factory = self.factory
        let (counter, timer) = state.withLockedValue { state -> (CoreMetrics.Counter, CoreMetrics.Timer) in
            if state.methods[method] == nil {
                state.methods[method] = MethodRecord(timer: CoreMetrics.Timer(label: "pcancel_call_duration_seconds",
                                                                              dimensions: [("method", Self.shortName(method))], factory: factory))
            }
            state.methods[method]!.calls += 1
            state.methods[method]!.statuses[StatusKey(code: code, reason: reason ?? ""), default: 0] += 1
            _ = state.methods[method]!.latencies.record(micros)
            let counter = state.methods[method]!.counters[code] ?? {
                let made = CoreMetrics.Counter(label: "pcancel_calls_total", dimensions: [("method", Self.shortName(method)), ("code", code.name)],
                                               factory: factory)
                state.methods[method]!.counters[code] = made
                return made
            }()
            return (counter, state.methods[method]!.timer)
        }
        counter.increment()
        timer.recordNanoseconds(duration.nanoseconds)
    }

    /// Lines refused by eligibility: one count per reason, by the order's channel.
    func recordRejects(_ reasons: [String], channel: String) {
        guard !reasons.isEmpty else { return }
        let factory = self.factory
        let counters = state.withLockedValue { state in
            reasons.map { reason in
                let key = RejectKey(reason: reason, channel: channel)
                state.rejects[key, default: 0] += 1
                if let counter = state.rejectCounters[key] { return counter }
                let counter = CoreMetrics.Counter(label: "pcancel_eligibility_rejects_total", dimensions: [("reason", reason), ("channel", channel)],
                                                  factory: factory)
                state.rejectCounters[key] = counter
                return counter
            }
        }
        for counter in counters { counter.increment() }
    }

    /// A watch ended because its watcher fell behind.
    func recordWatchDropped() {
        state.withLockedValue { $0.watchesDropped += 1 }
        watchesDroppedCounter.increment()
    }

    /// Per-method figures, eligibility rejects and dropped watches, for `Stats`.
    func snapshot() -> (methods: [MethodStats], rejects: [RejectCount], watchesDropped: UInt64) {
        state.withLockedValue { state in
            let methods = state.methods.sorted { $0.key < $1.key }.map { name, record in
                let latencies = record.latencies
                let ms = { (micros: UInt64) in Double(micros) / 1000 }
                return MethodStats(method: name, calls: record.calls,
                                   statuses: record.statuses.sorted { ($0.key.code.rawValue, $0.key.reason) < ($1.key.code.rawValue, $1.key.reason) }
                                       .map { StatusCount(code: $0.key.code.name, reason: $0.key.reason, count: $0.value) },
                                   meanMs: latencies.mean / 1000, p50Ms: ms(latencies.valueAtPercentile(50)),
                                   p90Ms: ms(latencies.valueAtPercentile(90)), p99Ms: ms(latencies.valueAtPercentile(99)),
                                   maxMs: ms(latencies.max))
            }
            let rejects = state.rejects.sorted { ($0.key.reason, $0.key.channel) < ($1.key.reason, $1.key.channel) }
                .map { RejectCount(reason: $0.key.reason, channel: $0.key.channel, count: $0.value) }
            return (methods, rejects, state.watchesDropped)
        }
    }

    /// Sets the gauges that describe now (connections, watches, each shard's queue and backlogs),
    /// then renders everything in the Prometheus text format.
    func render(connections: Int, watches: Int, shards: [ShardHealthView]) -> [UInt8] {
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

    private func gauge(_ label: String, _ dimensions: [(String, String)] = []) -> CoreMetrics.Gauge {
        CoreMetrics.Gauge(label: label, dimensions: dimensions, factory: factory)
    }
}

import NIOCore
import PartialCancelWire

#if canImport(Glibc)
import Glibc
#endif

/// Ping, Health and Stats: the methods every server has, whatever else it serves.
struct DiagnosticsService {
    let runtime: ServerRuntime
    let maxPingDelayMs: Int
    let metrics: ServerMetrics
    /// Readiness bound: the oldest undelivered cross-shard message may be at most this old.
    var maxOutboxLagMs: Int = 30_000
    /// Each shard's state, when the server has storage.
    var shards: (@Sendable (any EventLoop) -> EventLoopFuture<[ShardHealthView]>)? = nil
    /// Open watches, when the server has storage.
    var watches: @Sendable () -> Int = { 0 }
    /// Shards that cannot write (a full disk), each with its reason; asked after `shards`, which
    /// probes them. Not ready while any is listed.
    var unwritableShards: @Sendable () -> [String] = { [] }
    /// Each order channel's and fulfilment source's health (a degraded one does not make the server unready).
    var sources: @Sendable () -> [SourceHealthView] = { [] }

    var methods: [MethodDescriptor] {
        [
            .unary(Methods.ping, request: PingRequest.self) { context, request in
                ping(context, request)
            },
            .unary(Methods.health, request: HealthRequest.self) { context, _ in
                health(on: context.eventLoop).map { context.principal.role == nil ? Self.statusOnly($0) : $0 }
            },
            .unary(Methods.stats, request: StatsRequest.self) { context, _ in
                stats(on: context.eventLoop)
            },
        ]
    }

    /// Liveness (the server answers), status, and readiness: not draining, every shard open (its
    /// database opened and migrated, its worker answering) and writable (not out of disk space), and
    /// the outbox lag under its bound.
    func health(on loop: any EventLoop) -> EventLoopFuture<HealthResponse> {
        var health = runtime.health()
        health.sources = sources()
        guard let shards else {
            health.ready = health.status == .serving
            if !health.ready { health.notReady = ["server is \(health.status.name.lowercased())"] }
            return loop.makeSucceededFuture(health)
        }
        let maxLag = Int64(maxOutboxLagMs)
        let unwritableShards = self.unwritableShards
        return shards(loop).map { views in
            health.shards = views
            if !views.allSatisfy(\.open) { health.status = .notServing }
            var notReady: [String] = []
            if health.status != .serving { notReady.append("server is \(health.status.name.lowercased())") }
            for shard in views where !shard.open { notReady.append("shard \(shard.index) is not open") }
            for shard in views where shard.outboxOldestAgeMs > maxLag {
                notReady.append(
                    "shard \(shard.index) outbox lag \(shard.outboxOldestAgeMs) ms exceeds max_outbox_lag_ms \(maxLag)"
                )
            }
            notReady += unwritableShards()
            health.ready = notReady.isEmpty
            health.notReady = notReady
            return health
        }
    }

    /// What an anonymous caller (a load balancer, anything that reaches the port) learns: whether
    /// the server serves and is ready. The version, uptime, connection count, shards and the causes
    /// of unreadiness (which name shards and backlogs) are for callers with a key.
    static func statusOnly(_ health: HealthResponse) -> HealthResponse {
        HealthResponse(
            status: health.status,
            serverVersion: "",
            uptimeMs: 0,
            connections: 0,
            protocolVersion: health.protocolVersion,
            shards: [],
            ready: health.ready,
            notReady: [],
            sources: []
        )
    }

    func stats(on loop: any EventLoop) -> EventLoopFuture<StatsResponse> {
        let health = runtime.health()
        let (methods, rejects, dropped) = metrics.snapshot()
        var stats = StatsResponse(
            uptimeMs: health.uptimeMs,
            connections: health.connections,
            methods: methods,
            eligibilityRejects: rejects,
            watches: UInt32(clamping: watches()),
            watchesDropped: dropped,
            sources: sources()
        )
        guard let shards else { return loop.makeSucceededFuture(stats) }
        return shards(loop).map { views in
            stats.shards = views
            stats.stockMessagesInFlight = views.reduce(0) { $0 + $1.outboxBacklog }
            return stats
        }
    }

    private func ping(_ context: CallContext, _ request: PingRequest) -> EventLoopFuture<PingResponse> {
        if Int(request.delayMs) > maxPingDelayMs {
            return context.eventLoop.makeFailedFuture(
                RPCError(
                    .invalidArgument,
                    "delay_ms \(request.delayMs) exceeds the limit of \(maxPingDelayMs)",
                    reason: .fieldOutOfRange,
                    subject: "request.delay_ms",
                    detail: "max_ping_delay_ms=\(maxPingDelayMs)"
                )
            )
        }
        let respond: @Sendable () -> PingResponse = {
            PingResponse(payload: request.payload, serverTimeUnixMs: Self.nowUnixMs())
        }
        if request.delayMs == 0 { return context.eventLoop.makeSucceededFuture(respond()) }
        return context.eventLoop.scheduleTask(in: .milliseconds(Int64(request.delayMs)), respond).futureResult
    }

    static func nowUnixMs() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UInt64(now.tv_sec) * 1000 + UInt64(now.tv_nsec) / 1_000_000
    }
}

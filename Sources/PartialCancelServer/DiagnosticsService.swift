import NIOCore
import PartialCancelWire

#if canImport(Glibc)
import Glibc
#endif

/// Ping and Health: the methods every server has, whatever else it serves.
struct DiagnosticsService {
    let runtime: ServerRuntime
    let maxPingDelayMs: Int
    /// Each shard's state, when the server has storage.
    var shards: (@Sendable (any EventLoop) -> EventLoopFuture<[ShardHealthView]>)? = nil

    var methods: [MethodDescriptor] {
        [
            .unary(Methods.ping, access: .authenticated, request: PingRequest.self) { context, request in
                ping(context, request)
            },
            .unary(Methods.health, access: .anonymous, request: HealthRequest.self) { [shards] context, _ in
                let health = runtime.health()
                guard let shards else { return context.eventLoop.makeSucceededFuture(health) }
                return shards(context.eventLoop).map { views in
                    var withShards = health
                    withShards.shards = views
                    if !views.allSatisfy(\.open) { withShards.status = .notServing }
                    return withShards
                }
            },
        ]
    }

    private func ping(_ context: CallContext, _ request: PingRequest) -> EventLoopFuture<PingResponse> {
        if Int(request.delayMs) > maxPingDelayMs {
            return context.eventLoop.makeFailedFuture(
                RPCError(.invalidArgument, "delay_ms \(request.delayMs) exceeds the limit of \(maxPingDelayMs)",
                         reason: "FIELD_OUT_OF_RANGE", subject: "request.delay_ms", detail: "max_ping_delay_ms=\(maxPingDelayMs)"))
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

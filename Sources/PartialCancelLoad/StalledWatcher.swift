import NIOCore
import NIOPosix
import PartialCancelWire

/// A watcher that never reads (`pcancel-load --slow-watchers`): it says Hello, starts a WatchStock
/// of the run's skus, and leaves every byte the server sends unread, with a small receive buffer.
/// The server must drop its watch (WATCH_BUFFER_FULL) without the flows slowing down.
public final class StalledWatcher: Sendable {
    private let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
    }

    public static func start(
        host: String,
        port: Int,
        apiKey: String,
        skus: [String],
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> StalledWatcher {
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.autoRead, value: false)
            .channelOption(.socketOption(.so_rcvbuf), value: 4096)
            .connect(host: host, port: port)
            .get()
        var frames = ByteBuffer()
        Envelope.hello(Hello(clientName: "pcancel-load-stalled-watcher", apiKey: apiKey)).encode(
            into: &frames,
            framed: true
        )
        let request = WatchStockRequest(skus: skus.map { StockCursor(sku: $0) }).encoded()
        Envelope.call(Call(callID: 1, method: Methods.watchStock, request: request)).encode(into: &frames, framed: true)
        try await channel.writeAndFlush(frames)
        return StalledWatcher(channel: channel)
    }

    public func close() async {
        try? await channel.close()
    }
}

extension OrderFactory {
    /// The run's own skus that hold stock: what a stock watcher of the run follows.
    public var stockSKUs: [String] { Self.pools.map { sku($0.sku) } }
}

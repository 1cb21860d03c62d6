import NIOCore
import NIOHTTP1
import NIOPosix
import PartialCancelWire

/// The operators' HTTP endpoint, on its own port (off unless configured): `GET /metrics` in the
/// Prometheus text format, `GET /live` (200 while the process serves) and `GET /ready` (200 when
/// ready, 503 with the reasons when not). Plain HTTP/1.1, one request at a time per connection;
/// anything else gets 404 or 405.
struct MetricsEndpoint {
    /// What the endpoint serves, each produced on the request's event loop.
    struct Pages: Sendable {
        var metrics: @Sendable (any EventLoop) -> EventLoopFuture<[UInt8]>
        var health: @Sendable (any EventLoop) -> EventLoopFuture<HealthResponse>
    }

    static func bind(host: String, port: Int, group: any EventLoopGroup, pages: Pages) async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMap {
                    channel.pipeline.addHandler(MetricsHTTPHandler(pages: pages))
                }
            }
            .bind(host: host, port: port)
            .get()
    }
}

private final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let pages: MetricsEndpoint.Pages
    private var request: HTTPRequestHead?

    init(pages: MetricsEndpoint.Pages) {
        self.pages = pages
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break
        case .end:
            guard let head = request else { return }
            request = nil
            answer(context, head)
        }
    }

    private func answer(_ context: ChannelHandlerContext, _ head: HTTPRequestHead) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        guard head.method == .GET || head.method == .HEAD else {
            return respond(context, head, .methodNotAllowed, "only GET and HEAD\n")
        }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        switch path {
        case "/metrics":
            pages.metrics(context.eventLoop).whenComplete { result in
                let (handler, context) = loopBound.value
                switch result {
                case .success(let text):
                    handler.respond(context, head, .ok, text, contentType: "text/plain; version=0.0.4; charset=utf-8")
                case .failure(let error):
                    handler.respond(context, head, .internalServerError, Array("metrics unavailable: \(error)\n".utf8))
                }
            }
        case "/live":
            respond(context, head, .ok, "live\n")
        case "/ready":
            pages.health(context.eventLoop).whenComplete { result in
                let (handler, context) = loopBound.value
                switch result {
                case .success(let health) where health.ready: handler.respond(context, head, .ok, "ready\n")
                case .success(let health):
                    handler.respond(
                        context,
                        head,
                        .serviceUnavailable,
                        "not ready\n" + health.notReady.map { $0 + "\n" }.joined()
                    )
                case .failure(let error): handler.respond(context, head, .serviceUnavailable, "not ready: \(error)\n")
                }
            }
        default:
            respond(context, head, .notFound, "no such page; try /metrics, /live or /ready\n")
        }
    }

    private func respond(
        _ context: ChannelHandlerContext,
        _ head: HTTPRequestHead,
        _ status: HTTPResponseStatus,
        _ text: String
    ) {
        respond(context, head, status, Array(text.utf8))
    }

    private func respond(
        _ context: ChannelHandlerContext,
        _ request: HTTPRequestHead,
        _ status: HTTPResponseStatus,
        _ body: [UInt8],
        contentType: String = "text/plain; charset=utf-8"
    ) {
        var headers = HTTPHeaders([("Content-Type", contentType), ("Content-Length", "\(body.count)")])
        if !request.isKeepAlive { headers.add(name: "Connection", value: "close") }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))),
            promise: nil
        )
        if request.method != .HEAD {
            context.write(
                wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))),
                promise: nil
            )
        }
        let keepAlive = request.isKeepAlive
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
    }
}

import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A small HTTP/1.1 server on 127.0.0.1 for the peers a load run plays itself (a webhook receiver,
/// an asynchronous payment service): each request's path, headers and body go to `respond`, whose
/// status is the answer (empty body).
final class LoopbackHTTPServer: Sendable {
    typealias Respond = @Sendable (_ path: String, _ headers: HTTPHeaders, _ body: ByteBuffer) -> HTTPResponseStatus

    private let channel = NIOLockedValueBox<(any Channel)?>(nil)

    /// Listens on a free port; returns it.
    func start(
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        respond: @escaping Respond
    )
        async throws -> Int
    {
        let bound = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(Handler(respond: respond))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        channel.withLockedValue { $0 = bound }
        return bound.localAddress?.port ?? 0
    }

    func stop() async { try? await channel.withLockedValue { $0 }?.close() }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let respond: Respond
        var head: HTTPRequestHead?
        var body = ByteBuffer()

        init(respond: @escaping Respond) { self.respond = respond }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let request):
                head = request
                body.clear()
            case .body(var part):
                body.writeBuffer(&part)
            case .end:
                guard let request = head else { return }
                head = nil
                let status = respond(request.uri, request.headers, body)
                var headers = HTTPHeaders()
                headers.add(name: "content-length", value: "0")
                context.write(
                    wrapOutboundOut(
                        .head(HTTPResponseHead(version: request.version, status: status, headers: headers))
                    ),
                    promise: nil
                )
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }
}

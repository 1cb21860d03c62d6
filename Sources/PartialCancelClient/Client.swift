import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import PartialCancelWire

/// A connection to a pcancel server: Hello on connect, then any number of concurrent calls,
/// multiplexed by call id. Safe to share between tasks.
public final class PartialCancelClient: Sendable {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        /// Empty: an anonymous connection (Health only).
        public var apiKey: String
        public var clientName: String
        public var connectTimeout: TimeAmount
        /// Deadline sent with calls that name none.
        public var defaultDeadline: TimeAmount
        /// Extra time, past a call's deadline, the client waits for the server's own answer
        /// before giving up locally (the server answers DEADLINE_EXCEEDED itself when it can).
        public var localDeadlineSlack: TimeAmount
        public var framing: FramingConfiguration
        /// TLS to the server; nil: plaintext TCP.
        public var tls: TLS?

        /// `HOST:PORT` (`[IPV6]:PORT` too; an empty host is 127.0.0.1) as host and port, or nil.
        public static func parseAddress(_ text: String) -> (host: String, port: Int)? {
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
                (1...65535).contains(port)
            else {
                return nil
            }
            var host = String(text[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            return (host.isEmpty ? "127.0.0.1" : host, port)
        }

        /// What the client trusts and presents over TLS.
        public struct TLS: Sendable, Hashable {
            /// PEM file of the CA that signed the server's certificate (nil: the system's roots).
            public var caFile: String?
            /// PEM files of a client certificate and its key, for servers that map certificates to roles.
            public var certificateFile: String?
            public var privateKeyFile: String?
            /// The name the server's certificate must carry (default: the host connected to).
            public var serverName: String?

            public init(
                caFile: String? = nil,
                certificateFile: String? = nil,
                privateKeyFile: String? = nil,
                serverName: String? = nil
            ) {
                self.caFile = caFile
                self.certificateFile = certificateFile
                self.privateKeyFile = privateKeyFile
                self.serverName = serverName
            }

            func makeContext() throws -> NIOSSLContext {
                var tls = TLSConfiguration.makeClientConfiguration()
                tls.minimumTLSVersion = .tlsv12
                if let caFile { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile)) }
                if let certificateFile, let privateKeyFile {
                    tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) }
                    tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: privateKeyFile, format: .pem))
                }
                return try NIOSSLContext(configuration: tls)
            }
        }

        public init(
            host: String = "127.0.0.1",
            port: Int = 7447,
            apiKey: String = "",
            clientName: String = "pcancel-client",
            connectTimeout: TimeAmount = .seconds(5),
            defaultDeadline: TimeAmount = .seconds(30),
            localDeadlineSlack: TimeAmount = .seconds(2),
            framing: FramingConfiguration = FramingConfiguration(),
            tls: TLS? = nil
        ) {
            self.host = host
            self.port = port
            self.apiKey = apiKey
            self.clientName = clientName
            self.connectTimeout = connectTimeout
            self.defaultDeadline = defaultDeadline
            self.localDeadlineSlack = localDeadlineSlack
            self.framing = framing
            self.tls = tls
        }
    }

    public let configuration: Configuration
    /// The server's answer to Hello: its version, limits and the role it granted.
    public let server: HelloReply
    private let channel: any Channel
    private let closedStatus: NIOLockedValueBox<Status?>
    private let nextCallID = NIOLockedValueBox<UInt64>(0)

    private init(
        configuration: Configuration,
        channel: any Channel,
        closedStatus: NIOLockedValueBox<Status?>,
        server: HelloReply
    ) {
        self.configuration = configuration
        self.channel = channel
        self.closedStatus = closedStatus
        self.server = server
    }

    /// Connects to the first of several servers (nodes of one deployment) that can be reached,
    /// trying them in order: one that cannot be reached (UNAVAILABLE) or does not answer the Hello
    /// in time passes to the next; a server's refusal of the Hello is the answer. Throws the last
    /// failure when none can be reached.
    public static func connect(
        anyOf configurations: [Configuration],
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> PartialCancelClient {
        var failure = ClientError(.invalidArgument, "no server address given", reason: .connectFailed)
        for configuration in configurations {
            do {
                return try await connect(configuration, group: group)
            } catch let error as ClientError where error.code == .unavailable || error.code == .deadlineExceeded {
                failure = error
            }
        }
        throw failure
    }

    /// Connects and says Hello. Throws `ClientError` (UNAVAILABLE when the server cannot be reached,
    /// the server's status when it refuses the Hello).
    public static func connect(
        _ configuration: Configuration,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> PartialCancelClient {
        let framing = configuration.framing
        let closedStatus = NIOLockedValueBox<Status?>(nil)
        let tlsContext: NIOSSLContext?
        do {
            tlsContext = try configuration.tls?.makeContext()
        } catch {
            throw ClientError(
                Status(.invalidArgument, "TLS settings cannot be used: \(error)", reasons: [Reason(.tlsConfiguration)])
            )
        }
        // SNI cannot carry an IP address: then the certificate is checked against the address itself.
        let named = configuration.tls?.serverName ?? configuration.host
        let serverName: String? = (try? SocketAddress(ipAddress: named, port: 0)) == nil ? named : nil
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(configuration.connectTimeout)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tlsContext {
                            try channel.pipeline.syncOperations.addHandler(
                                NIOSSLClientHandler(context: tlsContext, serverHostname: serverName)
                            )
                        }
                        try channel.pipeline.syncOperations.addFramingHandlers(framing)
                        try channel.pipeline.syncOperations.addHandler(ClientHandler(closedStatus: closedStatus))
                    }
                }
                .connect(host: configuration.host, port: configuration.port)
                .get()
        } catch {
            throw ClientError(
                Status(
                    .unavailable,
                    "cannot connect to \(configuration.host):\(configuration.port): \(Self.connectFailure(error))",
                    reasons: [Reason(.connectFailed, subject: "\(configuration.host):\(configuration.port)")]
                )
            )
        }
        let promise = channel.eventLoop.makePromise(of: HelloReply.self)
        let hello = Hello(clientName: configuration.clientName, apiKey: configuration.apiKey)
        send(.hello(hello, promise), on: channel, closedStatus: closedStatus, failing: promise)
        let timeout = channel.eventLoop.scheduleTask(in: configuration.connectTimeout) {
            promise.fail(ClientError(.deadlineExceeded, "no answer to Hello", reason: .helloTimeout))
        }
        do {
            let reply = try await promise.futureResult.get()
            timeout.cancel()
            guard reply.status.isOK else { throw ClientError(reply.status) }
            return PartialCancelClient(
                configuration: configuration,
                channel: channel,
                closedStatus: closedStatus,
                server: reply
            )
        } catch {
            timeout.cancel()
            try? await channel.close()
            throw error
        }
    }

    /// Sends one call and returns its response bytes; throws `ClientError` with the call's status.
    public func call(
        _ method: String,
        request: ByteBuffer,
        deadline: TimeAmount? = nil,
        metadata: Metadata = Metadata()
    ) async throws -> ByteBuffer {
        let (callID, future) = start(method, request: request, deadline: deadline, metadata: metadata)
        return try await withTaskCancellationHandler {
            try await future.get()
        } onCancel: {
            self.cancel(callID: callID)
        }
    }

    /// Starts a call without awaiting it: for load generators that keep many calls in flight
    /// with no task per call.
    public func start(
        _ method: String,
        request: ByteBuffer,
        deadline: TimeAmount? = nil,
        metadata: Metadata = Metadata()
    ) -> (callID: UInt64, response: EventLoopFuture<ByteBuffer>) {
        let callID = newCallID()
        let timeout = deadline ?? configuration.defaultDeadline
        let deadlineMs = UInt32(clamping: max(1, timeout.nanoseconds / 1_000_000))
        let call = Call(callID: callID, method: method, deadlineMs: deadlineMs, metadata: metadata, request: request)
        let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
        send(.call(call, localTimeout: timeout + configuration.localDeadlineSlack, promise), failing: promise)
        return (callID, promise.futureResult)
    }

    /// A unary call with typed messages.
    public func call<Request: WireMessage, Response: WireMessage>(
        _ method: String,
        _ request: Request,
        as: Response.Type = Response.self,
        deadline: TimeAmount? = nil,
        metadata: Metadata = Metadata()
    ) async throws -> Response {
        let bytes = try await call(
            method,
            request: request.encoded(allocator: channel.allocator),
            deadline: deadline,
            metadata: metadata
        )
        do {
            return try Response(decoding: bytes, limits: configuration.framing.decodingLimits, path: "response")
        } catch {
            throw ClientError(
                Status(
                    .internalError,
                    "undecodable response: \(error)",
                    reasons: [Reason(.responseMalformed, subject: error.path)]
                )
            )
        }
    }

    /// A call id not in use on this connection (never 0).
    private func newCallID() -> UInt64 {
        nextCallID.withLockedValue { id in
            id &+= 1
            if id == 0 { id = 1 }
            return id
        }
    }

    /// Starts a server-streaming call. `onItem` gets each item's bytes in order, on the
    /// connection's event loop; the future ends with the call (its final status as a
    /// `ClientError`). Without a deadline the call lasts until it ends or `cancel(callID:)`.
    public func startStream(
        _ method: String,
        request: ByteBuffer,
        deadline: TimeAmount? = nil,
        metadata: Metadata = Metadata(),
        onItem: @escaping @Sendable (ByteBuffer) -> Void
    ) -> (callID: UInt64, end: EventLoopFuture<Void>) {
        let callID = newCallID()
        let deadlineMs = deadline.map { UInt32(clamping: max(1, $0.nanoseconds / 1_000_000)) } ?? 0
        let call = Call(callID: callID, method: method, deadlineMs: deadlineMs, metadata: metadata, request: request)
        let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
        send(
            .call(call, localTimeout: deadline.map { $0 + configuration.localDeadlineSlack }, promise, onItem: onItem),
            failing: promise
        )
        return (callID, promise.futureResult.map { _ in })
    }

    /// A server-streaming call with typed messages, as an async sequence of its items. It ends
    /// when the server ends the call (throwing `ClientError` unless the status is OK); ending the
    /// iteration early cancels the call.
    public func stream<Request: WireMessage, Item: WireMessage>(
        _ method: String,
        _ request: Request,
        as: Item.Type = Item.self,
        deadline: TimeAmount? = nil,
        metadata: Metadata = Metadata()
    ) -> AsyncThrowingStream<Item, any Error> {
        let (items, continuation) = AsyncThrowingStream<Item, any Error>.makeStream()
        let limits = configuration.framing.decodingLimits
        let (callID, end) = startStream(
            method,
            request: request.encoded(allocator: channel.allocator),
            deadline: deadline,
            metadata: metadata
        ) { bytes in
            switch Result(catching: { () throws(WireDecodeError) in
                try Item(decoding: bytes, limits: limits, path: "item")
            }) {
            case .success(let item):
                continuation.yield(item)
            case .failure(let error):
                continuation.finish(
                    throwing: ClientError(
                        Status(
                            .internalError,
                            "undecodable stream item: \(error)",
                            reasons: [Reason(.responseMalformed, subject: error.path)]
                        )
                    )
                )
            }
        }
        end.whenComplete { result in
            switch result {
            case .success: continuation.finish()
            case .failure(let error): continuation.finish(throwing: error)
            }
        }
        // However the iteration ends (early, or an item that does not decode), the server stops
        // too; for a call that has already ended, the cancel is dropped.
        continuation.onTermination = { [weak self] _ in self?.cancel(callID: callID) }
        return items
    }

    private func send<T>(_ command: ClientCommand, failing promise: EventLoopPromise<T>) {
        Self.send(command, on: channel, closedStatus: closedStatus, failing: promise)
    }

    /// Writes a command; if it cannot reach the connection (already closed), its promise fails
    /// with the reason the connection closed (the server's GoAway status when it sent one) instead
    /// of waiting forever. (A promise completed twice keeps its first result.)
    private static func send<T>(
        _ command: ClientCommand,
        on channel: any Channel,
        closedStatus: NIOLockedValueBox<Status?>,
        failing promise: EventLoopPromise<T>
    ) {
        channel.writeAndFlush(command).whenFailure { error in
            let status =
                closedStatus.withLockedValue { $0 }
                ?? Status(.unavailable, "connection closed: \(error)", reasons: [Reason(.connectionClosed)])
            promise.fail(ClientError(status))
        }
    }

    /// Asks the server to stop working on a call; the call then ends with CANCELLED.
    public func cancel(callID: UInt64) {
        channel.writeAndFlush(ClientCommand.cancel(callID: callID), promise: nil)
    }

    /// Round trip of a connection-level Ping frame (no method, no authentication).
    public func pingFrame(nonce: UInt64 = .random(in: 1 ... .max)) async throws {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        send(.ping(nonce: nonce, promise), failing: promise)
        try await promise.futureResult.get()
    }

    /// `pcancel.v1.PartialCancellation/Ping`.
    public func ping(
        payload: ByteBuffer = ByteBuffer(),
        delayMs: UInt32 = 0,
        deadline: TimeAmount? = nil
    ) async throws -> PingResponse {
        try await call(
            Methods.ping,
            PingRequest(payload: payload, delayMs: delayMs),
            as: PingResponse.self,
            deadline: deadline
        )
    }

    /// `pcancel.v1.PartialCancellation/Health`.
    public func health(deadline: TimeAmount? = nil) async throws -> HealthResponse {
        try await call(Methods.health, HealthRequest(), as: HealthResponse.self, deadline: deadline)
    }

    /// Closes the connection; calls still in flight fail with UNAVAILABLE.
    public func close() async {
        try? await channel.close()
    }

    /// The connection's event loop: futures from `start` complete on it.
    public var eventLoop: any EventLoop { channel.eventLoop }

    /// Why a connection could not be made, in words (not the networking library's description).
    static func connectFailure(_ error: any Error) -> String {
        var cause: any Error = error
        if let failures = error as? NIOConnectionError {
            if failures.dnsAError != nil && failures.dnsAAAAError != nil && failures.connectionErrors.isEmpty {
                return "the host name does not resolve"
            }
            if let first = failures.connectionErrors.first { cause = first.error }
        }
        if let channelError = cause as? ChannelError, case .connectTimeout(let timeout) = channelError {
            return "no answer within \(timeout.nanoseconds / 1_000_000) ms"
        }
        if let io = cause as? IOError {
            switch io.errnoCode {
            case ECONNREFUSED: return "connection refused (no server is listening there)"
            case ETIMEDOUT: return "the connection timed out"
            case EHOSTUNREACH, ENETUNREACH: return "the host cannot be reached"
            default: return "\(String(cString: strerror(io.errnoCode))) (errno \(io.errnoCode))"
            }
        }
        return "\(cause)"
    }

    /// Completes when the connection has closed, from either side.
    public var closeFuture: EventLoopFuture<Void> { channel.closeFuture }
}

import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import PartialCancelTestSupport
import Testing

@testable import PartialCancelServer
@testable import PartialCancelWire

/// The connection protocol on an embedded channel: envelopes in, envelopes out, virtual time.
/// Serialized: `streamEnds` counts the stream ends of every test of the suite (each takes no time).
@Suite("Connection protocol", .serialized)
struct ConnectionHandlerTests {
    static let adminKey = "pck_admin_for_tests"
    static let agentKey = "pck_agent_for_tests"
    static let adminOnly = "test.Admin/Only"
    static let broken = "test.Broken/Fails"

    struct Leak: Error { let secret = "card 4111" }
    static let counting = "test.Stream/Count"
    static let streamEnds = NIOLockedValueBox(0)

    private func makeChannel(_ configure: (inout ServerLimits) -> Void = { _ in }) throws -> EmbeddedChannel {
        var limits = ServerLimits()
        configure(&limits)
        let runtime = ServerRuntime(version: "test", limits: limits)
        var methods = MethodRegistry(
            DiagnosticsService(runtime: runtime, maxPingDelayMs: limits.maxPingDelayMs, metrics: ServerMetrics())
                .methods
        )
        methods.register(
            MethodDescriptor(name: Self.adminOnly, access: .roles([.admin])) { context, bytes in
                context.eventLoop.makeSucceededFuture(bytes)
            }
        )
        methods.register(
            MethodDescriptor(name: Self.broken, access: .authenticated) { context, _ in
                context.eventLoop.makeFailedFuture(Leak())
            }
        )
        // Streams three items, then ends; or, for "forever", streams one and waits, recording how it ended.
        methods.register(
            MethodDescriptor(name: Self.counting, access: .authenticated) { context, request, stream in
                let forever = String(buffer: request) == "forever"
                stream.send(forever ? [ByteBuffer(string: "item 1")] : (1...3).map { ByteBuffer(string: "item \($0)") })
                guard forever else { return context.eventLoop.makeSucceededFuture(()) }
                let promise = context.eventLoop.makePromise(of: Void.self)
                stream.onEnd {
                    Self.streamEnds.withLockedValue { $0 += 1 }
                    promise.succeed()
                }
                return promise.futureResult
            }
        )
        let keys = try KeyStore([
            APIKey(name: "admin", role: .admin, key: Self.adminKey),
            APIKey(name: "agent", role: .agent, key: Self.agentKey),
        ])
        let handler = ConnectionHandler(
            methods: methods,
            keyStore: Reloadable(keys),
            limits: limits,
            runtime: runtime,
            metrics: ServerMetrics(),
            logger: Logger(label: "test")
        )
        let channel = EmbeddedChannel(handler: handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        return channel
    }

    private func hello(_ channel: EmbeddedChannel, key: String = adminKey) throws -> HelloReply {
        try channel.writeInbound(Envelope.hello(Hello(clientName: "test", apiKey: key)))
        guard case .helloReply(let reply)? = try channel.readOutbound(as: Envelope.self) else {
            Issue.record("no HelloReply")
            return HelloReply(status: Status(.unknown), serverVersion: "", limits: ServerLimits().announced, role: "")
        }
        return reply
    }

    private func ping(_ id: UInt64, delayMs: UInt32 = 0, deadlineMs: UInt32 = 0, payload: String = "p") -> Envelope {
        .call(
            Call(
                callID: id,
                method: Methods.ping,
                deadlineMs: deadlineMs,
                request: PingRequest(payload: ByteBuffer(string: payload), delayMs: delayMs).encoded()
            )
        )
    }

    private func replies(_ channel: EmbeddedChannel) throws -> [Reply] {
        var replies: [Reply] = []
        while let envelope = try channel.readOutbound(as: Envelope.self) {
            if case .reply(let reply) = envelope { replies.append(reply) }
        }
        return replies
    }

    private func goAway(_ channel: EmbeddedChannel) throws -> Status? {
        while let envelope = try channel.readOutbound(as: Envelope.self) {
            if case .goAway(let status) = envelope { return status }
        }
        return nil
    }

    // MARK: Streams

    private func stream(_ id: UInt64, _ body: String, deadlineMs: UInt32 = 0) -> Envelope {
        .call(Call(callID: id, method: Self.counting, deadlineMs: deadlineMs, request: ByteBuffer(string: body)))
    }

    @Test("a server stream sends its items as StreamItems, in order, then one Reply with the status")
    func streamItemsThenReply() throws {
        let channel = try makeChannel()
        _ = try hello(channel)
        try channel.writeInbound(stream(5, "three"))
        var items: [String] = []
        var reply: Reply?
        while let envelope = try channel.readOutbound(as: Envelope.self) {
            switch envelope {
            case .streamItem(let callID, let message):
                #expect(callID == 5 && reply == nil)
                items.append(String(buffer: message))
            case .reply(let r): reply = r
            default: Issue.record("unexpected \(envelope)")
            }
        }
        #expect(items == ["item 1", "item 2", "item 3"])
        #expect(reply?.callID == 5 && reply?.status.isOK == true && reply?.response.readableBytes == 0)
    }

    @Test(
        "a stream without a deadline lasts until cancelled; a cancel, a deadline or a drain ends it, and the handler hears of it"
    )
    func streamEnds() throws {
        let before = Self.streamEnds.withLockedValue { $0 }
        let channel = try makeChannel { $0.defaultDeadlineMs = 50 }
        _ = try hello(channel)
        try channel.writeInbound(stream(1, "forever"))
        try channel.writeInbound(stream(2, "forever", deadlineMs: 100))
        try channel.writeInbound(stream(3, "forever"))
        // The default deadline (50 ms) does not apply to streams.
        (channel.eventLoop as! EmbeddedEventLoop).advanceTime(by: .milliseconds(60))
        #expect(try replies(channel).isEmpty)
        (channel.eventLoop as! EmbeddedEventLoop).advanceTime(by: .milliseconds(50))
        var ended = try replies(channel)
        #expect(ended.map(\.callID) == [2] && ended.first?.status.code == .deadlineExceeded)
        try channel.writeInbound(Envelope.cancel(callID: 1))
        ended = try replies(channel)
        #expect(ended.map(\.callID) == [1] && ended.first?.status.code == .cancelled)
        channel.pipeline.fireUserInboundEventTriggered(ServerEvent.drain)
        ended = try replies(channel)
        #expect(ended.map(\.callID) == [3] && ended.first?.status.reasons.first?.code == "SHUTTING_DOWN")
        #expect(Self.streamEnds.withLockedValue { $0 } - before == 3)
    }

    // MARK: Hello

    @Test("a valid key is accepted with its role and the server's limits")
    func helloAccepted() throws {
        let channel = try makeChannel { $0.maxCallsInFlightPerConnection = 7 }
        let reply = try hello(channel)
        #expect(reply.status.isOK)
        #expect(reply.role == "admin")
        #expect(reply.limits.maxFrameBytes == 4 * 1024 * 1024)
        #expect(reply.limits.maxCallsInFlight == 7)
        #expect(channel.isActive)
    }

    @Test("an unknown key is refused with UNAUTHENTICATED and the connection closed")
    func helloUnknownKey() throws {
        let channel = try makeChannel()
        let reply = try hello(channel, key: "pck_wrong")
        #expect(reply.status.code == .unauthenticated)
        #expect(reply.status.reasons.first?.code == "API_KEY_UNKNOWN")
        #expect(!channel.isActive)
    }

    @Test("an unsupported protocol version is refused with FAILED_PRECONDITION")
    func helloVersion() throws {
        let channel = try makeChannel()
        try channel.writeInbound(Envelope.hello(Hello(protocolVersion: 2, clientName: "future", apiKey: Self.adminKey)))
        guard case .helloReply(let reply)? = try channel.readOutbound(as: Envelope.self) else {
            Issue.record("no reply")
            return
        }
        #expect(reply.status.code == .failedPrecondition)
        #expect(reply.status.reasons.first?.code == "PROTOCOL_VERSION_UNSUPPORTED")
        #expect(!channel.isActive)
    }

    @Test("anything before Hello gets a GoAway with HELLO_REQUIRED and a close")
    func helloRequired() throws {
        let channel = try makeChannel()
        try channel.writeInbound(ping(1))
        let status = try #require(try goAway(channel))
        #expect(status.code == .failedPrecondition)
        #expect(status.reasons.first?.code == "HELLO_REQUIRED")
        #expect(!channel.isActive)
    }

    @Test("a connection that never says Hello is closed after the hello timeout")
    func helloTimeout() throws {
        let channel = try makeChannel { $0.helloTimeoutMs = 500 }
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(499))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        let status = try #require(try goAway(channel))
        #expect(status.code == .deadlineExceeded)
        #expect(status.reasons.first?.code == "HELLO_TIMEOUT")
        #expect(!channel.isActive)
    }

    // MARK: Calls

    @Test("replies come as calls finish, not in the order they were made")
    func outOfOrder() throws {
        let channel = try makeChannel()
        _ = try hello(channel)
        try channel.writeInbound(ping(1, delayMs: 50, payload: "slow"))
        try channel.writeInbound(ping(2, payload: "fast"))
        #expect(try replies(channel).map(\.callID) == [2])
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(50))
        let late = try replies(channel)
        #expect(late.map(\.callID) == [1])
        let response = try PingResponse(decoding: late[0].response)
        #expect(String(buffer: response.payload) == "slow")
    }

    @Test("an unknown method gets UNIMPLEMENTED and the connection stays open")
    func unknownMethod() throws {
        let channel = try makeChannel()
        _ = try hello(channel)
        try channel.writeInbound(Envelope.call(Call(callID: 1, method: "pcancel.v1.PartialCancellation/Nope")))
        let reply = try #require(try replies(channel).first)
        #expect(reply.status.code == .unimplemented)
        #expect(
            reply.status.reasons.first
                == Reason(rawCode: "METHOD_UNKNOWN", subject: "pcancel.v1.PartialCancellation/Nope")
        )
        try channel.writeInbound(ping(2))
        #expect(try replies(channel).first?.status.isOK == true)
    }

    @Test("an anonymous connection may call Health but not Ping")
    func anonymousAccess() throws {
        let channel = try makeChannel()
        #expect(try hello(channel, key: "").role == "anonymous")
        try channel.writeInbound(Envelope.call(Call(callID: 1, method: Methods.health)))
        try channel.writeInbound(ping(2))
        let answers = try replies(channel)
        #expect(answers[0].status.isOK)
        #expect(try HealthResponse(decoding: answers[0].response).status == .serving)
        #expect(answers[1].status.code == .unauthenticated)
        #expect(answers[1].status.reasons.first?.code == "API_KEY_REQUIRED")
    }

    @Test("a role the method does not admit gets PERMISSION_DENIED")
    func wrongRole() throws {
        let channel = try makeChannel()
        #expect(try hello(channel, key: Self.agentKey).role == "agent")
        try channel.writeInbound(Envelope.call(Call(callID: 1, method: Self.adminOnly)))
        let reply = try #require(try replies(channel).first)
        #expect(reply.status.code == .permissionDenied)
        #expect(reply.status.reasons.first?.code == "ROLE_NOT_ALLOWED")
    }

    @Test("a request that does not decode gets INVALID_ARGUMENT naming the request")
    func badRequest() throws {
        let channel = try makeChannel()
        _ = try hello(channel)
        try channel.writeInbound(
            Envelope.call(Call(callID: 1, method: Methods.ping, request: ByteBuffer(bytes: [0xFF, 0xFF, 0xFF])))
        )
        let reply = try #require(try replies(channel).first)
        #expect(reply.status.code == .invalidArgument)
        #expect(reply.status.reasons.first?.subject == "request")
    }

    @Test("a ping delay over its limit is INVALID_ARGUMENT naming the field")
    func pingDelayLimit() throws {
        let channel = try makeChannel { $0.maxPingDelayMs = 100 }
        _ = try hello(channel)
        try channel.writeInbound(ping(1, delayMs: 101))
        let reply = try #require(try replies(channel).first)
        #expect(reply.status.code == .invalidArgument)
        #expect(reply.status.reasons.first?.subject == "request.delay_ms")
    }

    @Test("an unexpected error reaches the caller as a generic INTERNAL, without its details")
    func internalError() throws {
        let channel = try makeChannel()
        _ = try hello(channel)
        try channel.writeInbound(Envelope.call(Call(callID: 1, method: Self.broken)))
        let reply = try #require(try replies(channel).first)
        #expect(reply.status.code == .internalError)
        #expect(!reply.status.message.contains("4111"))
    }

    @Test("call id 0 and a call id already in flight are connection errors", arguments: [true, false])
    func badCallIDs(reuse: Bool) throws {
        let channel = try makeChannel()
        _ = try hello(channel)
        if reuse {
            try channel.writeInbound(ping(5, delayMs: 100))
            try channel.writeInbound(ping(5))
        } else {
            try channel.writeInbound(ping(0))
        }
        let status = try #require(try goAway(channel))
        #expect(status.code == .invalidArgument)
        #expect(status.reasons.first?.code == (reuse ? "CALL_ID_IN_USE" : "CALL_ID_INVALID"))
        #expect(!channel.isActive)
    }

    @Test("calls beyond the in-flight limit get RESOURCE_EXHAUSTED; the others complete")
    func inFlightLimit() throws {
        let channel = try makeChannel { $0.maxCallsInFlightPerConnection = 2 }
        _ = try hello(channel)
        for id in 1...3 { try channel.writeInbound(ping(UInt64(id), delayMs: 10)) }
        let refused = try replies(channel)
        #expect(refused.map(\.callID) == [3])
        #expect(refused[0].status.code == .resourceExhausted)
        #expect(refused[0].status.reasons.first?.code == "CALLS_IN_FLIGHT_LIMIT")
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(10))
        #expect(try replies(channel).map(\.callID).sorted() == [1, 2])
    }

    @Test("a call past its deadline gets DEADLINE_EXCEEDED once; its late result is dropped")
    func deadline() throws {
        let channel = try makeChannel()
        _ = try hello(channel)
        try channel.writeInbound(ping(1, delayMs: 1000, deadlineMs: 100))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(99))
        #expect(try replies(channel).isEmpty)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        let expired = try replies(channel)
        #expect(expired.count == 1)
        #expect(expired[0].status.code == .deadlineExceeded)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(try replies(channel).isEmpty)
    }

    @Test("a deadline longer than the maximum is shortened to it")
    func deadlineCapped() throws {
        let channel = try makeChannel {
            $0.maxDeadlineMs = 200
            $0.defaultDeadlineMs = 100
        }
        _ = try hello(channel)
        try channel.writeInbound(ping(1, delayMs: 5000, deadlineMs: 60_000))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(200))
        #expect(try replies(channel).first?.status.code == .deadlineExceeded)
    }

    @Test("a cancelled call is answered CANCELLED at once")
    func cancel() throws {
        let channel = try makeChannel()
        _ = try hello(channel)
        try channel.writeInbound(ping(1, delayMs: 1000))
        try channel.writeInbound(Envelope.cancel(callID: 1))
        let reply = try #require(try replies(channel).first)
        #expect(reply.status.code == .cancelled)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(try replies(channel).isEmpty)
    }

    @Test("a control ping gets a pong with the same nonce")
    func controlPing() throws {
        let channel = try makeChannel()
        _ = try hello(channel)
        try channel.writeInbound(Envelope.ping(nonce: 77))
        #expect(try channel.readOutbound(as: Envelope.self) == .pong(nonce: 77))
    }

    @Test("a client may not send server frames")
    func unexpectedFrame() throws {
        let channel = try makeChannel()
        _ = try hello(channel)
        try channel.writeInbound(Envelope.reply(Reply(callID: 1)))
        #expect(try goAway(channel)?.reasons.first?.code == "UNEXPECTED_FRAME")
    }

    // MARK: Ending

    @Test("draining: GoAway, new calls UNAVAILABLE, calls in flight finish, then close")
    func drain() throws {
        let channel = try makeChannel()
        _ = try hello(channel)
        try channel.writeInbound(ping(1, delayMs: 100))
        channel.pipeline.fireUserInboundEventTriggered(ServerEvent.drain)
        #expect(
            try channel.readOutbound(as: Envelope.self)
                == .goAway(Status(.unavailable, "server is shutting down", reasons: [Reason(rawCode: "SHUTTING_DOWN")]))
        )
        try channel.writeInbound(ping(2))
        let refused = try replies(channel)
        #expect(refused.map(\.callID) == [2])
        #expect(refused[0].status.code == .unavailable)
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(100))
        let finished = try replies(channel)
        #expect(finished.map(\.callID) == [1])
        #expect(finished[0].status.isOK)
        #expect(!channel.isActive)
    }

    @Test("cancelling the last call of a draining connection still answers it before the close")
    func cancelWhileDraining() throws {
        let channel = try makeChannel()
        _ = try hello(channel)
        try channel.writeInbound(ping(1, delayMs: 3000))
        channel.pipeline.fireUserInboundEventTriggered(ServerEvent.drain)
        try channel.writeInbound(Envelope.cancel(callID: 1))
        let answered = try replies(channel)
        #expect(answered.map(\.callID) == [1])
        #expect(answered.first?.status.code == .cancelled)
        #expect(!channel.isActive)
    }

    @Test("a client name over its limit is refused in the HelloReply")
    func longClientName() throws {
        let channel = try makeChannel { $0.maxClientNameBytes = 8 }
        try channel.writeInbound(Envelope.hello(Hello(clientName: "123456789", apiKey: Self.adminKey)))
        guard case .helloReply(let reply)? = try channel.readOutbound(as: Envelope.self) else {
            Issue.record("no reply")
            return
        }
        #expect(reply.status.code == .invalidArgument)
        #expect(reply.status.reasons.first?.subject == "hello.client_name")
        #expect(!channel.isActive)
    }

    @Test("an idle connection is closed after the idle timeout, a busy one is not")
    func idle() throws {
        let channel = try makeChannel {
            $0.idleTimeoutMs = 1000
            $0.maxPingDelayMs = 5000
        }
        _ = try hello(channel)
        try channel.writeInbound(ping(1, delayMs: 3000, deadlineMs: 10_000))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(2500))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(500))  // call finishes
        #expect(try replies(channel).count == 1)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(2000))
        #expect(try goAway(channel)?.reasons.first?.code == "IDLE_TIMEOUT")
        #expect(!channel.isActive)
    }

    @Test("framing errors become a GoAway with their status, then a close")
    func framingError() throws {
        let channel = try makeChannel()
        _ = try hello(channel)
        channel.pipeline.fireErrorCaught(FrameError.tooLarge(length: 9_999_999, limit: 4_194_304))
        let status = try #require(try goAway(channel))
        #expect(status.code == .resourceExhausted)
        #expect(status.reasons.first?.code == "FRAME_TOO_LARGE")
        #expect(!channel.isActive)
    }

    // MARK: Back-pressure and bounds

    private func setWritable(_ channel: EmbeddedChannel, _ writable: Bool) {
        channel.isWritable = writable
        channel.pipeline.fireChannelWritabilityChanged()
    }

    @Test("while the client takes no replies, calls read wait in order and run once it reads again")
    func backPressure() throws {
        let channel = try makeChannel()
        _ = try hello(channel)
        setWritable(channel, false)
        for id in 1...3 { try channel.writeInbound(ping(UInt64(id))) }
        #expect(try replies(channel).isEmpty)
        // A waiting call can still be cancelled.
        try channel.writeInbound(Envelope.cancel(callID: 2))
        let cancelled = try replies(channel)
        #expect(cancelled.map(\.callID) == [2] && cancelled.first?.status.code == .cancelled)
        setWritable(channel, true)
        channel.embeddedEventLoop.run()
        let answered = try replies(channel)
        #expect(answered.map(\.callID) == [1, 3])
        #expect(answered.allSatisfy { $0.status.isOK })
        #expect(channel.isActive)
    }

    @Test("a connection that stays unwritable past the write-stall timeout is closed with WRITE_STALLED")
    func writeStall() throws {
        let channel = try makeChannel { $0.writeStallTimeoutMs = 1000 }
        _ = try hello(channel)
        setWritable(channel, false)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(999))
        #expect(channel.isActive)
        // Writable again in time: the timer is off.
        setWritable(channel, true)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(5000))
        #expect(channel.isActive)
        setWritable(channel, false)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1000))
        #expect(try goAway(channel)?.reasons.first?.code == "WRITE_STALLED")
        #expect(!channel.isActive)
    }

    @Test("control pings do not keep an idle connection open")
    func pingsAreNotActivity() throws {
        let channel = try makeChannel { $0.idleTimeoutMs = 1000 }
        _ = try hello(channel)
        for nonce in 1...6 {
            channel.embeddedEventLoop.advanceTime(by: .milliseconds(400))
            guard channel.isActive else { break }
            try channel.writeInbound(Envelope.ping(nonce: UInt64(nonce)))
        }
        #expect(try goAway(channel)?.reasons.first?.code == "IDLE_TIMEOUT")
        #expect(!channel.isActive)
    }

    @Test("watches are bounded per connection; an ended watch gives its slot back")
    func watchesPerConnection() throws {
        let channel = try makeChannel { $0.maxWatchesPerConnection = 2 }
        _ = try hello(channel)
        try channel.writeInbound(stream(1, "forever"))
        try channel.writeInbound(stream(2, "forever"))
        try channel.writeInbound(stream(3, "forever"))
        let refused = try replies(channel).filter { $0.callID == 3 }
        #expect(refused.first?.status.reasons.first?.code == "WATCH_LIMIT")
        #expect(refused.first?.status.reasons.first?.subject == "max_watches_per_connection")
        try channel.writeInbound(Envelope.cancel(callID: 1))
        _ = try replies(channel)
        try channel.writeInbound(stream(4, "forever"))
        #expect(try replies(channel).filter { $0.callID == 4 }.isEmpty)  // running, not refused
    }
}

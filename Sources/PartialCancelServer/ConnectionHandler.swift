import Logging
import NIOCore
import PartialCancelWire

/// One connection's protocol: Hello first, then calls multiplexed by call id, each answered exactly
/// once (its result, DEADLINE_EXCEEDED, CANCELLED or a refusal), in whatever order they finish.
/// Runs entirely on the connection's event loop, so it needs no locks.
///
/// Back-pressure: while the channel is not writable (its queued replies passed
/// `max_outbound_buffer_bytes`), the handler asks for no more reads, and calls already read wait
/// in arrival order until the client takes its replies; a connection that stays unwritable for
/// `write_stall_timeout_ms` is closed. Its memory is thereby bounded by the outbound bound, the
/// replies of the calls already running, and one read burst.
final class ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = Envelope
    typealias OutboundIn = Envelope
    typealias OutboundOut = Envelope

    private enum State {
        case awaitingHello
        case ready
        case draining
        case closed
    }

    private let methods: MethodRegistry
    private let keyStore: Reloadable<KeyStore>
    private let limits: ServerLimits
    private let runtime: ServerRuntime
    private var logger: Logger
    private let metrics: ServerMetrics

    private var state = State.awaitingHello
    private var principal = Principal.anonymous
    private var admitted = false
    /// A call in flight: when it must be answered by, and what to say if it is not.
    private struct InFlightCall {
        var deadline: NIODeadline
        var timeoutMs: Int
        var method: String
        var started: NIODeadline
        /// Set for server-streaming calls.
        var stream: ServerStream?
    }

    /// Calls in flight; one timer, at the earliest deadline, ends overdue calls.
    private var inFlight: [UInt64: InFlightCall] = [:]
    private var deadlineTimer = EarliestDeadlineTimer()
    private var helloTimer: Scheduled<Void>?
    private var idleTimer: Scheduled<Void>?
    /// Times come from the event loop's clock (`eventLoop.now`), so tests can drive them.
    private var lastActivity = NIODeadline.uptimeNanoseconds(0)
    /// Replies written while reading are flushed once, at the end of the read burst.
    private var flushes = ReadBurstFlushes()
    /// While draining: the last write, after which the connection may close.
    private var lastDrainingWrite: EventLoopFuture<Void>?

    /// Client certificates (by fingerprint) that stand for a principal, on TLS listeners.
    private let certificatePrincipals: [String: Principal]

    /// Calls read while the connection could not take more replies, in arrival order.
    private var parked: [Call] = []
    /// A read was asked for while the connection was unwritable: issued when it drains.
    private var readHeld = false
    /// Closes the connection if it stays unwritable too long.
    private var writeStallTimer: Scheduled<Void>?

    init(
        methods: MethodRegistry,
        keyStore: Reloadable<KeyStore>,
        limits: ServerLimits,
        runtime: ServerRuntime,
        metrics: ServerMetrics,
        logger: Logger,
        certificatePrincipals: [String: Principal] = [:]
    ) {
        self.certificatePrincipals = certificatePrincipals
        self.metrics = metrics
        self.methods = methods
        self.keyStore = keyStore
        self.limits = limits
        self.runtime = runtime
        self.logger = logger
    }

    // MARK: - Channel events

    func channelActive(context: ChannelHandlerContext) {
        logger[metadataKey: "peer"] = "\(context.remoteAddress.map { "\($0)" } ?? "?")"
        switch runtime.admit(context.channel) {
        case .accepted(let evicted):
            admitted = true
            if let evicted {
                evicted.pipeline.fireUserInboundEventTriggered(ServerEvent.evict)
            }
            lastActivity = context.eventLoop.now
            let timeout = limits.helloTimeoutMs
            helloTimer = schedule(context, in: .milliseconds(Int64(timeout))) { handler, context in
                handler.goAwayAndClose(
                    context,
                    Status(
                        .deadlineExceeded,
                        "no Hello within \(timeout) ms",
                        reasons: [Reason(.helloTimeout, subject: "hello_timeout_ms", detail: "\(timeout)")]
                    )
                )
            }
        case .refused(let status):
            logger.notice("connection refused", metadata: ["reason": "\(status.reasons.first?.code ?? "")"])
            goAwayAndClose(context, status)
        case .draining:
            goAwayAndClose(context, Self.shuttingDown)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        state = .closed
        helloTimer?.cancel()
        idleTimer?.cancel()
        writeStallTimer?.cancel()
        deadlineTimer.cancel()
        parked.removeAll()
        let streams = inFlight.values.compactMap(\.stream)
        inFlight.removeAll()
        for stream in streams { stream.end() }
        if admitted {
            admitted = false
            runtime.remove(context.channel)
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard state != .closed else { return }
        flushes.readStarted()
        let envelope = unwrapInboundIn(data)
        switch envelope {
        case .hello, .call, .cancel:
            // Control pings are not activity: a connection that only pings is idle.
            lastActivity = context.eventLoop.now
        default:
            break
        }
        switch (state, envelope) {
        case (.awaitingHello, .hello(let hello)):
            handleHello(context, hello)
        case (.awaitingHello, _):
            goAwayAndClose(
                context,
                Status(
                    .failedPrecondition,
                    "the first frame must be Hello, got \(envelope.kind)",
                    reasons: [Reason(.helloRequired, subject: envelope.kind)]
                )
            )
        case (.ready, .call(let call)), (.draining, .call(let call)):
            if parked.isEmpty && context.channel.isWritable {
                handleCall(context, call)
            } else {
                parked.append(call)
            }
        case (_, .cancel(let callID)):
            if let index = parked.firstIndex(where: { $0.callID == callID }) {
                let call = parked.remove(at: index)
                refuse(
                    context,
                    call,
                    Status(.cancelled, "cancelled by the client", reasons: [Reason(.cancelledByClient)])
                )
                return
            }
            finish(
                context,
                callID: callID,
                .failure(RPCError(.cancelled, "cancelled by the client", reason: .cancelledByClient))
            )
        case (_, .ping(let nonce)):
            write(context, .pong(nonce: nonce))
        case (_, .pong):
            break
        default:
            goAwayAndClose(
                context,
                Status(
                    .invalidArgument,
                    "a client may not send \(envelope.kind) now",
                    reasons: [Reason(.unexpectedFrame, subject: envelope.kind)]
                )
            )
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushes.readComplete(context)
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            writeStallTimer?.cancel()
            writeStallTimer = nil
            // Not from inside this event: writability changes in the middle of a flush (of a read
            // burst, say), and starting calls writes and flushes again. The next tick is soon.
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.execute {
                let (handler, context) = loopBound.value
                guard handler.state != .closed, context.channel.isWritable else { return }
                handler.runParkedCalls(context)
                for stream in handler.inFlight.values.compactMap(\.stream) { stream.becameWritable() }
            }
        } else if writeStallTimer == nil, state != .closed {
            let timeout = limits.writeStallTimeoutMs
            writeStallTimer = schedule(context, in: .milliseconds(Int64(timeout))) { handler, context in
                handler.writeStallTimer = nil
                guard !context.channel.isWritable else { return }
                handler.logger.notice("closing connection: replies not read", metadata: ["timeout_ms": "\(timeout)"])
                handler.closeNow(
                    context,
                    Status(
                        .resourceExhausted,
                        "the client read no replies for \(timeout) ms",
                        reasons: [Reason(.writeStalled, subject: "write_stall_timeout_ms", detail: "\(timeout)")]
                    )
                )
            }
        }
        context.fireChannelWritabilityChanged()
    }

    /// Reads are asked for only while the connection can take replies.
    func read(context: ChannelHandlerContext) {
        if context.channel.isWritable && parked.isEmpty {
            context.read()
        } else {
            readHeld = true
        }
    }

    /// Starts the parked calls while the connection stays writable, then resumes reading.
    private func runParkedCalls(_ context: ChannelHandlerContext) {
        while !parked.isEmpty, context.channel.isWritable, state == .ready || state == .draining {
            handleCall(context, parked.removeFirst())
        }
        flushes.flushNow(context)
        if readHeld, parked.isEmpty, context.channel.isWritable, state != .closed {
            readHeld = false
            context.read()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let frameError = error as? FrameError {
            logger.info("closing connection: \(frameError)")
            goAwayAndClose(context, StatusMapping.status(for: frameError))
        } else {
            logger.debug("connection error: \(error)")
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .drain? = event as? ServerEvent {
            beginDraining(context)
        } else if case .evict? = event as? ServerEvent {
            // The runtime no longer counts this connection: it must not count it out again.
            admitted = false
            goAwayAndClose(
                context,
                Status(
                    .resourceExhausted,
                    "unauthenticated connections are at their limit and this one waited longest for Hello",
                    reasons: [Reason(.unauthenticatedConnectionEvicted, subject: "reserved_authenticated_connections")]
                )
            )
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    // MARK: - Hello

    private func handleHello(_ context: ChannelHandlerContext, _ hello: Hello) {
        helloTimer?.cancel()
        helloTimer = nil
        logger[metadataKey: "client"] = "\(hello.clientName)"
        guard hello.protocolVersion == PartialCancelWire.protocolVersion else {
            refuseHello(
                context,
                Status(
                    .failedPrecondition,
                    "protocol version \(hello.protocolVersion) is not supported; this server speaks \(PartialCancelWire.protocolVersion)",
                    reasons: [
                        Reason(
                            .protocolVersionUnsupported,
                            subject: "protocol_version",
                            detail: "\(PartialCancelWire.protocolVersion)"
                        )
                    ]
                )
            )
            return
        }
        guard hello.clientName.utf8.count <= limits.maxClientNameBytes else {
            refuseHello(
                context,
                Status(
                    .invalidArgument,
                    "client_name is longer than \(limits.maxClientNameBytes) bytes",
                    reasons: [
                        Reason(
                            .fieldTooLong,
                            subject: "hello.client_name",
                            detail: "max_client_name_bytes=\(limits.maxClientNameBytes)"
                        )
                    ]
                )
            )
            return
        }
        // No key, but a verified client certificate: the certificate is the credential.
        if hello.apiKey.isEmpty, !certificatePrincipals.isEmpty,
            let fingerprint = TLSSettings.clientCertificateFingerprint(context.pipeline.syncOperations)
        {
            guard let principal = certificatePrincipals[fingerprint] else {
                logger.notice("Hello refused: client certificate not listed")
                refuseHello(
                    context,
                    Status(
                        .unauthenticated,
                        "this client certificate is not listed in tls.client_certificates",
                        reasons: [Reason(.certificateUnknown, subject: "tls.client_certificates")]
                    )
                )
                return
            }
            accept(context, principal)
            return
        }
        guard let principal = keyStore.current.principal(for: hello.apiKey) else {
            logger.notice("Hello refused: unknown API key")
            refuseHello(
                context,
                Status(.unauthenticated, "unknown API key", reasons: [Reason(.apiKeyUnknown, subject: "api_key")])
            )
            return
        }
        accept(context, principal)
    }

    private func accept(_ context: ChannelHandlerContext, _ principal: Principal) {
        if let refusal = runtime.authenticate(context.channel, as: principal) {
            logger.notice("Hello refused: principal connection limit", metadata: ["principal": "\(principal.name)"])
            refuseHello(context, refusal)
            return
        }
        // Frames up to the full limit from now on (before Hello, and for anonymous callers, who
        // may only ask for Health, a small one).
        if principal.role != nil {
            context.triggerUserOutboundEvent(FramingEvent.authenticated, promise: nil)
        }
        self.principal = principal
        logger[metadataKey: "principal"] = "\(principal.name)"
        state = .ready
        write(
            context,
            .helloReply(HelloReply(serverVersion: runtime.version, limits: limits.announced, role: principal.roleName))
        )
        armIdleTimer(context)
    }

    private func refuseHello(_ context: ChannelHandlerContext, _ status: Status) {
        state = .closed
        let reply = HelloReply(status: status, serverVersion: runtime.version, limits: limits.announced, role: "")
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.helloReply(reply))).whenComplete { _ in channel.close(promise: nil) }
    }

    // MARK: - Calls

    private func handleCall(_ context: ChannelHandlerContext, _ call: Call) {
        let callID = call.callID
        guard callID != 0 else {
            goAwayAndClose(
                context,
                Status(
                    .invalidArgument,
                    "call_id 0 is reserved",
                    reasons: [Reason(.callIDInvalid, subject: "call.call_id")]
                )
            )
            return
        }
        guard inFlight[callID] == nil else {
            goAwayAndClose(
                context,
                Status(
                    .invalidArgument,
                    "call_id \(callID) is already in flight",
                    reasons: [Reason(.callIDInUse, subject: "call.call_id", detail: "\(callID)")]
                )
            )
            return
        }
        if state == .draining {
            refuse(context, call, Self.shuttingDown)
            return
        }
        guard inFlight.count < limits.maxCallsInFlightPerConnection else {
            let limit = limits.maxCallsInFlightPerConnection
            refuse(
                context,
                call,
                Status(
                    .resourceExhausted,
                    "too many calls in flight on this connection (limit \(limit))",
                    reasons: [
                        Reason(.callsInFlightLimit, subject: "max_calls_in_flight_per_connection", detail: "\(limit)")
                    ]
                )
            )
            return
        }
        let method: MethodDescriptor
        switch methods.method(call.method, for: principal, metadata: call.metadata) {
        case .success(let found): method = found
        case .failure(let refusal):
            refuse(context, call, refusal.status)
            return
        }
        if method.streamHandler != nil {
            let limit = limits.maxWatchesPerConnection
            guard inFlight.values.lazy.filter({ $0.stream != nil }).count < limit else {
                refuse(
                    context,
                    call,
                    Status(
                        .resourceExhausted,
                        "too many watches open on this connection (limit \(limit))",
                        reasons: [Reason(.watchLimit, subject: "max_watches_per_connection", detail: "\(limit)")]
                    )
                )
                return
            }
            if let refusal = runtime.startWatch(for: principal) {
                refuse(context, call, refusal)
                return
            }
        }

        let now = context.eventLoop.now
        let timeoutMs: Int
        let deadline: NIODeadline
        if method.streamHandler != nil && call.deadlineMs == 0 {
            // A stream lasts until the client cancels it, unless the client set a deadline.
            timeoutMs = 0
            deadline = .distantFuture
        } else {
            let requested = call.deadlineMs == 0 ? limits.defaultDeadlineMs : Int(call.deadlineMs)
            timeoutMs = method.streamHandler != nil ? requested : min(requested, limits.maxDeadlineMs)
            deadline = now + .milliseconds(Int64(timeoutMs))
        }

        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        var stream: ServerStream?
        if method.streamHandler != nil {
            let serverStream = ServerStream(
                eventLoop: context.eventLoop,
                write: { messages in
                    let (handler, context) = loopBound.value
                    handler.writeStreamItems(context, callID: callID, messages)
                },
                writable: { loopBound.value.1.channel.isWritable }
            )
            // The principal's watch slot, taken above, is given back however the stream ends.
            let runtime = self.runtime
            let principal = self.principal
            serverStream.onEnd { runtime.endWatch(for: principal) }
            stream = serverStream
        }
        inFlight[callID] = InFlightCall(
            deadline: deadline,
            timeoutMs: timeoutMs,
            method: method.name,
            started: now,
            stream: stream
        )
        armDeadlineTimer(context, at: deadline)
        let callContext = CallContext(
            callID: callID,
            method: method.name,
            principal: principal,
            metadata: call.metadata,
            deadline: deadline,
            eventLoop: context.eventLoop,
            decodingLimits: limits.decoding,
            logger: logger
        )
        if let streamHandler = method.streamHandler, let stream {
            streamHandler(callContext, call.request, stream).hop(to: context.eventLoop).whenComplete { result in
                let (handler, context) = loopBound.value
                handler.finish(context, callID: callID, result.map { ByteBuffer() })
            }
        } else {
            method.handler(callContext, call.request).hop(to: context.eventLoop).whenComplete { result in
                let (handler, context) = loopBound.value
                handler.finish(context, callID: callID, result)
            }
        }
    }

    /// Answers a call refused before it started; it counts as a call of its method (or of
    /// `(unknown)`), taking no time.
    private func refuse(_ context: ChannelHandlerContext, _ call: Call, _ status: Status) {
        reply(context, Reply(callID: call.callID, status: status))
        metrics.record(method: call.method, code: status.code, reason: status.reasons.first?.code, duration: .zero)
    }

    /// Writes a stream's items as StreamItems, then flushes (unless a read burst will).
    private func writeStreamItems(_ context: ChannelHandlerContext, callID: UInt64, _ messages: [ByteBuffer]) {
        guard inFlight[callID] != nil, state != .closed else { return }
        for message in messages {
            // Like a reply, an item must fit in a frame the client accepts.
            guard message.readableBytes <= limits.maxFrameBytes - 64 else {
                flushes.flush(context)
                return finish(
                    context,
                    callID: callID,
                    .failure(
                        RPCError(
                            .resourceExhausted,
                            "stream item of \(message.readableBytes) bytes exceeds the frame limit",
                            reason: .responseTooLarge,
                            subject: "max_frame_bytes",
                            detail: "\(limits.maxFrameBytes)"
                        )
                    )
                )
            }
            context.write(wrapOutboundOut(.streamItem(callID: callID, message: message)), promise: nil)
        }
        flushes.flush(context)
    }

    /// Ends a call once: the first of result, deadline and cancellation wins; later ones are dropped.
    private func finish(_ context: ChannelHandlerContext, callID: UInt64, _ result: Result<ByteBuffer, any Error>) {
        guard let call = inFlight.removeValue(forKey: callID) else { return }
        let now = context.eventLoop.now
        lastActivity = now  // a reply is traffic too: idleness starts now
        call.stream?.end()
        var status: Status?
        switch result {
        case .success(let response):
            // The reply must fit in a frame the client accepts; the envelope adds a few bytes.
            if response.readableBytes > limits.maxFrameBytes - 64 {
                status = Status(
                    .resourceExhausted,
                    "response of \(response.readableBytes) bytes exceeds the frame limit",
                    reasons: [Reason(.responseTooLarge, subject: "max_frame_bytes", detail: "\(limits.maxFrameBytes)")]
                )
            } else {
                reply(context, Reply(callID: callID, response: response))
            }
        case .failure(let error):
            status = StatusMapping.status(for: error)
            if status?.code == .internalError {
                logger.error("call failed: \(error)", metadata: ["call.id": "\(callID)", "method": "\(call.method)"])
            }
        }
        if let status { reply(context, Reply(callID: callID, status: status)) }
        logger.debug(
            "call finished",
            metadata: [
                "call.id": "\(callID)", "method": "\(call.method)", "status": "\(status?.code.name ?? "OK")",
                "reason": "\(status?.reasons.first?.code ?? "")",
                "ms": "\((now - call.started).nanoseconds / 1_000_000)",
            ]
        )
        metrics.record(
            method: call.method,
            code: status?.code ?? .ok,
            reason: status?.reasons.first?.code,
            duration: now - call.started
        )
        if state == .draining && inFlight.isEmpty { flushAndClose(context) }
    }

    /// Makes sure the connection's deadline timer fires by `due`.
    private func armDeadlineTimer(_ context: ChannelHandlerContext, at due: NIODeadline) {
        deadlineTimer.arm(at: due) { due in
            schedule(context, at: due) { handler, context in handler.expireOverdueCalls(context) }
        }
    }

    /// Ends every call past its deadline with DEADLINE_EXCEEDED, then waits for the next deadline.
    private func expireOverdueCalls(_ context: ChannelHandlerContext) {
        deadlineTimer.fired()
        let now = context.eventLoop.now
        let overdue = inFlight.filter { $0.value.deadline <= now }.sorted { $0.key < $1.key }
        for (callID, call) in overdue {
            finish(
                context,
                callID: callID,
                .failure(
                    RPCError(
                        .deadlineExceeded,
                        "deadline of \(call.timeoutMs) ms exceeded",
                        reason: .deadlineExceeded,
                        subject: call.method,
                        detail: "\(call.timeoutMs)"
                    )
                )
            )
        }
        if state != .closed, let next = inFlight.values.map(\.deadline).min() { armDeadlineTimer(context, at: next) }
    }

    private func reply(_ context: ChannelHandlerContext, _ reply: Reply) {
        write(context, .reply(reply))
    }

    private func write(_ context: ChannelHandlerContext, _ envelope: Envelope) {
        guard state != .closed else { return }
        if state == .draining {
            // The connection closes after its last reply: remember when that reply is out.
            let promise = context.eventLoop.makePromise(of: Void.self)
            context.write(wrapOutboundOut(envelope), promise: promise)
            lastDrainingWrite = promise.futureResult
        } else {
            context.write(wrapOutboundOut(envelope), promise: nil)
        }
        flushes.flush(context)
    }

    // MARK: - Ending

    private static let shuttingDown = Status(.unavailable, "server is shutting down", reasons: [Reason(.shuttingDown)])

    private func beginDraining(_ context: ChannelHandlerContext) {
        switch state {
        case .awaitingHello:
            goAwayAndClose(context, Self.shuttingDown)
        case .ready:
            state = .draining
            write(context, .goAway(Self.shuttingDown))
            // Calls read but not started (the client was not taking replies) never start now.
            let waiting = parked
            parked.removeAll()
            for call in waiting { refuse(context, call, Self.shuttingDown) }
            // Streams never finish by themselves: they end now, and their clients resume elsewhere.
            for callID in inFlight.filter({ $0.value.stream != nil }).keys.sorted() {
                finish(
                    context,
                    callID: callID,
                    .failure(RPCError(.unavailable, "server is shutting down", reason: .shuttingDown))
                )
            }
            if inFlight.isEmpty { flushAndClose(context) }
        case .draining, .closed:
            break
        }
    }

    /// Closes once everything written so far has been flushed: a reply written during a read
    /// burst is not lost to the close.
    private func flushAndClose(_ context: ChannelHandlerContext) {
        flushes.flushNow(context)
        let channel = context.channel
        if let lastDrainingWrite {
            lastDrainingWrite.whenComplete { _ in channel.close(promise: nil) }
        } else {
            channel.close(promise: nil)
        }
    }

    /// Tells the peer why, then closes. Used for every connection-level error.
    private func goAwayAndClose(_ context: ChannelHandlerContext, _ status: Status) {
        guard state != .closed else { return }
        state = .closed
        helloTimer?.cancel()
        idleTimer?.cancel()
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.goAway(status))).whenComplete { _ in channel.close(promise: nil) }
    }

    /// Closes at once, without waiting for queued replies to drain: the GoAway goes out behind them
    /// if the socket takes it. For a client that stopped reading.
    private func closeNow(_ context: ChannelHandlerContext, _ status: Status) {
        guard state != .closed else { return }
        state = .closed
        helloTimer?.cancel()
        idleTimer?.cancel()
        context.writeAndFlush(wrapOutboundOut(.goAway(status)), promise: nil)
        context.close(promise: nil)
    }

    /// Closes the connection once it has had no calls in flight and no traffic for the idle timeout.
    private func armIdleTimer(_ context: ChannelHandlerContext) {
        guard limits.idleTimeoutMs > 0 else { return }
        let idle = TimeAmount.milliseconds(Int64(limits.idleTimeoutMs))
        // Busy connections are re-checked no sooner than a second from now, so a long call cannot
        // make the timer spin.
        let due = max(lastActivity + idle, context.eventLoop.now + min(idle, .seconds(1)))
        idleTimer = schedule(context, at: due) { handler, context in
            guard handler.state == .ready || handler.state == .draining else { return }
            if handler.inFlight.isEmpty && context.eventLoop.now - handler.lastActivity >= idle {
                handler.goAwayAndClose(
                    context,
                    Status(
                        .unavailable,
                        "connection idle for \(handler.limits.idleTimeoutMs) ms",
                        reasons: [
                            Reason(.idleTimeout, subject: "idle_timeout_ms", detail: "\(handler.limits.idleTimeoutMs)")
                        ]
                    )
                )
            } else {
                handler.armIdleTimer(context)
            }
        }
    }

    private func schedule(
        _ context: ChannelHandlerContext,
        in delay: TimeAmount,
        _ body: @escaping (ConnectionHandler, ChannelHandlerContext) -> Void
    ) -> Scheduled<Void> {
        schedule(context, at: context.eventLoop.now + delay, body)
    }

    private func schedule(
        _ context: ChannelHandlerContext,
        at deadline: NIODeadline,
        _ body: @escaping (ConnectionHandler, ChannelHandlerContext) -> Void
    ) -> Scheduled<Void> {
        let loopBound = NIOLoopBound((self, context, body), eventLoop: context.eventLoop)
        return context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context, body) = loopBound.value
            body(handler, context)
        }
    }
}

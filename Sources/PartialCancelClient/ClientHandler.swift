import NIOConcurrencyHelpers
import NIOCore
import PartialCancelWire

/// What the client asks its connection to do. Written from any thread; handled on the event loop.
enum ClientCommand {
    case hello(Hello, EventLoopPromise<HelloReply>)
    /// A call; `localTimeout` nil waits as long as the server (streams); `onItem` receives a
    /// streaming call's items.
    case call(
        Call,
        localTimeout: TimeAmount?,
        EventLoopPromise<ByteBuffer>,
        onItem: (@Sendable (ByteBuffer) -> Void)? = nil
    )
    case cancel(callID: UInt64)
    case ping(nonce: UInt64, EventLoopPromise<Void>)
}

/// Matches replies to calls by call id. Every promise is completed exactly once: by its reply, by a
/// local timeout, or when the connection ends.
///
/// Two things keep the per-call cost low: one timer per connection, at the earliest local deadline
/// (not one per call), and flushes asked for while a read burst is being handled (calls started
/// from reply callbacks) are held until the burst ends, so one write carries them all.
final class ClientHandler: ChannelDuplexHandler {
    typealias InboundIn = Envelope
    typealias OutboundIn = ClientCommand
    typealias OutboundOut = Envelope

    private struct Pending {
        var promise: EventLoopPromise<ByteBuffer>
        var due: NIODeadline
        var onItem: (@Sendable (ByteBuffer) -> Void)?
    }

    private var pending: [UInt64: Pending] = [:]
    private var timer = EarliestDeadlineTimer()
    private var flushes = ReadBurstFlushes()
    private var pings: [UInt64: EventLoopPromise<Void>] = [:]
    private var helloPromise: EventLoopPromise<HelloReply>?
    /// Set once the server said GoAway or the connection ended: new calls fail at once with it.
    private var closedStatus: Status? {
        didSet { sharedClosedStatus.withLockedValue { $0 = closedStatus } }
    }
    /// The same, readable from any thread: for commands that can no longer reach this handler.
    private let sharedClosedStatus: NIOLockedValueBox<Status?>

    init(closedStatus: NIOLockedValueBox<Status?>) {
        self.sharedClosedStatus = closedStatus
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .hello(let hello, let replyPromise):
            if let status = closedStatus { return replyPromise.fail(ClientError(status)) }
            helloPromise = replyPromise
            context.write(wrapOutboundOut(.hello(hello)), promise: promise)
        case .call(let call, let localTimeout, let replyPromise, let onItem):
            if let status = closedStatus {
                promise?.succeed()
                return replyPromise.fail(ClientError(status))
            }
            let due = localTimeout.map { context.eventLoop.now + $0 } ?? .distantFuture
            pending[call.callID] = Pending(promise: replyPromise, due: due, onItem: onItem)
            armTimer(context, at: due)
            context.write(wrapOutboundOut(.call(call)), promise: promise)
        case .cancel(let callID):
            guard pending[callID] != nil else {
                promise?.succeed()
                return
            }
            context.write(wrapOutboundOut(.cancel(callID: callID)), promise: promise)
        case .ping(let nonce, let pongPromise):
            if let status = closedStatus { return pongPromise.fail(ClientError(status)) }
            pings[nonce] = pongPromise
            context.write(wrapOutboundOut(.ping(nonce: nonce)), promise: promise)
        }
    }

    func flush(context: ChannelHandlerContext) {
        flushes.flush(context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushes.readComplete(context)
        context.fireChannelReadComplete()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        flushes.readStarted()
        switch unwrapInboundIn(data) {
        case .helloReply(let reply):
            helloPromise?.succeed(reply)
            helloPromise = nil
        case .reply(let reply):
            guard let call = pending.removeValue(forKey: reply.callID) else { return }
            if reply.status.isOK {
                call.promise.succeed(reply.response)
            } else {
                call.promise.fail(ClientError(reply.status))
            }
        case .pong(let nonce):
            pings.removeValue(forKey: nonce)?.succeed()
        case .ping(let nonce):
            context.writeAndFlush(wrapOutboundOut(.pong(nonce: nonce)), promise: nil)
        case .goAway(let status):
            // Calls in flight still get their replies; new ones are refused locally.
            closedStatus = status
            helloPromise?.fail(ClientError(status))
            helloPromise = nil
        case .streamItem(let callID, let message):
            // Items of calls not (or no longer) expected are ignored.
            pending[callID]?.onItem?(message)
        case .hello, .call, .cancel:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let status = Status(
            .unavailable,
            "connection failed: \(Self.describe(error))",
            reasons: [Reason(.connectionError)]
        )
        failAll(status)
        context.close(promise: nil)
    }

    /// A failure in words. A "frame" far too large is most often another protocol answering: its
    /// first four bytes, read as our length prefix, tell which.
    static func describe(_ error: any Error) -> String {
        guard case .tooLarge(let length, _) = error as? FrameError else { return "\(error)" }
        let bytes = [UInt8(length >> 24), UInt8((length >> 16) & 0xFF), UInt8((length >> 8) & 0xFF)]
        if length == 0x4854_5450 {  // "HTTP"
            return
                "the server answered in HTTP, not the pcancel protocol: this is not a pcancel port (the metrics endpoint speaks HTTP)"
        }
        if (bytes[0] == 0x15 || bytes[0] == 0x16) && bytes[1] == 0x03 {  // a TLS record
            return "the server answered with TLS: connect with --tls (and --tls-ca FILE for a private CA)"
        }
        return "\(error)"
    }

    func channelInactive(context: ChannelHandlerContext) {
        var status = Status(.unavailable, "connection closed", reasons: [Reason(.connectionClosed)])
        if let goAway = closedStatus, !goAway.isOK {
            status = Status(goAway.code, "connection closed: \(goAway.message)", reasons: goAway.reasons)
        }
        failAll(status)
        context.fireChannelInactive()
    }

    private func armTimer(_ context: ChannelHandlerContext, at due: NIODeadline) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer.arm(at: due) { due in
            context.eventLoop.scheduleTask(deadline: due) {
                let (handler, context) = loopBound.value
                handler.timeOutOverdueCalls(context: context)
            }
        }
    }

    /// Fails every call past its local deadline (and tells the server to stop on it), then waits
    /// for the next deadline.
    private func timeOutOverdueCalls(context: ChannelHandlerContext) {
        timer.fired()
        let now = context.eventLoop.now
        let overdue = pending.filter { $0.value.due <= now }
        for (callID, call) in overdue {
            pending[callID] = nil
            call.promise.fail(
                ClientError(.deadlineExceeded, "no reply before the deadline", reason: .clientDeadlineExceeded)
            )
            context.write(wrapOutboundOut(.cancel(callID: callID)), promise: nil)
        }
        if !overdue.isEmpty { context.flush() }
        if let next = pending.values.map(\.due).min() { armTimer(context, at: next) }
    }

    private func failAll(_ status: Status) {
        closedStatus = closedStatus ?? status
        let error = ClientError(status)
        helloPromise?.fail(error)
        helloPromise = nil
        let calls = pending
        pending.removeAll()
        timer.cancel()
        for call in calls.values { call.promise.fail(error) }
        let waiting = pings
        pings.removeAll()
        for ping in waiting.values { ping.fail(error) }
    }
}

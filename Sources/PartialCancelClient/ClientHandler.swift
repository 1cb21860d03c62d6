import NIOConcurrencyHelpers
import NIOCore
import PartialCancelWire

/// What the client asks its connection to do. Written from any thread; handled on the event loop.
enum ClientCommand {
    case hello(Hello, EventLoopPromise<HelloReply>)
    case call(Call, localTimeout: TimeAmount, EventLoopPromise<ByteBuffer>)
    case cancel(callID: UInt64)
    case ping(nonce: UInt64, EventLoopPromise<Void>)
}

/// Matches replies to calls by call id. Every promise is completed exactly once: by its reply, by a
/// local timeout, or when the connection ends.
final class ClientHandler: ChannelDuplexHandler {
    typealias InboundIn = Envelope
    typealias OutboundIn = ClientCommand
    typealias OutboundOut = Envelope

    private struct Pending {
        var promise: EventLoopPromise<ByteBuffer>
        var timer: Scheduled<Void>?
    }

    private var pending: [UInt64: Pending] = [:]
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
        case .call(let call, let localTimeout, let replyPromise):
            if let status = closedStatus {
                promise?.succeed()
                return replyPromise.fail(ClientError(status))
            }
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let callID = call.callID
            let timer = context.eventLoop.scheduleTask(in: localTimeout) {
                let (handler, context) = loopBound.value
                handler.timeOut(context: context, callID: callID)
            }
            pending[callID] = Pending(promise: replyPromise, timer: timer)
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

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .helloReply(let reply):
            helloPromise?.succeed(reply)
            helloPromise = nil
        case .reply(let reply):
            guard let call = pending.removeValue(forKey: reply.callID) else { return }
            call.timer?.cancel()
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
        case .streamItem, .hello, .call, .cancel:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let status = Status(.unavailable, "connection failed: \(error)", reasons: [Reason("CONNECTION_ERROR")])
        failAll(status)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        var status = Status(.unavailable, "connection closed", reasons: [Reason("CONNECTION_CLOSED")])
        if let goAway = closedStatus, !goAway.isOK {
            status = Status(goAway.code, "connection closed: \(goAway.message)", reasons: goAway.reasons)
        }
        failAll(status)
        context.fireChannelInactive()
    }

    private func timeOut(context: ChannelHandlerContext, callID: UInt64) {
        guard let call = pending.removeValue(forKey: callID) else { return }
        call.promise.fail(ClientError(.deadlineExceeded, "no reply before the deadline", reason: "CLIENT_DEADLINE_EXCEEDED"))
        context.writeAndFlush(wrapOutboundOut(.cancel(callID: callID)), promise: nil)
    }

    private func failAll(_ status: Status) {
        closedStatus = closedStatus ?? status
        let error = ClientError(status)
        helloPromise?.fail(error)
        helloPromise = nil
        let calls = pending
        pending.removeAll()
        for call in calls.values {
            call.timer?.cancel()
            call.promise.fail(error)
        }
        let waiting = pings
        pings.removeAll()
        for ping in waiting.values { ping.fail(error) }
    }
}

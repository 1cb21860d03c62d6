import NIOConcurrencyHelpers
import NIOCore

/// Framing failures. Each one ends the connection: after it, frame boundaries cannot be trusted.
public enum FrameError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The length prefix exceeds the configured maximum; refused before any byte of the body is buffered.
    case tooLarge(length: UInt32, limit: Int)
    /// A zero length prefix: a frame always carries one envelope, and an empty envelope is not one.
    case empty
    /// Part of a frame arrived, then nothing more for `timeout`.
    case stalled(bufferedBytes: Int, timeout: TimeAmount)
    /// A complete frame whose bytes are not a valid envelope.
    case undecodable(WireDecodeError)
    /// Holding this connection's partial frame would take the server's inbound buffers past their
    /// shared budget (`limit` bytes across all connections).
    case budgetExhausted(bufferedBytes: Int, limit: Int)
    /// A length prefix over the smaller bound that holds until the peer has authenticated.
    case tooLargeBeforeAuthentication(length: UInt32, limit: Int)

    public var description: String {
        switch self {
        case .tooLarge(let length, let limit): "frame length \(length) exceeds the limit of \(limit) bytes"
        case .empty: "frame length 0 is not allowed"
        case .stalled(let buffered, let timeout):
            "incomplete frame (\(buffered) bytes) stalled for \(timeout.nanoseconds / 1_000_000) ms"
        case .undecodable(let error): "undecodable envelope: \(error)"
        case .tooLargeBeforeAuthentication(let length, let limit):
            "frame of \(length) bytes before Hello exceeds the limit of \(limit) bytes for unauthenticated connections"
        case .budgetExhausted(let buffered, let limit):
            "holding \(buffered) more bytes of a partial frame would exceed the server's inbound buffer budget of \(limit) bytes"
        }
    }
}

/// The largest frame a decoder accepts now. A reference, so that the connection can raise it once
/// the peer has authenticated (a Hello is tiny; only then may frames be as large as the limit),
/// and the decoder sees the new bound from the very next frame of the same read. Used on the
/// channel's event loop only.
public final class FrameSizeLimit {
    public private(set) var current: Int
    /// The bound after `raise()`.
    public let full: Int

    /// - Parameters:
    ///   - initial: the bound until `raise()` (at most `full`).
    ///   - full: the bound afterwards.
    public init(initial: Int, full: Int) {
        self.current = min(initial, full)
        self.full = full
    }

    public convenience init(_ bytes: Int) { self.init(initial: bytes, full: bytes) }

    /// From now on frames up to `full` bytes are accepted.
    public func raise() { current = full }
}

/// Splits a byte stream into frames: a 4-byte unsigned big-endian length L, then L bytes.
/// The length is checked against the limit as soon as its four bytes are in, before any of the
/// body is buffered.
public struct FrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    public static let lengthFieldBytes = 4
    public let limit: FrameSizeLimit
    public var maximumFrameBytes: Int { limit.current }

    public init(maximumFrameBytes: Int) {
        self.limit = FrameSizeLimit(maximumFrameBytes)
    }

    public init(limit: FrameSizeLimit) {
        self.limit = limit
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> ByteBuffer? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt32.self) else {
            return nil
        }
        if length == 0 { throw FrameError.empty }
        let maximumFrameBytes = limit.current
        if UInt64(length) > UInt64(maximumFrameBytes) {
            throw maximumFrameBytes < limit.full
                ? FrameError.tooLargeBeforeAuthentication(length: length, limit: maximumFrameBytes)
                : FrameError.tooLarge(length: length, limit: maximumFrameBytes)
        }
        guard buffer.readableBytes >= Self.lengthFieldBytes + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: Self.lengthFieldBytes)
        return buffer.readSlice(length: Int(length))
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> ByteBuffer? {
        try decode(buffer: &buffer)
    }
}

/// The framing settings both ends use.
public struct FramingConfiguration: Sendable {
    /// Largest frame accepted from the peer.
    public var maxFrameBytes: Int
    /// Largest frame accepted before the connection's `FramingEvent.authenticated` (nil: no
    /// smaller bound). Keeps unauthenticated peers from parking megabytes of partial frames.
    public var maxFrameBytesBeforeAuthentication: Int?
    /// The server-wide budget for partial frames held across connections (nil: none).
    public var inboundBudget: InboundBudget?
    /// How long a partly received frame may wait for its next byte. Protects against peers that send
    /// half a frame and go quiet, holding a buffer and a connection slot forever.
    public var frameStallTimeout: TimeAmount
    /// Bounds applied to every decoded envelope.
    public var decodingLimits: DecodingLimits

    public init(
        maxFrameBytes: Int = 4 * 1024 * 1024,
        frameStallTimeout: TimeAmount = .seconds(10),
        decodingLimits: DecodingLimits = .default,
        maxFrameBytesBeforeAuthentication: Int? = nil,
        inboundBudget: InboundBudget? = nil
    ) {
        self.maxFrameBytes = maxFrameBytes
        self.maxFrameBytesBeforeAuthentication = maxFrameBytesBeforeAuthentication
        self.inboundBudget = inboundBudget
        self.frameStallTimeout = frameStallTimeout
        self.decodingLimits = decodingLimits
    }
}

/// Bytes of partial frames held by all of a server's connections, against one bound. A connection
/// reserves what it holds after each read and gives it back as frames complete or it closes; a
/// read that would take the total past the bound fails that connection (`FrameError.budgetExhausted`)
/// instead of growing the server's memory. Shared by every connection (a lock per read).
public final class InboundBudget: Sendable {
    public let limit: Int
    private let used = NIOLockedValueBox(0)

    public init(limit: Int) { self.limit = limit }

    /// Bytes held now, across connections.
    public var inUse: Int { used.withLockedValue { $0 } }

    /// Takes `bytes` more; false (and nothing taken) when that would exceed the limit.
    public func reserve(_ bytes: Int) -> Bool {
        used.withLockedValue { used in
            guard used + bytes <= limit else { return false }
            used += bytes
            return true
        }
    }

    public func release(_ bytes: Int) {
        guard bytes > 0 else { return }
        used.withLockedValue { $0 = max(0, $0 - bytes) }
    }
}

/// Outbound user events the framing handler understands.
public enum FramingEvent: Sendable {
    /// The peer has authenticated: frames up to the full limit are accepted from now on.
    case authenticated
}

/// Turns bytes into `Envelope`s and `Envelope`s into framed bytes. Framing errors are fired down the
/// pipeline as `FrameError` (once; input after an error is ignored), for the next handler to answer
/// and close.
public final class EnvelopeFramingHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = Envelope
    public typealias OutboundIn = Envelope
    public typealias OutboundOut = ByteBuffer

    private let configuration: FramingConfiguration
    private let processor: NIOSingleStepByteToMessageProcessor<FrameDecoder>
    private let frameLimit: FrameSizeLimit
    private var failed = false
    private var stallTimer: Scheduled<Void>?
    /// Bytes of this connection's partial frame reserved from the inbound budget.
    private var reserved = 0

    public init(configuration: FramingConfiguration) {
        self.configuration = configuration
        let limit = FrameSizeLimit(
            initial: configuration.maxFrameBytesBeforeAuthentication ?? configuration.maxFrameBytes,
            full: configuration.maxFrameBytes
        )
        self.frameLimit = limit
        self.processor = NIOSingleStepByteToMessageProcessor(FrameDecoder(limit: limit))
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        let bytes = unwrapInboundIn(data)
        do {
            try processor.process(buffer: bytes) { frame in
                guard !failed else { return }
                do throws(WireDecodeError) {
                    let envelope = try Envelope(decodingFrame: frame, limits: configuration.decodingLimits)
                    context.fireChannelRead(wrapInboundOut(envelope))
                } catch {
                    fail(context: context, .undecodable(error))
                }
            }
        } catch let error as FrameError {
            fail(context: context, error)
        } catch {
            fail(context: context, .undecodable(WireDecodeError(.malformed, path: "frame", "\(error)")))
        }
        accountBufferedBytes(context: context)
        armStallTimer(context: context)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        stallTimer?.cancel()
        stallTimer = nil
        releaseReserved()
        context.fireChannelInactive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        stallTimer?.cancel()
        stallTimer = nil
        releaseReserved()
    }

    public func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        if case .authenticated? = event as? FramingEvent {
            frameLimit.raise()
            promise?.succeed()
        } else {
            context.triggerUserOutboundEvent(event, promise: promise)
        }
    }

    /// Keeps this connection's reservation equal to the partial frame it holds.
    private func accountBufferedBytes(context: ChannelHandlerContext) {
        guard let budget = configuration.inboundBudget else { return }
        let buffered = failed ? 0 : processor.unprocessedBytes
        if buffered > reserved {
            guard budget.reserve(buffered - reserved) else {
                fail(context: context, .budgetExhausted(bufferedBytes: buffered - reserved, limit: budget.limit))
                releaseReserved()
                return
            }
        } else {
            budget.release(reserved - buffered)
        }
        reserved = buffered
    }

    private func releaseReserved() {
        configuration.inboundBudget?.release(reserved)
        reserved = 0
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let (head, payload) = unwrapOutboundIn(data).framedParts(allocator: context.channel.allocator)
        guard let payload else {
            context.write(wrapOutboundOut(head), promise: promise)
            return
        }
        // A large payload leaves as it is, right after its head (one vectored write when flushed).
        context.write(wrapOutboundOut(head), promise: nil)
        context.write(wrapOutboundOut(payload), promise: promise)
    }

    private func fail(context: ChannelHandlerContext, _ error: FrameError) {
        guard !failed else { return }
        failed = true
        stallTimer?.cancel()
        stallTimer = nil
        context.fireErrorCaught(error)
    }

    /// A partial frame starts (or restarts, on every read that leaves one) the stall clock.
    private func armStallTimer(context: ChannelHandlerContext) {
        stallTimer?.cancel()
        stallTimer = nil
        let buffered = processor.unprocessedBytes
        guard !failed, buffered > 0 else { return }
        let timeout = configuration.frameStallTimeout
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        stallTimer = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = loopBound.value
            handler.fail(
                context: context,
                .stalled(bufferedBytes: handler.processor.unprocessedBytes, timeout: timeout)
            )
        }
    }
}

extension ChannelPipeline.SynchronousOperations {
    /// Installs the framing used by the server, the client and the tests: bytes in, `Envelope`s out.
    public func addFramingHandlers(_ configuration: FramingConfiguration) throws {
        try addHandler(EnvelopeFramingHandler(configuration: configuration))
    }
}

/// Holds the flushes asked for while a read burst is being handled and does one when it ends, so
/// that everything written from read callbacks (replies on the server, calls started from reply
/// callbacks on the client) leaves in one write. Used on the channel's event loop only.
public struct ReadBurstFlushes {
    private var reading = false
    private var pending = false

    public init() {}

    /// A read arrived: flushes wait for the burst to end.
    public mutating func readStarted() { reading = true }

    /// Flushes now, or at the end of the current read burst.
    public mutating func flush(_ context: ChannelHandlerContext) {
        if reading { pending = true } else { context.flush() }
    }

    /// The burst ended: the held flush, if any, happens now.
    public mutating func readComplete(_ context: ChannelHandlerContext) {
        reading = false
        if pending { flushNow(context) }
    }

    /// Flushes at once, whatever is held (before a close).
    public mutating func flushNow(_ context: ChannelHandlerContext) {
        pending = false
        context.flush()
    }
}

/// One timer per connection, at the earliest deadline of its calls in flight: a timer per call
/// would cost a heap insertion and removal on every call. When it fires, its owner ends the calls
/// that are due and arms it again for the next deadline. Used on the channel's event loop only.
public struct EarliestDeadlineTimer {
    private var armed: (due: NIODeadline, scheduled: Scheduled<Void>)?

    public init() {}

    /// Makes sure the timer fires no later than `due` (`.distantFuture`: no timer is needed).
    /// `schedule` makes the timer for a deadline; it runs only when the timer must move earlier.
    public mutating func arm(at due: NIODeadline, _ schedule: (NIODeadline) -> Scheduled<Void>) {
        guard due != .distantFuture else { return }
        if let armed, armed.due <= due { return }
        armed?.scheduled.cancel()
        armed = (due, schedule(due))
    }

    /// The timer has fired: the next `arm` schedules a new one.
    public mutating func fired() {
        armed = nil
    }

    public mutating func cancel() {
        armed?.scheduled.cancel()
        armed = nil
    }
}

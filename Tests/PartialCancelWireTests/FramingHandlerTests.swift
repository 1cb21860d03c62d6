import NIOCore
import NIOEmbedded
import Testing

@testable import PartialCancelWire

/// Records what the framing handler passes on.
private final class Recorder: ChannelInboundHandler {
    typealias InboundIn = Envelope
    var envelopes: [Envelope] = []
    var errors: [any Error] = []
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { envelopes.append(unwrapInboundIn(data)) }
    func errorCaught(context: ChannelHandlerContext, error: any Error) { errors.append(error) }
}

@Suite("Envelope framing handler")
struct FramingHandlerTests {
    private func setUp(
        maxFrameBytes: Int = 1024,
        stall: TimeAmount = .seconds(10)
    ) throws -> (EmbeddedChannel, Recorder) {
        let channel = EmbeddedChannel()
        let recorder = Recorder()
        try channel.pipeline.syncOperations.addFramingHandlers(
            FramingConfiguration(maxFrameBytes: maxFrameBytes, frameStallTimeout: stall)
        )
        try channel.pipeline.syncOperations.addHandler(recorder)
        return (channel, recorder)
    }

    private func framed(_ envelope: Envelope) -> ByteBuffer {
        var buffer = ByteBuffer()
        envelope.encode(into: &buffer, framed: true)
        return buffer
    }

    @Test("bytes in become envelopes, one byte at a time or all at once")
    func decodesEnvelopes() throws {
        let (channel, recorder) = try setUp()
        var all = framed(.ping(nonce: 1))
        all.writeImmutableBuffer(framed(.cancel(callID: 9)))
        while let byte = all.readSlice(length: 1) { try channel.writeInbound(byte) }
        #expect(recorder.envelopes == [.ping(nonce: 1), .cancel(callID: 9)])
        #expect(recorder.errors.isEmpty)
    }

    @Test("envelopes written out become framed bytes")
    func encodesEnvelopes() throws {
        let (channel, _) = try setUp()
        try channel.writeOutbound(Envelope.pong(nonce: 3))
        let bytes = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(bytes == framed(.pong(nonce: 3)))
    }

    @Test("an oversize length is reported once and later input is ignored")
    func oversize() throws {
        let (channel, recorder) = try setUp(maxFrameBytes: 16)
        try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 17]))
        try channel.writeInbound(framed(.ping(nonce: 1)))
        #expect(recorder.errors.count == 1)
        #expect(recorder.errors.first as? FrameError == .tooLarge(length: 17, limit: 16))
        #expect(recorder.envelopes.isEmpty)
    }

    @Test("before authentication only a small frame is accepted; afterwards the full limit holds")
    func smallFramesBeforeAuthentication() throws {
        let configuration = FramingConfiguration(maxFrameBytes: 4096, maxFrameBytesBeforeAuthentication: 64)
        let early = EmbeddedChannel()
        let earlyRecorder = Recorder()
        try early.pipeline.syncOperations.addFramingHandlers(configuration)
        try early.pipeline.syncOperations.addHandler(earlyRecorder)
        // A length of 65 is refused at its fourth byte, before any body is buffered.
        try early.writeInbound(ByteBuffer(bytes: [0, 0, 0, 65]))
        #expect(earlyRecorder.errors.first as? FrameError == .tooLargeBeforeAuthentication(length: 65, limit: 64))

        let late = EmbeddedChannel()
        let lateRecorder = Recorder()
        try late.pipeline.syncOperations.addFramingHandlers(configuration)
        try late.pipeline.syncOperations.addHandler(lateRecorder)
        late.pipeline.triggerUserOutboundEvent(FramingEvent.authenticated, promise: nil)
        var big = ByteBuffer()
        big.writeInteger(UInt32(1000))
        big.writeRepeatingByte(0, count: 1000)
        try late.writeInbound(big)
        guard case .undecodable? = lateRecorder.errors.first as? FrameError else {
            Issue.record("a 1000-byte frame after authentication should reach the decoder, got \(lateRecorder.errors)")
            return
        }
    }

    @Test("partial frames of all connections share one budget, given back when a connection closes")
    func sharedInboundBudget() throws {
        let budget = InboundBudget(limit: 1000)
        let configuration = FramingConfiguration(maxFrameBytes: 4096, inboundBudget: budget)
        func partialFrame(holding bytes: Int) -> ByteBuffer {
            var buffer = ByteBuffer()
            buffer.writeInteger(UInt32(4000))
            buffer.writeRepeatingByte(7, count: bytes - 4)
            return buffer
        }
        let first = EmbeddedChannel()
        let firstRecorder = Recorder()
        try first.pipeline.syncOperations.addFramingHandlers(configuration)
        try first.pipeline.syncOperations.addHandler(firstRecorder)
        try first.writeInbound(partialFrame(holding: 600))
        #expect(budget.inUse == 600)
        #expect(firstRecorder.errors.isEmpty)

        let second = EmbeddedChannel()
        let secondRecorder = Recorder()
        try second.pipeline.syncOperations.addFramingHandlers(configuration)
        try second.pipeline.syncOperations.addHandler(secondRecorder)
        try second.writeInbound(partialFrame(holding: 600))
        #expect(secondRecorder.errors.first as? FrameError == .budgetExhausted(bufferedBytes: 600, limit: 1000))
        #expect(budget.inUse == 600)

        _ = try first.finish()
        #expect(budget.inUse == 0)
        let third = EmbeddedChannel()
        let thirdRecorder = Recorder()
        try third.pipeline.syncOperations.addFramingHandlers(configuration)
        try third.pipeline.syncOperations.addHandler(thirdRecorder)
        try third.writeInbound(partialFrame(holding: 600))
        #expect(thirdRecorder.errors.isEmpty)
        // A completed frame gives its bytes back.
        var rest = ByteBuffer()
        rest.writeRepeatingByte(7, count: 3404)
        try third.writeInbound(rest)
        #expect(budget.inUse == 0)
    }

    @Test("a frame that is not an envelope is reported as undecodable")
    func undecodable() throws {
        let (channel, recorder) = try setUp()
        try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 5, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]))
        guard case .undecodable? = recorder.errors.first as? FrameError else {
            Issue.record("expected undecodable, got \(recorder.errors)")
            return
        }
    }

    @Test("half a frame followed by silence is reported after the stall timeout, not before")
    func stall() throws {
        let (channel, recorder) = try setUp(stall: .seconds(2))
        try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 10, 1, 2]))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1500))
        try channel.writeInbound(ByteBuffer(bytes: [3]))  // progress restarts the clock
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1500))
        #expect(recorder.errors.isEmpty)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(600))
        #expect(recorder.errors.first as? FrameError == .stalled(bufferedBytes: 7, timeout: .seconds(2)))
    }

    @Test("a connection between frames is never reported as stalled")
    func noStallBetweenFrames() throws {
        let (channel, recorder) = try setUp(stall: .seconds(1))
        try channel.writeInbound(framed(.ping(nonce: 1)))
        channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(recorder.errors.isEmpty)
    }
}

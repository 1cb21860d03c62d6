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
    private func setUp(maxFrameBytes: Int = 1024, stall: TimeAmount = .seconds(10)) throws -> (EmbeddedChannel, Recorder) {
        let channel = EmbeddedChannel()
        let recorder = Recorder()
        try channel.pipeline.syncOperations.addFramingHandlers(FramingConfiguration(maxFrameBytes: maxFrameBytes, frameStallTimeout: stall))
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

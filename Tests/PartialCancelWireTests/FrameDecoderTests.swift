import NIOCore
import NIOTestUtils
import Testing

@testable import PartialCancelWire

@Suite("Frame decoder")
struct FrameDecoderTests {
    private func frame(_ body: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(body.count), endianness: .big)
        buffer.writeBytes(body)
        return buffer
    }

    @Test("splits any byte stream into the frames it carries, however the bytes arrive")
    func verifier() throws {
        let bodies: [[UInt8]] = [[1], [1, 2, 3], Array(repeating: 7, count: 300), [0xFF, 0, 0xFF]]
        let cases = bodies.map { (frame($0), [ByteBuffer(bytes: $0)]) }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: cases) {
            FrameDecoder(maximumFrameBytes: 1024)
        }
    }

    @Test("decodes several frames from one buffer and waits for the rest of a partial one")
    func severalAndPartial() throws {
        var decoder = FrameDecoder(maximumFrameBytes: 100)
        var buffer = frame([1, 2])
        buffer.writeImmutableBuffer(frame([3]))
        buffer.writeBytes([0, 0, 0, 5, 9, 9])  // 2 of 5 body bytes
        #expect(try decoder.decode(buffer: &buffer) == ByteBuffer(bytes: [1, 2]))
        #expect(try decoder.decode(buffer: &buffer) == ByteBuffer(bytes: [3]))
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(buffer.readableBytes == 6)
        buffer.writeBytes([9, 9, 9])
        #expect(try decoder.decode(buffer: &buffer) == ByteBuffer(bytes: [9, 9, 9, 9, 9]))
    }

    @Test(
        "a length over the maximum is refused from its four bytes alone",
        arguments: [UInt32(1025), 4_194_305, 0xFFFF_FFFF]
    )
    func oversize(length: UInt32) {
        var decoder = FrameDecoder(maximumFrameBytes: 1024)
        var buffer = ByteBuffer()
        buffer.writeInteger(length, endianness: .big)
        #expect(throws: FrameError.tooLarge(length: length, limit: 1024)) { try decoder.decode(buffer: &buffer) }
    }

    @Test("a length equal to the maximum is accepted")
    func exactlyMaximum() throws {
        var decoder = FrameDecoder(maximumFrameBytes: 8)
        var buffer = frame(Array(repeating: 1, count: 8))
        #expect(try decoder.decode(buffer: &buffer)?.readableBytes == 8)
    }

    @Test("a zero length is a protocol error")
    func zeroLength() {
        var decoder = FrameDecoder(maximumFrameBytes: 1024)
        var buffer = ByteBuffer(bytes: [0, 0, 0, 0])
        #expect(throws: FrameError.empty) { try decoder.decode(buffer: &buffer) }
    }

    @Test("fewer than four bytes decode nothing yet")
    func truncatedLength() throws {
        var decoder = FrameDecoder(maximumFrameBytes: 1024)
        var buffer = ByteBuffer(bytes: [0, 0, 1])
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(try decoder.decodeLast(buffer: &buffer, seenEOF: true) == nil)
    }
}

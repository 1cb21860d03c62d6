import NIOCore
import Testing

@testable import PartialCancelWire

/// The large-frame decode: a call's request and a reply's response are slices of the frame, and
/// the value is exactly what protobuf-c's plain decode gives, for valid and broken input alike.
@Suite("Payload slicing")
struct PayloadSlicingTests {
    static let large = ByteBuffer(bytes: (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })

    static func bytes(_ envelope: Envelope) -> [UInt8] { Array(envelope.encoded().readableBytesView) }

    /// A field encoded by hand: tag, then the payload of a length-delimited field.
    static func field(_ number: UInt64, _ payload: [UInt8]) -> [UInt8] {
        var buffer = ByteBuffer()
        WireField.writeVarint(number << 3 | 2, into: &buffer)
        WireField.writeVarint(UInt64(payload.count), into: &buffer)
        buffer.writeBytes(payload)
        return Array(buffer.readableBytesView)
    }

    static func expectSame(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
        let frame = ByteBuffer(bytes: bytes)
        let plain = Result { () throws(WireDecodeError) in try Envelope(decoding: frame) }
        let sliced = Result { () throws(WireDecodeError) in try Envelope(decodingFrame: frame, sliceThreshold: 0) }
        switch (plain, sliced) {
        case (.success(let a), .success(let b)): #expect(a == b, sourceLocation: sourceLocation)
        case (.failure, .failure): break
        default: Issue.record("plain \(plain) but sliced \(sliced)", sourceLocation: sourceLocation)
        }
    }

    @Test("a large call's request and a large reply's response share the frame's storage")
    func sharesStorage() throws {
        let call = Envelope.call(
            Call(callID: 7, method: Methods.ping, deadlineMs: 9, metadata: Metadata(traceID: "t"), request: Self.large)
        )
        let reply = Envelope.reply(Reply(callID: 8, response: Self.large))
        for envelope in [call, reply] {
            let frame = envelope.encoded()
            let decoded = try Envelope(decodingFrame: frame)
            #expect(decoded == envelope)
            let payload: ByteBuffer
            switch decoded {
            case .call(let call): payload = call.request
            case .reply(let reply): payload = reply.response
            default:
                Issue.record("decoded as \(decoded.kind)")
                continue
            }
            let frameRange = frame.withUnsafeReadableBytes {
                UInt(bitPattern: $0.baseAddress!)..<UInt(bitPattern: $0.baseAddress! + $0.count)
            }
            let start = payload.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress!) }
            #expect(frameRange.contains(start), "the payload is a slice of the frame, not a copy")
        }
    }

    @Test("small frames and every codec envelope decode the same on both paths")
    func sameAsPlain() {
        for envelope in CodecTests.envelopes { Self.expectSame(Self.bytes(envelope)) }
        Self.expectSame(Self.bytes(.call(Call(callID: 1, method: Methods.ping, request: Self.large))))
    }

    @Test(
        "repeated and replaced bodies, payloads of the wrong wire type, unknown fields and truncation decode as protobuf-c does"
    )
    func edgeCases() {
        let first = Self.bytes(.call(Call(callID: 1, method: "a/b", request: ByteBuffer(bytes: [1, 2, 3]))))
        let second = Self.bytes(.call(Call(callID: 2, method: "c/d")))
        let hello = Self.bytes(.hello(Hello(clientName: "x")))
        let reply = Self.bytes(.reply(Reply(callID: 3, response: ByteBuffer(bytes: [4]))))
        let cases: [[UInt8]] = [
            first + second,  // two calls: the second replaces the first (a oneof does not merge)
            second + first,
            first + hello,  // a later body replaces the call
            hello + first,
            first + reply,
            first + reply + first,  // call, reply, call: the reply dropped the first call
            first + hello + second,
            Self.field(3, [0x28, 0x01]),  // Call.request as a varint: refused
            Self.field(3, Self.field(5, [9]) + Self.field(5, [8, 8])),  // the last request wins
            Self.field(3, Self.field(5, [9]) + [0x10, 0x01]),  // a method as a varint
            Self.field(3, Self.field(99, [1, 2]) + Self.field(5, [7])),  // an unknown field in the call
            Self.field(3, [0x2A, 0x05, 1]),  // a request longer than what is left
            Self.field(4, Self.field(3, [5]) + Self.field(2, [])),  // a reply with an empty status
            Self.field(3, []),
            [0x1A],
            [],
        ]
        for bytes in cases { Self.expectSame(bytes) }
    }

    @Test("thousands of corrupted envelopes decode alike on both paths")
    func corrupted() {
        var random = SystemRandomNumberGenerator()
        let seeds =
            CodecTests.envelopes.map(Self.bytes) + [
                Self.bytes(
                    .call(Call(callID: 4, method: "m", request: ByteBuffer(bytes: Array(repeating: 0x5A, count: 300))))
                )
            ]
        for _ in 0..<5_000 {
            var bytes = seeds.randomElement(using: &random)!
            switch Int.random(in: 0..<3, using: &random) {
            case 0 where !bytes.isEmpty:
                bytes[Int.random(in: 0..<bytes.count, using: &random)] ^= UInt8.random(in: 1 ... .max, using: &random)
            case 1 where !bytes.isEmpty: bytes.removeLast(Int.random(in: 1...bytes.count, using: &random))
            default: bytes += seeds.randomElement(using: &random)!
            }
            Self.expectSame(bytes)
        }
    }

    @Test("a framed envelope written as head and payload is byte for byte the plain framed encoding")
    func framedParts() {
        let status = Status(.invalidArgument, "no", reasons: [Reason(rawCode: "X", subject: "s")])
        var envelopes = CodecTests.envelopes
        // Payload lengths on both sides of the one-, two- and three-byte varint boundaries.
        for count in [0, 1, 127, 128, 16_383, 16_384, 200_000] {
            let payload = ByteBuffer(bytes: Array(repeating: UInt8(truncatingIfNeeded: count), count: count))
            envelopes.append(
                .call(
                    Call(
                        callID: 9,
                        method: Methods.ping,
                        deadlineMs: 3,
                        metadata: Metadata(traceID: "t"),
                        request: payload
                    )
                )
            )
            envelopes.append(.reply(Reply(callID: UInt64(count) + 1, response: payload)))
            envelopes.append(.reply(Reply(callID: 2, status: status, response: payload)))
        }
        for envelope in envelopes {
            var plain = ByteBuffer()
            envelope.encode(into: &plain, framed: true)
            for threshold in [0, 128, Envelope.payloadSliceThreshold] {
                var (head, payload) = envelope.framedParts(allocator: ByteBufferAllocator(), sliceThreshold: threshold)
                if var payload { head.writeBuffer(&payload) }
                #expect(head == plain, "\(envelope.kind) at threshold \(threshold)")
            }
        }
    }
}

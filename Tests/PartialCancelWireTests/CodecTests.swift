import NIOCore
import Testing

@testable import PartialCancelWire

@Suite("Envelope codec")
struct CodecTests {
    static let envelopes: [Envelope] = [
        .hello(Hello(clientName: "test", apiKey: "pck_abc")),
        .hello(Hello(protocolVersion: 7, clientName: "", apiKey: "")),
        .helloReply(
            HelloReply(
                serverVersion: "1.2.3",
                limits: AnnouncedLimits(
                    maxFrameBytes: 4_194_304,
                    maxCallsInFlight: 10,
                    defaultDeadlineMs: 1,
                    maxDeadlineMs: 2,
                    idleTimeoutMs: 3
                ),
                role: "agent"
            )
        ),
        .helloReply(
            HelloReply(
                status: Status(
                    .unauthenticated,
                    "no",
                    reasons: [Reason(rawCode: "API_KEY_UNKNOWN", subject: "api_key")]
                ),
                serverVersion: "x",
                limits: AnnouncedLimits(),
                role: ""
            )
        ),
        .call(Call(callID: 1, method: Methods.ping)),
        .call(
            Call(
                callID: .max,
                method: "a/b",
                deadlineMs: .max,
                metadata: Metadata(idempotencyKey: "k", traceID: "t", onBehalfOf: "acct-1"),
                request: ByteBuffer(bytes: [0, 1, 2, 255])
            )
        ),
        .reply(Reply(callID: 5, response: ByteBuffer(bytes: [1]))),
        .reply(
            Reply(
                callID: 6,
                status: Status(
                    StatusCode(rawValue: 99),
                    "future code",
                    reasons: [Reason(rawCode: "A"), Reason(rawCode: "B", subject: "s", detail: "d")]
                )
            )
        ),
        .cancel(callID: 42),
        .ping(nonce: 0),
        .pong(nonce: .max),
        .goAway(Status(.unavailable, "bye", reasons: [Reason(rawCode: "SHUTTING_DOWN")])),
        .streamItem(callID: 3, message: ByteBuffer(bytes: [9, 9])),
        .call(Call(callID: 2, method: "ünïcødé/🙂")),
    ]

    @Test("every envelope survives encode and decode unchanged", arguments: envelopes)
    func roundTrip(envelope: Envelope) throws {
        let decoded = try Envelope(decoding: envelope.encoded())
        #expect(decoded == envelope)
    }

    @Test("framed encoding puts the big-endian length first")
    func framed() throws {
        var buffer = ByteBuffer()
        Envelope.ping(nonce: 1).encode(into: &buffer, framed: true)
        let length = buffer.readInteger(endianness: .big, as: UInt32.self)
        #expect(Int(length!) == buffer.readableBytes)
        #expect(try Envelope(decoding: buffer) == .ping(nonce: 1))
    }

    @Test(
        "bytes that are not an envelope are malformed",
        arguments: [
            [UInt8]([0xFF, 0xFF, 0xFF, 0xFF, 0xFF]), [0x0A, 0x05, 0x01], [0x07],
            [0x1A, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
        ]
    )
    func garbage(bytes: [UInt8]) {
        #expect(throws: WireDecodeError.self) { try Envelope(decoding: ByteBuffer(bytes: bytes)) }
    }

    @Test("an envelope with no body is refused, naming the field")
    func emptyEnvelope() {
        do {
            _ = try Envelope(decoding: ByteBuffer())
            Issue.record("decoded an empty envelope")
        } catch {
            #expect(error.code == .missingField)
            #expect(error.path == "body")
        }
    }

    /// A Call envelope whose method bytes are exactly `method`, bypassing Swift's string checks.
    private func callEnvelope(methodBytes: [UInt8]) -> ByteBuffer {
        var call: [UInt8] = [0x08, 0x01, 0x12, UInt8(methodBytes.count)] + methodBytes  // call_id=1, method
        call = [0x1A, UInt8(call.count)] + call  // Envelope.call (field 3)
        return ByteBuffer(bytes: call)
    }

    @Test("a NUL byte inside a string is refused, naming the field")
    func embeddedNUL() {
        do {
            _ = try Envelope(decoding: callEnvelope(methodBytes: Array("a\0b".utf8)))
            Issue.record("accepted a NUL byte")
        } catch {
            #expect(error.code == .invalidString)
            #expect(error.path == "call.method")
        }
    }

    @Test("invalid UTF-8 in a string is refused, naming the field")
    func invalidUTF8() {
        do {
            _ = try Envelope(decoding: callEnvelope(methodBytes: [0x61, 0xC3, 0x28]))
            Issue.record("accepted invalid UTF-8")
        } catch {
            #expect(error.code == .invalidString)
            #expect(error.path == "call.method")
        }
    }

    @Test("a string over the limit is refused, naming the field and the limit")
    func tooLong() {
        let envelope = Envelope.hello(Hello(clientName: String(repeating: "x", count: 65)))
        do {
            _ = try Envelope(decoding: envelope.encoded(), limits: DecodingLimits(maxStringBytes: 64))
            Issue.record("accepted an over-long string")
        } catch {
            #expect(error.code == .tooLong)
            #expect(error.path == "hello.client_name")
            #expect(error.message.contains("64"))
        }
    }

    @Test("repeated fields over the limit are refused")
    func tooManyReasons() {
        let status = Status(.internalError, "x", reasons: (0..<5).map { Reason(rawCode: "R\($0)") })
        #expect(throws: WireDecodeError.self) {
            try Envelope(decoding: Envelope.goAway(status).encoded(), limits: DecodingLimits(maxRepeatedCount: 4))
        }
    }

    @Test("a request with more lines than any order has is refused before it is unpacked, naming the field")
    func tooManyLines() throws {
        let limits = DecodingLimits(maxRepeatedCount: 500)
        let lines = (0..<501).map { CancelLine(lineID: "L\($0)") }
        let request = ValidateEligibilityRequest(orderID: "o", lines: lines).encoded()
        #expect(throws: WireDecodeError.self) { try ValidateEligibilityRequest(decoding: request, limits: limits) }
        do {
            _ = try ValidateEligibilityRequest(decoding: request, limits: limits)
        } catch {
            #expect(error.code == .tooLong && error.path.hasSuffix("lines"))
        }
        let fits = ValidateEligibilityRequest(orderID: "o", lines: Array(lines.prefix(500)))
        #expect(try ValidateEligibilityRequest(decoding: fits.encoded(), limits: limits) == fits)
    }

    @Test("unknown fields over their limit are refused; a few are accepted and ignored")
    func unknownFields() throws {
        func ping(withUnknownFields count: Int) -> ByteBuffer {
            var buffer = PingRequest(payload: ByteBuffer(string: "p")).encoded()
            // Field 99, varint: tag (99 << 3 | 0) = 792 as a two-byte varint, then the value 1.
            for _ in 0..<count { buffer.writeBytes([0x98, 0x06, 0x01]) }
            return buffer
        }
        let limits = DecodingLimits(maxUnknownFieldBytes: 1024)
        #expect(
            try PingRequest(decoding: ping(withUnknownFields: 10), limits: limits).payload == ByteBuffer(string: "p")
        )
        #expect(throws: WireDecodeError.self) {
            try PingRequest(decoding: ping(withUnknownFields: 1000), limits: limits)
        }
    }

    @Test("a singular field occurring more often than the repeated-field bound is refused")
    func repeatedSingularField() throws {
        var buffer = ByteBuffer()
        // PingRequest.payload (field 1, length-delimited), one byte each, 600 times.
        for _ in 0..<600 { buffer.writeBytes([0x0A, 0x01, 0x61]) }
        #expect(throws: WireDecodeError.self) {
            try PingRequest(decoding: buffer, limits: DecodingLimits(maxRepeatedCount: 500))
        }
        #expect(
            try PingRequest(decoding: buffer, limits: DecodingLimits(maxRepeatedCount: 600)).payload
                == ByteBuffer(string: "a")
        )
    }

    @Test("unknown status codes keep their number and get a stable name")
    func statusNames() {
        #expect(StatusCode.resourceExhausted.name == "RESOURCE_EXHAUSTED")
        #expect(StatusCode(rawValue: 8) == .resourceExhausted)
        #expect(StatusCode(rawValue: 77).name == "CODE_77")
    }

    @Test("diagnostics messages round-trip")
    func diagnostics() throws {
        let ping = PingRequest(payload: ByteBuffer(bytes: [1, 2, 3]), delayMs: 9)
        #expect(try PingRequest(decoding: ping.encoded()) == ping)
        let health = HealthResponse(status: .draining, serverVersion: "v", uptimeMs: 5, connections: 2)
        #expect(try HealthResponse(decoding: health.encoded()) == health)
        #expect(try HealthRequest(decoding: ByteBuffer()) == HealthRequest())
    }
}

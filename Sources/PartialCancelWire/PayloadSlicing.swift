import NIOCore

/// Decoding a large frame without copying the payload it carries.
///
/// A call's `request` (and a reply's `response`) is most of a large frame: unpacked by
/// protobuf-c it would be copied once into its own allocation and once more into a `ByteBuffer`,
/// 8 MiB of copying on the event loop for a 4 MiB frame. For frames of at least
/// `Envelope.payloadSliceThreshold` bytes the decoder instead hands protobuf-c a copy of the
/// envelope with the payload fields left out (a few bytes), and sets the payload afterwards to a
/// slice of the frame itself. The result is the same value the plain decode gives, which the
/// codec tests check on every input they try.
extension Envelope {
    /// Frames this large or larger decode with their payload sliced, not copied.
    public static let payloadSliceThreshold = 64 * 1024

    /// Decodes one frame's envelope; a frame of at least `sliceThreshold` bytes keeps a call's
    /// request or a reply's response as a slice of `frame` (sharing its storage).
    public init(
        decodingFrame frame: ByteBuffer,
        limits: DecodingLimits = .default,
        sliceThreshold: Int = Envelope.payloadSliceThreshold
    ) throws(WireDecodeError) {
        guard frame.readableBytes >= sliceThreshold else {
            self = try Envelope(decoding: frame, limits: limits)
            return
        }
        let split: PayloadSplit? = frame.withUnsafeReadableBytes { bytes in
            // The bounds hold for the whole frame, as they would for the plain decode.
            if let violation = WireValidator.firstViolation(
                bytes,
                descriptor: Envelope.descriptor,
                limits: limits,
                path: ""
            ) {
                return .refused(violation)
            }
            return PayloadSplit(bytes)
        }
        guard let split else {
            // Not well-formed enough to split: the plain decode says what is wrong with it.
            self = try Envelope(decoding: frame, limits: limits)
            return
        }
        var envelope: Envelope
        switch split {
        case .refused(let violation):
            throw violation
        case .split(let rest, let payload):
            envelope = try Envelope(decoding: rest, limits: limits)
            guard let payload else {
                self = envelope
                return
            }
            let bytes =
                frame.getSlice(at: frame.readerIndex + payload.lowerBound, length: payload.count) ?? ByteBuffer()
            switch envelope {
            case .call(var call):
                call.request = bytes
                envelope = .call(call)
            case .reply(var reply):
                reply.response = bytes
                envelope = .reply(reply)
            default:
                break  // a later body replaced the call or reply (a oneof keeps the last one)
            }
        }
        self = envelope
    }
}

extension Envelope {
    /// The framed encoding, with a call's request (or a reply's response) of at least
    /// `sliceThreshold` bytes left out of `head` and returned as `payload`, to be written right
    /// after it: the bytes of `head` then `payload` are exactly those of `encode(into:framed:)`
    /// (protobuf-c writes fields in number order, and the payload is the last field of its
    /// message, the only member of the envelope), without copying the payload into a new buffer.
    public func framedParts(
        allocator: ByteBufferAllocator,
        sliceThreshold: Int = Envelope.payloadSliceThreshold
    ) -> (head: ByteBuffer, payload: ByteBuffer?) {
        // An empty payload is no field at all (proto3 leaves it out).
        let sliceThreshold = max(sliceThreshold, 1)
        var stripped: ByteBuffer
        let payload: ByteBuffer
        let bodyField: UInt64
        let payloadField: UInt64
        switch self {
        case .call(var call) where call.request.readableBytes >= sliceThreshold:
            payload = call.request
            call.request = ByteBuffer()
            stripped = call.encoded(allocator: allocator)
            (bodyField, payloadField) = (3, 5)
        case .reply(var reply) where reply.response.readableBytes >= sliceThreshold:
            payload = reply.response
            reply.response = ByteBuffer()
            stripped = reply.encoded(allocator: allocator)
            (bodyField, payloadField) = (4, 3)
        default:
            var buffer = allocator.buffer(capacity: 64)
            encode(into: &buffer, framed: true)
            return (buffer, nil)
        }
        let payloadTag = payloadField << 3 | 2
        let inner =
            stripped.readableBytes + WireField.varintSize(payloadTag)
            + WireField.varintSize(UInt64(payload.readableBytes)) + payload.readableBytes
        let bodyTag = bodyField << 3 | 2
        let total = WireField.varintSize(bodyTag) + WireField.varintSize(UInt64(inner)) + inner
        var head = allocator.buffer(capacity: 4 + total - payload.readableBytes)
        head.writeInteger(UInt32(truncatingIfNeeded: total), endianness: .big)
        WireField.writeVarint(bodyTag, into: &head)
        WireField.writeVarint(UInt64(inner), into: &head)
        head.writeBuffer(&stripped)
        WireField.writeVarint(payloadTag, into: &head)
        WireField.writeVarint(UInt64(payload.readableBytes), into: &head)
        return (head, payload)
    }
}

/// An encoded envelope split into the payload bytes of its call or reply and everything else,
/// re-encoded without them. The payload is the one protobuf-c keeps: the last `request` (or
/// `response`) of the last member of the `body` oneof, since a later member replaces an earlier one
/// whole (protobuf-c frees it, even when the same member repeats; there is no merge in a oneof).
enum PayloadSplit {
    case split(rest: ByteBuffer, payload: Range<Int>?)
    case refused(WireDecodeError)

    /// Envelope fields whose message carries a payload, and the payload's field number in it:
    /// `Envelope.call` (3) → `Call.request` (5), `Envelope.reply` (4) → `Reply.response` (3).
    private static let payloadFields: [UInt64: UInt64] = [3: 5, 4: 3]
    /// The members of `Envelope.body`: each occurrence replaces the earlier one whole.
    private static let bodyFields: ClosedRange<UInt64> = 1...9

    /// nil when the bytes are not well-formed protobuf (left for the plain decode to refuse).
    init?(_ bytes: UnsafeRawBufferPointer) {
        var rest = ByteBuffer()
        rest.reserveCapacity(256)
        var payload: Range<Int>?
        var offset = 0
        while offset < bytes.count {
            guard let field = WireField(bytes, at: &offset) else { return nil }
            if Self.bodyFields.contains(field.number) { payload = nil }
            guard field.wireType == 2, let payloadNumber = Self.payloadFields[field.number], let body = field.payload
            else {
                rest.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[field.start..<offset]))
                continue
            }
            // The message without its payload fields, re-framed with its new length.
            var inner = ByteBuffer()
            var innerOffset = body.lowerBound
            while innerOffset < body.upperBound {
                guard let innerField = WireField(bytes, at: &innerOffset, end: body.upperBound) else { return nil }
                if innerField.number == payloadNumber, innerField.wireType == 2, let innerPayload = innerField.payload {
                    payload = innerPayload
                } else {
                    inner.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[innerField.start..<innerOffset]))
                }
            }
            rest.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[field.start..<field.headerEnd - field.lengthBytes]))
            WireField.writeVarint(UInt64(inner.readableBytes), into: &rest)
            rest.writeBuffer(&inner)
        }
        self = .split(rest: rest, payload: payload)
    }
}

/// One field of an encoded message: where it starts, its number and wire type, and for a
/// length-delimited field where its payload lies.
struct WireField {
    let start: Int
    let number: UInt64
    let wireType: UInt64
    /// End of the tag and (for wire type 2) the length prefix.
    let headerEnd: Int
    /// Bytes of the length prefix (0 unless wire type 2).
    let lengthBytes: Int
    let payload: Range<Int>?

    /// Reads the field at `offset` (moved past it); nil when the bytes up to `end` do not hold one.
    init?(_ bytes: UnsafeRawBufferPointer, at offset: inout Int, end: Int? = nil) {
        let end = end ?? bytes.count
        start = offset
        guard let tag = Self.readVarint(bytes, &offset, end: end) else { return nil }
        number = tag >> 3
        wireType = tag & 7
        switch wireType {
        case 0:
            guard Self.readVarint(bytes, &offset, end: end) != nil else { return nil }
            headerEnd = offset
            lengthBytes = 0
            payload = nil
        case 1, 5:
            headerEnd = offset
            lengthBytes = 0
            payload = nil
            offset += wireType == 1 ? 8 : 4
            guard offset <= end else { return nil }
        case 2:
            let lengthStart = offset
            guard let length = Self.readVarint(bytes, &offset, end: end), length <= UInt64(end - offset) else {
                return nil
            }
            headerEnd = offset
            lengthBytes = offset - lengthStart
            payload = offset..<(offset + Int(length))
            offset += Int(length)
        default:
            return nil
        }
    }

    static func readVarint(_ bytes: UnsafeRawBufferPointer, _ offset: inout Int, end: Int) -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while offset < end, shift < 64 {
            let byte = bytes[offset]
            offset += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        return nil
    }

    static func varintSize(_ value: UInt64) -> Int {
        var value = value
        var size = 1
        while value >= 0x80 {
            value >>= 7
            size += 1
        }
        return size
    }

    static func writeVarint(_ value: UInt64, into buffer: inout ByteBuffer) {
        var value = value
        while value >= 0x80 {
            buffer.writeInteger(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        buffer.writeInteger(UInt8(value))
    }
}

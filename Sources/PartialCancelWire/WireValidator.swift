import CPartialCancelProto

/// Checks encoded bytes before protobuf-c unpacks them, guided by the message descriptor, into
/// nested messages:
/// - what protobuf-c would silently accept: a NUL byte inside a string field (protobuf-c hands
///   back a C string cut short at it);
/// - what would make unpacking itself expensive: a repeated field with more elements than
///   `maxRepeatedCount` (or a singular field occurring more often), a string longer than `maxStringBytes`, more than `maxUnknownFieldBytes`
///   of fields this server does not know. Unpacking allocates for every element and every
///   unknown field, so a 4 MiB frame of a million one-byte lines would cost hundreds of
///   milliseconds of the event loop; the walk stops at the first bound passed, so its own cost
///   is bounded by the limits, not by the frame.
/// Anything structurally broken is left for the unpacker to reject. Invalid UTF-8 is caught after
/// unpacking, by `FieldReader.string`.
enum WireValidator {
    /// Nesting this deep is refused outright; the schema's own nesting is far shallower.
    static let maxDepth = 32

    static func firstViolation(
        _ bytes: UnsafeRawBufferPointer,
        descriptor: UnsafePointer<ProtobufCMessageDescriptor>,
        limits: DecodingLimits,
        path: String
    ) -> WireDecodeError? {
        var unknownBytes = 0
        return scan(bytes, descriptor: descriptor, limits: limits, path: path, depth: 0, unknownBytes: &unknownBytes)
    }

    private static func scan(
        _ bytes: UnsafeRawBufferPointer,
        descriptor: UnsafePointer<ProtobufCMessageDescriptor>,
        limits: DecodingLimits,
        path: String,
        depth: Int,
        unknownBytes: inout Int
    ) -> WireDecodeError? {
        if depth > maxDepth {
            return WireDecodeError(
                .malformed,
                path: path.isEmpty ? "message" : path,
                "nested deeper than \(maxDepth) levels"
            )
        }
        // Elements (or occurrences) seen per field of this message, by the field's index in the
        // descriptor: on the stack, as this runs for every message of every call.
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: max(1, Int(descriptor.pointee.n_fields))) {
            counts in
            counts.initialize(repeating: 0)
            return scanFields(
                bytes,
                descriptor: descriptor,
                limits: limits,
                path: path,
                depth: depth,
                counts: counts,
                unknownBytes: &unknownBytes
            )
        }
    }

    private static func scanFields(
        _ bytes: UnsafeRawBufferPointer,
        descriptor: UnsafePointer<ProtobufCMessageDescriptor>,
        limits: DecodingLimits,
        path: String,
        depth: Int,
        counts: UnsafeMutableBufferPointer<Int>,
        unknownBytes: inout Int
    ) -> WireDecodeError? {
        var offset = 0
        while offset < bytes.count {
            let tagStart = offset
            guard let tag = readVarint(bytes, &offset) else { return nil }
            let wireType = tag & 7
            let number = tag >> 3
            var payload: Range<Int>?
            switch wireType {
            case 0:
                guard readVarint(bytes, &offset) != nil else { return nil }
            case 1:
                offset += 8
            case 5:
                offset += 4
            case 2:
                guard let length = readVarint(bytes, &offset), length <= UInt64(bytes.count - offset) else {
                    return nil
                }
                payload = offset..<(offset + Int(length))
                offset += Int(length)
            default:
                return nil  // groups and invalid wire types: the unpacker rejects them
            }
            guard offset <= bytes.count else { return nil }
            guard number <= UInt64(UInt32.max),
                let field = protobuf_c_message_descriptor_get_field(descriptor, UInt32(number))
            else {
                unknownBytes += offset - tagStart
                if unknownBytes > limits.maxUnknownFieldBytes {
                    return WireDecodeError(
                        .tooLong,
                        path: path.isEmpty ? "message" : path,
                        "more than \(limits.maxUnknownFieldBytes) bytes of unknown fields"
                    )
                }
                continue
            }
            // A singular field may legally occur more than once (the last one wins), but each
            // occurrence costs the unpacker as much as an element: both are bounded alike.
            let index = field - descriptor.pointee.fields
            let repeated = field.pointee.label == PROTOBUF_C_LABEL_REPEATED
            counts[index] +=
                repeated ? elements(of: field.pointee.type, wireType: wireType, payload: payload, in: bytes) : 1
            if counts[index] > limits.maxRepeatedCount {
                return WireDecodeError(
                    .tooLong,
                    path: fieldPath(path, field),
                    repeated
                        ? "more than \(limits.maxRepeatedCount) elements"
                        : "occurs more than \(limits.maxRepeatedCount) times"
                )
            }
            guard let payload else { continue }
            let slice = UnsafeRawBufferPointer(rebasing: bytes[payload])
            if field.pointee.type == PROTOBUF_C_TYPE_STRING {
                if slice.count > limits.maxStringBytes {
                    return WireDecodeError(
                        .tooLong,
                        path: fieldPath(path, field),
                        "longer than \(limits.maxStringBytes) bytes"
                    )
                }
                if slice.contains(0) {
                    return WireDecodeError(.invalidString, path: fieldPath(path, field), "contains a NUL byte")
                }
            } else if field.pointee.type == PROTOBUF_C_TYPE_MESSAGE, let nested = field.pointee.descriptor {
                let nestedDescriptor = nested.assumingMemoryBound(to: ProtobufCMessageDescriptor.self)
                if let error = scan(
                    slice,
                    descriptor: nestedDescriptor,
                    limits: limits,
                    path: fieldPath(path, field),
                    depth: depth + 1,
                    unknownBytes: &unknownBytes
                ) {
                    return error
                }
            }
        }
        return nil
    }

    private static func fieldPath(_ path: String, _ field: UnsafePointer<ProtobufCFieldDescriptor>) -> String {
        path.isEmpty ? String(cString: field.pointee.name) : "\(path).\(String(cString: field.pointee.name))"
    }

    /// How many elements one occurrence of a repeated field carries: one, or for a packed scalar
    /// field as many as its payload holds.
    private static func elements(
        of type: ProtobufCType,
        wireType: UInt64,
        payload: Range<Int>?,
        in bytes: UnsafeRawBufferPointer
    ) -> Int {
        guard wireType == 2, let payload, type != PROTOBUF_C_TYPE_STRING, type != PROTOBUF_C_TYPE_BYTES,
            type != PROTOBUF_C_TYPE_MESSAGE
        else { return 1 }
        switch type {
        case PROTOBUF_C_TYPE_FIXED32, PROTOBUF_C_TYPE_SFIXED32, PROTOBUF_C_TYPE_FLOAT: return payload.count / 4
        case PROTOBUF_C_TYPE_FIXED64, PROTOBUF_C_TYPE_SFIXED64, PROTOBUF_C_TYPE_DOUBLE: return payload.count / 8
        default:
            // Varints: one ends at each byte without the continuation bit.
            var count = 0
            for index in payload where bytes[index] & 0x80 == 0 { count += 1 }
            return count
        }
    }

    private static func readVarint(_ bytes: UnsafeRawBufferPointer, _ offset: inout Int) -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while offset < bytes.count, shift < 64 {
            let byte = bytes[offset]
            offset += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        return nil
    }
}

import CPartialCancelProto

/// Checks encoded bytes for what protobuf-c would silently accept: a NUL byte inside a string field
/// (protobuf-c hands back a C string cut short at it). Walks the wire format guided by the message
/// descriptor, into nested messages; anything structurally broken is left for the unpacker to
/// reject. Invalid UTF-8 is caught after unpacking, by `FieldReader.string`.
enum WireValidator {
    /// Nesting this deep is refused outright; the schema's own nesting is far shallower.
    static let maxDepth = 32

    static func firstInvalidString(_ bytes: UnsafeRawBufferPointer, descriptor: UnsafePointer<ProtobufCMessageDescriptor>, path: String, depth: Int = 0) -> WireDecodeError? {
        if depth > maxDepth {
            return WireDecodeError(.malformed, path: path.isEmpty ? "message" : path, "nested deeper than \(maxDepth) levels")
        }
        var offset = 0
        while offset < bytes.count {
            guard let tag = readVarint(bytes, &offset) else { return nil }
            let wireType = tag & 7
            let number = tag >> 3
            switch wireType {
            case 0:
                guard readVarint(bytes, &offset) != nil else { return nil }
            case 1:
                offset += 8
            case 5:
                offset += 4
            case 2:
                guard let length = readVarint(bytes, &offset), length <= UInt64(bytes.count - offset) else { return nil }
                let start = offset
                offset += Int(length)
                guard number <= UInt64(UInt32.max),
                      let field = protobuf_c_message_descriptor_get_field(descriptor, UInt32(number)) else { continue }
                let fieldPath = path.isEmpty ? String(cString: field.pointee.name) : "\(path).\(String(cString: field.pointee.name))"
                let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<offset])
                if field.pointee.type == PROTOBUF_C_TYPE_STRING {
                    if slice.contains(0) {
                        return WireDecodeError(.invalidString, path: fieldPath, "contains a NUL byte")
                    }
                } else if field.pointee.type == PROTOBUF_C_TYPE_MESSAGE, let nested = field.pointee.descriptor {
                    let nestedDescriptor = nested.assumingMemoryBound(to: ProtobufCMessageDescriptor.self)
                    if let error = firstInvalidString(slice, descriptor: nestedDescriptor, path: fieldPath, depth: depth + 1) {
                        return error
                    }
                }
            default:
                return nil  // groups and invalid wire types: the unpacker rejects them
            }
        }
        return nil
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

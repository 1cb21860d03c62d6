import CPartialCancelProto
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why an encoded message could not become a valid value. `path` names the field, e.g.
/// `call.metadata.trace_id`, so that the status can say exactly what was wrong.
public struct WireDecodeError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// Not a protobuf message of the expected type.
        public static let malformed = Code(name: "MESSAGE_MALFORMED")
        /// A string field is not valid UTF-8 or holds a NUL byte.
        public static let invalidString = Code(name: "STRING_INVALID")
        /// A string or bytes field is longer than allowed.
        public static let tooLong = Code(name: "FIELD_TOO_LONG")
        /// A field that must be set is absent or zero.
        public static let missingField = Code(name: "FIELD_REQUIRED")
        /// A field's value is outside its domain.
        public static let outOfRange = Code(name: "FIELD_OUT_OF_RANGE")
        public var description: String { name }
    }

    public var code: Code
    public var path: String
    public var message: String

    public init(_ code: Code, path: String, _ message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}

/// Bounds applied while decoding. Every string and bytes field is checked against them.
public struct DecodingLimits: Sendable, Hashable {
    /// Longest accepted string field, in UTF-8 bytes. Identifiers, names and keys are far shorter;
    /// the bound keeps a hostile peer from making the server copy and log megabytes of text.
    public var maxStringBytes: Int
    /// Most elements accepted in one repeated field.
    public var maxRepeatedCount: Int
    /// Most bytes of fields unknown to this schema accepted in one message, nested ones included.
    public var maxUnknownFieldBytes: Int

    public init(maxStringBytes: Int = 4096, maxRepeatedCount: Int = 10_000, maxUnknownFieldBytes: Int = 64 * 1024) {
        self.maxStringBytes = maxStringBytes
        self.maxRepeatedCount = maxRepeatedCount
        self.maxUnknownFieldBytes = maxUnknownFieldBytes
    }

    public static let `default` = DecodingLimits()
}

/// Owns the C memory a message needs while it is being packed: copied strings and sub-messages,
/// and the storage of the buffers whose bytes it points at. Everything is freed (or released) when
/// the arena goes away, so packing never leaks.
public final class Arena {
    private var allocations: [UnsafeMutableRawPointer] = []
    /// Storage of the `ByteBuffer`s `binary` points into, kept alive (and, being shared, never
    /// written in place: a write to any copy of such a buffer copies it first) until packing ends.
    private var retainedStorage: [Unmanaged<AnyObject>] = []

    private static let emptyString: StaticString = ""

    public init() {}

    deinit {
        for pointer in allocations { free(pointer) }
        for storage in retainedStorage { storage.release() }
    }

    /// A NUL-terminated copy of `string`.
    public func cString(_ string: String) -> UnsafeMutablePointer<CChar> {
        if string.isEmpty {
            // protobuf-c only reads it while packing; a static empty C string needs no allocation.
            return UnsafeMutableRawPointer(mutating: Self.emptyString.utf8Start).assumingMemoryBound(to: CChar.self)
        }
        var string = string
        return string.withUTF8 { utf8 in
            let pointer = self.allocate(byteCount: utf8.count + 1).assumingMemoryBound(to: UInt8.self)
            pointer.initialize(from: utf8.baseAddress!, count: utf8.count)
            pointer[utf8.count] = 0
            return UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: CChar.self)
        }
    }

    /// The readable bytes of `buffer` as protobuf-c binary data, without copying them: the data
    /// points into the buffer's storage, which the arena keeps alive. protobuf-c only reads it.
    public func binary(_ buffer: ByteBuffer) -> ProtobufCBinaryData {
        let count = buffer.readableBytes
        if count == 0 { return ProtobufCBinaryData(len: 0, data: nil) }
        return buffer.withUnsafeReadableBytesWithStorageManagement { bytes, storage in
            retainedStorage.append(storage.retain())
            return ProtobufCBinaryData(
                len: count,
                data: UnsafeMutableRawPointer(mutating: bytes.baseAddress!)
                    .assumingMemoryBound(to: UInt8.self)
            )
        }
    }

    /// A C message initialised by `value`, alive as long as the arena.
    public func message<M: WireMessage>(_ value: M) -> UnsafeMutablePointer<M.CMessage> {
        let pointer = allocate(byteCount: MemoryLayout<M.CMessage>.stride).bindMemory(to: M.CMessage.self, capacity: 1)
        pointer.initialize(to: value.cMessage(in: self))
        return pointer
    }

    /// An array of pointers to C messages, as protobuf-c represents repeated message fields.
    public func messages<M: WireMessage>(_ values: [M]) -> UnsafeMutablePointer<UnsafeMutablePointer<M.CMessage>?>? {
        if values.isEmpty { return nil }
        let array = allocate(byteCount: MemoryLayout<UnsafeMutablePointer<M.CMessage>?>.stride * values.count)
            .bindMemory(to: UnsafeMutablePointer<M.CMessage>?.self, capacity: values.count)
        for (index, value) in values.enumerated() { array[index] = message(value) }
        return array
    }

    /// An array of C strings, as protobuf-c represents repeated string fields.
    public func cStrings(_ values: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? {
        if values.isEmpty { return nil }
        let array = allocate(byteCount: MemoryLayout<UnsafeMutablePointer<CChar>?>.stride * values.count)
            .bindMemory(to: UnsafeMutablePointer<CChar>?.self, capacity: values.count)
        for (index, value) in values.enumerated() { array[index] = cString(value) }
        return array
    }

    private func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
        guard let pointer = malloc(max(byteCount, 1)) else { fatalError("out of memory") }
        allocations.append(pointer)
        return pointer
    }
}

/// A Swift value with a protobuf-c twin: how to build the C struct for packing, and how to read
/// (and validate) the C struct that unpacking produced.
public protocol WireMessage: Sendable, Hashable {
    associatedtype CMessage
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { get }
    /// The C struct for this value; its pointers live in `arena`.
    func cMessage(in arena: Arena) -> CMessage
    /// Reads and validates an unpacked C struct. `path` prefixes field paths in errors.
    init(cMessage: UnsafePointer<CMessage>, reader: FieldReader) throws(WireDecodeError)
}

extension WireMessage {
    /// Appends the encoded value to `buffer`; with `framed`, preceded by its 4-byte big-endian length.
    public func encode(into buffer: inout ByteBuffer, framed: Bool = false) {
        let arena = Arena()
        var c = cMessage(in: arena)
        withUnsafeMutablePointer(to: &c) { pointer in
            pointer.withMemoryRebound(to: ProtobufCMessage.self, capacity: 1) { message in
                let size = protobuf_c_message_get_packed_size(message)
                if framed { buffer.writeInteger(UInt32(truncatingIfNeeded: size), endianness: .big) }
                buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { bytes in
                    protobuf_c_message_pack(message, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self))
                }
            }
        }
    }

    /// The encoded value in a new buffer.
    public func encoded(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 64)
        encode(into: &buffer)
        return buffer
    }

    /// Decodes and validates one message from the readable bytes of `buffer`.
    public init(
        decoding buffer: ByteBuffer,
        limits: DecodingLimits = .default,
        path: String = ""
    ) throws(WireDecodeError) {
        let result: Result<Self, WireDecodeError> = buffer.withUnsafeReadableBytes { bytes in
            let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
            // protobuf-c wants a non-null pointer even for an empty message.
            var empty: UInt8 = 0
            if let base {
                if let error = WireValidator.firstViolation(
                    UnsafeRawBufferPointer(start: base, count: bytes.count),
                    descriptor: Self.descriptor,
                    limits: limits,
                    path: path
                ) {
                    return .failure(error)
                }
            }
            let unpacked: UnsafeMutablePointer<ProtobufCMessage>? =
                if let base { protobuf_c_message_unpack(Self.descriptor, nil, bytes.count, base) } else {
                    protobuf_c_message_unpack(Self.descriptor, nil, 0, &empty)
                }
            guard let unpacked else {
                return .failure(
                    WireDecodeError(
                        .malformed,
                        path: path.isEmpty ? "message" : path,
                        "not a valid \(String(cString: Self.descriptor.pointee.name)) message"
                    )
                )
            }
            defer { protobuf_c_message_free_unpacked(unpacked, nil) }
            do throws(WireDecodeError) {
                let reader = FieldReader(limits: limits, path: path)
                let typed = UnsafeRawPointer(unpacked).assumingMemoryBound(to: CMessage.self)
                return .success(try Self(cMessage: typed, reader: reader))
            } catch {
                return .failure(error)
            }
        }
        self = try result.get()
    }
}

/// Reads fields out of unpacked C structs with the decoding limits applied, tracking the field
/// path for error messages.
public struct FieldReader: Sendable {
    public let limits: DecodingLimits
    public let path: String

    public init(limits: DecodingLimits, path: String) {
        self.limits = limits
        self.path = path
    }

    /// The path of `field` below this reader's message.
    public func path(_ field: String) -> String { path.isEmpty ? field : field.isEmpty ? path : "\(path).\(field)" }

    /// A reader for a nested message in `field`.
    public func nested(_ field: String) -> FieldReader { FieldReader(limits: limits, path: path(field)) }

    /// A reader for element `index` of repeated `field`.
    public func element(_ field: String, _ index: Int) -> FieldReader {
        FieldReader(limits: limits, path: "\(path(field))[\(index)]")
    }

    /// A validated string: valid UTF-8, within the length limit. (Embedded NUL bytes are caught
    /// before unpacking by `WireValidator`, since protobuf-c silently truncates at them.)
    public func string(
        _ pointer: UnsafePointer<CChar>?,
        _ field: String,
        maxBytes: Int? = nil
    ) throws(WireDecodeError) -> String {
        guard let pointer else { return "" }
        let length = strlen(pointer)
        let limit = min(maxBytes ?? limits.maxStringBytes, limits.maxStringBytes)
        if length > limit {
            throw WireDecodeError(.tooLong, path: path(field), "longer than \(limit) bytes")
        }
        guard let string = String(validatingCString: pointer) else {
            throw WireDecodeError(.invalidString, path: path(field), "not valid UTF-8")
        }
        return string
    }

    /// Bytes copied into a buffer.
    public func bytes(
        _ data: ProtobufCBinaryData,
        _ field: String,
        maxBytes: Int? = nil
    ) throws(WireDecodeError) -> ByteBuffer {
        if let maxBytes, data.len > maxBytes {
            throw WireDecodeError(.tooLong, path: path(field), "longer than \(maxBytes) bytes")
        }
        guard data.len > 0, let base = data.data else { return ByteBuffer() }
        return ByteBuffer(bytes: UnsafeBufferPointer(start: base, count: data.len))
    }

    /// An optional nested message.
    public func message<M: WireMessage>(
        _ pointer: UnsafeMutablePointer<M.CMessage>?,
        _ field: String,
        as: M.Type = M.self
    ) throws(WireDecodeError) -> M? {
        guard let pointer else { return nil }
        return try M(cMessage: pointer, reader: nested(field))
    }

    /// A nested message that must be present.
    public func required<M: WireMessage>(
        _ pointer: UnsafeMutablePointer<M.CMessage>?,
        _ field: String,
        as: M.Type = M.self
    ) throws(WireDecodeError) -> M {
        guard let value = try message(pointer, field, as: M.self) else {
            throw WireDecodeError(.missingField, path: path(field), "is required")
        }
        return value
    }

    /// A repeated string field.
    public func strings(
        _ count: Int,
        _ pointers: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
        _ field: String
    ) throws(WireDecodeError) -> [String] {
        guard count > 0, let pointers else { return [] }
        if count > limits.maxRepeatedCount {
            throw WireDecodeError(.tooLong, path: path(field), "more than \(limits.maxRepeatedCount) elements")
        }
        var values: [String] = []
        values.reserveCapacity(count)
        for index in 0..<count { values.append(try element(field, index).string(pointers[index], "")) }
        return values
    }

    /// A repeated message field.
    public func messages<M: WireMessage>(
        _ count: Int,
        _ pointers: UnsafeMutablePointer<UnsafeMutablePointer<M.CMessage>?>?,
        _ field: String,
        as: M.Type = M.self
    ) throws(WireDecodeError) -> [M] {
        guard count > 0, let pointers else { return [] }
        if count > limits.maxRepeatedCount {
            throw WireDecodeError(.tooLong, path: path(field), "more than \(limits.maxRepeatedCount) elements")
        }
        var values: [M] = []
        values.reserveCapacity(count)
        for index in 0..<count {
            let reader = element(field, index)
            guard let item = pointers[index] else {
                throw WireDecodeError(.malformed, path: reader.path, "missing element")
            }
            values.append(try M(cMessage: item, reader: reader))
        }
        return values
    }
}

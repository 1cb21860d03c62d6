import Foundation

/// The format of stored bodies (orders, cancellation requests, refunds, stock changes): a compact
/// tagged binary form of any `Codable` value, several times cheaper to write and read than JSON.
///
/// Like JSON it keeps field names, so that bodies survive schema changes: a field added later
/// decodes as absent from older bodies, a field removed is skipped. A body starts with the format
/// byte `0xB1`; bodies written before this format (JSON, starting with `{`) are still read.
///
/// Values: a tag byte, then
/// - `0` nil, `1` false, `2` true;
/// - `3` a signed integer, zigzag varint; `4` an unsigned integer, varint; `5` a Double, 8 bytes LE;
/// - `6` a string: varint byte count, UTF-8;
/// - `7` keyed: 4-byte LE byte length of what follows, varint count, then per field its name
///   (varint byte count, UTF-8) and its value;
/// - `8` unkeyed: 4-byte LE byte length, varint count, then the values.
/// The container lengths let a reader skip a field without reading it.
public enum BodyCodec {
    public static let formatByte: UInt8 = 0xB1

    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = TreeEncoder(codingPath: [])
        try value.encode(to: encoder)
        var writer = ByteWriter()
        writer.bytes.reserveCapacity(1024)
        writer.bytes.append(formatByte)
        writer.write(encoder.storage.value)
        return writer.bytes
    }

    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        guard bytes.first == formatByte else {
            // Bodies from before this format.
            return try JSONDecoder().decode(type, from: Data(bytes))
        }
        return try bytes.withUnsafeBufferPointer { buffer in
            try ByteReader(buffer: buffer).value(T.self, 1, [])
        }
    }
}

// MARK: - Encoding: a tree of values, then one pass to bytes

private enum Tag: UInt8 {
    case null = 0
    case falseValue, trueValue, int, uint, double, string, keyed, unkeyed
}

/// A value being encoded. Containers are reference boxes so that nested containers handed out
/// by the `Encoder` API can be filled after they were attached to their parent.
private enum Node {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case keyed(KeyedBox)
    case unkeyed(UnkeyedBox)
}

private final class KeyedBox {
    var keys: [String] = []
    var values: [Node] = []
    func set(_ key: String, _ value: Node) {
        // A key set twice keeps its last value, like JSONEncoder.
        if let index = keys.lastIndex(of: key) {
            values[index] = value
        } else {
            keys.append(key)
            values.append(value)
        }
    }
}

private final class UnkeyedBox {
    var values: [Node] = []
}

/// What one `Encoder` produced: nothing yet, a single value, or a container.
private final class NodeSlot {
    var value: Node = .null
}

private struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func string(_ text: String) {
        var text = text
        text.withUTF8 { utf8 in
            varint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    mutating func write(_ node: Node) {
        switch node {
        case .null: bytes.append(Tag.null.rawValue)
        case .bool(let b): bytes.append(b ? Tag.trueValue.rawValue : Tag.falseValue.rawValue)
        case .int(let i):
            bytes.append(Tag.int.rawValue)
            varint(UInt64(bitPattern: (i << 1) ^ (i >> 63)))
        case .uint(let u):
            bytes.append(Tag.uint.rawValue)
            varint(u)
        case .double(let d):
            bytes.append(Tag.double.rawValue)
            withUnsafeBytes(of: d.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        case .string(let s):
            bytes.append(Tag.string.rawValue)
            string(s)
        case .keyed(let box):
            let start = beginContainer(.keyed, count: box.keys.count)
            for (key, value) in zip(box.keys, box.values) {
                string(key)
                write(value)
            }
            endContainer(start)
        case .unkeyed(let box):
            let start = beginContainer(.unkeyed, count: box.values.count)
            for value in box.values { write(value) }
            endContainer(start)
        }
    }

    private mutating func beginContainer(_ tag: Tag, count: Int) -> Int {
        bytes.append(tag.rawValue)
        let lengthAt = bytes.count
        bytes.append(contentsOf: [0, 0, 0, 0])
        varint(UInt64(count))
        return lengthAt
    }

    private mutating func endContainer(_ lengthAt: Int) {
        let length = UInt32(bytes.count - lengthAt - 4)
        for i in 0..<4 { bytes[lengthAt + i] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(i))) }
    }
}

private final class TreeEncoder: Encoder {
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    let storage = NodeSlot()

    init(codingPath: [any CodingKey]) { self.codingPath = codingPath }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let box: KeyedBox
        if case .keyed(let existing) = storage.value {
            box = existing
        } else {
            box = KeyedBox()
            storage.value = .keyed(box)
        }
        return KeyedEncodingContainer(KeyedWriter<Key>(box: box, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let box: UnkeyedBox
        if case .unkeyed(let existing) = storage.value {
            box = existing
        } else {
            box = UnkeyedBox()
            storage.value = .unkeyed(box)
        }
        return UnkeyedWriter(box: box, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleWriter(slot: storage, codingPath: codingPath)
    }

    /// The node for any encodable value: scalars directly (compared by metatype, which is cheaper
    /// than a dynamic cast), everything else through its own encoder.
    static func integerNode<I: FixedWidthInteger>(_ value: I, _ codingPath: [any CodingKey]) throws -> Node {
        if I.isSigned, let signed = Int64(exactly: value) { return .int(signed) }
        if !I.isSigned, let unsigned = UInt64(exactly: value) { return .uint(unsigned) }
        throw EncodingError.invalidValue(
            value,
            .init(codingPath: codingPath, debugDescription: "integer wider than 64 bits")
        )
    }

    static func node<T: Encodable>(_ value: T, codingPath: @autoclosure () -> [any CodingKey]) throws -> Node {
        if T.self == String.self { return .string(unsafeBitCast(value, to: String.self)) }
        if T.self == Int64.self { return .int(unsafeBitCast(value, to: Int64.self)) }
        if T.self == Int.self { return .int(Int64(unsafeBitCast(value, to: Int.self))) }
        if T.self == Bool.self { return .bool(unsafeBitCast(value, to: Bool.self)) }
        if T.self == UInt64.self { return .uint(unsafeBitCast(value, to: UInt64.self)) }
        if T.self == Double.self { return .double(unsafeBitCast(value, to: Double.self)) }
        let encoder = TreeEncoder(codingPath: codingPath())
        try value.encode(to: encoder)
        return encoder.storage.value
    }
}

private struct KeyedWriter<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let box: KeyedBox
    let codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws { box.set(key.stringValue, .null) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { box.set(key.stringValue, .bool(value)) }
    mutating func encode(_ value: String, forKey key: Key) throws { box.set(key.stringValue, .string(value)) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { box.set(key.stringValue, .int(value)) }
    mutating func encode(_ value: Int, forKey key: Key) throws { box.set(key.stringValue, .int(Int64(value))) }
    mutating func encode(_ value: Double, forKey key: Key) throws { box.set(key.stringValue, .double(value)) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        box.set(key.stringValue, try TreeEncoder.node(value, codingPath: codingPath + [key]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type,
        forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        let nested = KeyedBox()
        box.set(key.stringValue, .keyed(nested))
        return KeyedEncodingContainer(KeyedWriter<NestedKey>(box: nested, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = UnkeyedBox()
        box.set(key.stringValue, .unkeyed(nested))
        return UnkeyedWriter(box: nested, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder { superEncoder(forKey: Key(stringValue: "super")!) }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        let encoder = TreeEncoder(codingPath: codingPath + [key])
        let keyed = KeyedBox()
        encoder.storage.value = .keyed(keyed)
        box.set(key.stringValue, .keyed(keyed))
        return encoder
    }
}

private struct IndexKey: CodingKey {
    var stringValue: String { "\(intValue!)" }
    var intValue: Int?
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}

private struct UnkeyedWriter: UnkeyedEncodingContainer {
    let box: UnkeyedBox
    let codingPath: [any CodingKey]
    var count: Int { box.values.count }

    mutating func encodeNil() throws { box.values.append(.null) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        box.values.append(try TreeEncoder.node(value, codingPath: codingPath + [IndexKey(count)]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type
    ) -> KeyedEncodingContainer<NestedKey> {
        let nested = KeyedBox()
        box.values.append(.keyed(nested))
        return KeyedEncodingContainer(
            KeyedWriter<NestedKey>(box: nested, codingPath: codingPath + [IndexKey(count - 1)])
        )
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = UnkeyedBox()
        box.values.append(.unkeyed(nested))
        return UnkeyedWriter(box: nested, codingPath: codingPath + [IndexKey(count - 1)])
    }

    mutating func superEncoder() -> any Encoder {
        let encoder = TreeEncoder(codingPath: codingPath + [IndexKey(count)])
        let keyed = KeyedBox()
        encoder.storage.value = .keyed(keyed)
        box.values.append(.keyed(keyed))
        return encoder
    }
}

private struct SingleWriter: SingleValueEncodingContainer {
    let slot: NodeSlot
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { slot.value = .null }
    mutating func encode(_ value: Bool) throws { slot.value = .bool(value) }
    mutating func encode(_ value: String) throws { slot.value = .string(value) }
    mutating func encode(_ value: Int64) throws { slot.value = .int(value) }
    mutating func encode(_ value: Int) throws { slot.value = .int(Int64(value)) }
    mutating func encode(_ value: Double) throws { slot.value = .double(value) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        slot.value = try TreeEncoder.node(value, codingPath: codingPath)
    }
    // The other widths land here from their own `encode(to:)`.
    mutating func encode(_ value: Int8) throws { slot.value = try TreeEncoder.integerNode(value, codingPath) }
    mutating func encode(_ value: Int16) throws { slot.value = try TreeEncoder.integerNode(value, codingPath) }
    mutating func encode(_ value: Int32) throws { slot.value = try TreeEncoder.integerNode(value, codingPath) }
    mutating func encode(_ value: UInt) throws { slot.value = try TreeEncoder.integerNode(value, codingPath) }
    mutating func encode(_ value: UInt8) throws { slot.value = try TreeEncoder.integerNode(value, codingPath) }
    mutating func encode(_ value: UInt16) throws { slot.value = try TreeEncoder.integerNode(value, codingPath) }
    mutating func encode(_ value: UInt32) throws { slot.value = try TreeEncoder.integerNode(value, codingPath) }
    mutating func encode(_ value: UInt64) throws { slot.value = .uint(value) }
    mutating func encode(_ value: Float) throws { slot.value = .double(Double(value)) }
}

// MARK: - Decoding: straight from the bytes

/// Coding paths are only built when something asks for them (an error, or a type that reads
/// `codingPath`): each is an array allocation, and a body has hundreds of fields.
private typealias LazyPath = () -> [any CodingKey]

private struct ByteReader {
    let buffer: UnsafeBufferPointer<UInt8>

    func corrupt(_ path: [any CodingKey], _ what: String) -> DecodingError {
        .dataCorrupted(.init(codingPath: path, debugDescription: "stored body: \(what)"))
    }

    func byte(_ offset: Int, _ path: @autoclosure LazyPath) throws -> UInt8 {
        guard offset >= 0, offset < buffer.count else { throw corrupt(path(), "truncated") }
        return buffer[offset]
    }

    func varint(_ offset: inout Int, _ path: @autoclosure LazyPath) throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < buffer.count else { throw corrupt(path(), "truncated") }
            let b = buffer[offset]
            offset += 1
            guard shift < 64 else { throw corrupt(path(), "varint too long") }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
        }
    }

    func string(_ offset: inout Int, _ path: @autoclosure LazyPath) throws -> String {
        let count = try varint(&offset, path())
        guard count <= UInt64(buffer.count - offset) else { throw corrupt(path(), "truncated string") }
        let end = offset + Int(count)
        let text = String(decoding: UnsafeBufferPointer(rebasing: buffer[offset..<end]), as: UTF8.self)
        offset = end
        return text
    }

    func length32(_ offset: Int, _ path: @autoclosure LazyPath) throws -> Int {
        guard offset + 4 <= buffer.count else { throw corrupt(path(), "truncated container") }
        return Int(buffer[offset]) | Int(buffer[offset + 1]) << 8 | Int(buffer[offset + 2]) << 16 | Int(
            buffer[offset + 3]
        ) << 24
    }

    /// The offset just past the value at `offset`.
    func skip(_ offset: Int, _ path: @autoclosure LazyPath) throws -> Int {
        var o = offset + 1
        let end: Int
        switch Tag(rawValue: try byte(offset, path())) {
        case .null, .falseValue, .trueValue: return o
        case .int, .uint:
            _ = try varint(&o, path())
            return o
        case .double: end = o + 8
        case .string:
            let count = Int(clamping: try varint(&o, path()))
            end = o + count
        case .keyed, .unkeyed:
            let length = try length32(o, path())
            end = o + 4 + length
        case nil: throw corrupt(path(), "unknown tag \(buffer[offset])")
        }
        guard end <= buffer.count, end > offset else { throw corrupt(path(), "truncated") }
        return end
    }

    func mismatch<T>(_ type: T.Type, _ offset: Int, _ path: [any CodingKey]) -> DecodingError {
        .typeMismatch(
            T.self,
            .init(
                codingPath: path,
                debugDescription: "stored body has tag \(offset < buffer.count ? Int(buffer[offset]) : -1) here"
            )
        )
    }

    func integer(_ offset: Int, _ path: @autoclosure LazyPath) throws -> Int64 {
        var o = offset + 1
        switch Tag(rawValue: try byte(offset, path())) {
        case .int:
            let raw = try varint(&o, path())
            return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
        case .uint:
            guard let value = Int64(exactly: try varint(&o, path())) else {
                throw corrupt(path(), "number does not fit Int64")
            }
            return value
        default:
            throw mismatch(Int64.self, offset, path())
        }
    }

    func unsigned(_ offset: Int, _ path: @autoclosure LazyPath) throws -> UInt64 {
        var o = offset + 1
        switch Tag(rawValue: try byte(offset, path())) {
        case .uint: return try varint(&o, path())
        case .int:
            guard let value = UInt64(exactly: try integer(offset, path())) else {
                throw corrupt(path(), "negative number for an unsigned field")
            }
            return value
        default:
            throw mismatch(UInt64.self, offset, path())
        }
    }

    /// Any decodable value at `offset`: scalars read here, everything else through its own decoder.
    func value<T: Decodable>(_ type: T.Type, _ offset: Int, _ path: @autoclosure LazyPath) throws -> T {
        if T.self == String.self {
            guard try byte(offset, path()) == Tag.string.rawValue else { throw mismatch(T.self, offset, path()) }
            var o = offset + 1
            return unsafeBitCast(try string(&o, path()), to: T.self)
        }
        if T.self == Int64.self { return unsafeBitCast(try integer(offset, path()), to: T.self) }
        if T.self == Int.self { return unsafeBitCast(Int(try integer(offset, path())), to: T.self) }
        if T.self == Bool.self {
            let tag = try byte(offset, path())
            guard tag == Tag.trueValue.rawValue || tag == Tag.falseValue.rawValue else {
                throw mismatch(T.self, offset, path())
            }
            return unsafeBitCast(tag == Tag.trueValue.rawValue, to: T.self)
        }
        if T.self == UInt64.self { return unsafeBitCast(try unsigned(offset, path()), to: T.self) }
        if T.self == Double.self {
            guard try byte(offset, path()) == Tag.double.rawValue, offset + 9 <= buffer.count else {
                throw mismatch(T.self, offset, path())
            }
            var bits: UInt64 = 0
            for i in 0..<8 { bits |= UInt64(buffer[offset + 1 + i]) << (8 * UInt64(i)) }
            return unsafeBitCast(Double(bitPattern: bits), to: T.self)
        }
        return try T(from: TreeDecoder(reader: self, offset: offset, codingPath: path()))
    }

    func fixedWidth<I: FixedWidthInteger>(_ type: I.Type, _ offset: Int, _ path: @autoclosure LazyPath) throws -> I {
        let converted = I.isSigned ? I(exactly: try integer(offset, path())) : I(exactly: try unsigned(offset, path()))
        guard let converted else { throw corrupt(path(), "number does not fit \(I.self)") }
        return converted
    }
}

private final class TreeDecoder: Decoder {
    let reader: ByteReader
    let offset: Int
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(reader: ByteReader, offset: Int, codingPath: [any CodingKey]) {
        self.reader = reader
        self.offset = offset
        self.codingPath = codingPath
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(try KeyedReader<Key>(reader: reader, offset: offset, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try UnkeyedReader(reader: reader, offset: offset, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleReader(reader: reader, offset: offset, codingPath: codingPath)
    }
}

private struct KeyedReader<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let reader: ByteReader
    let codingPath: [any CodingKey]
    /// Field names and where their values start, in stored order.
    private let fields: [(name: String, offset: Int)]

    init(reader: ByteReader, offset: Int, codingPath: [any CodingKey]) throws {
        self.reader = reader
        self.codingPath = codingPath
        guard try reader.byte(offset, codingPath) == Tag.keyed.rawValue else {
            throw reader.mismatch([String: Any].self, offset, codingPath)
        }
        var o = offset + 5
        let count = try reader.varint(&o, codingPath)
        guard count <= UInt64(reader.buffer.count) else { throw reader.corrupt(codingPath, "bad field count") }
        var fields: [(name: String, offset: Int)] = []
        fields.reserveCapacity(Int(count))
        for _ in 0..<count {
            let name = try reader.string(&o, codingPath)
            fields.append((name, o))
            o = try reader.skip(o, codingPath)
        }
        self.fields = fields
    }

    var allKeys: [Key] { fields.compactMap { Key(stringValue: $0.name) } }

    func contains(_ key: Key) -> Bool { find(key) != nil }

    private func find(_ key: Key) -> Int? {
        let name = key.stringValue
        for field in fields where field.name == name { return field.offset }
        return nil
    }

    private func offset(_ key: Key) throws -> Int {
        guard let offset = find(key) else {
            throw DecodingError.keyNotFound(
                key,
                .init(codingPath: codingPath, debugDescription: "stored body has no \(key.stringValue)")
            )
        }
        return offset
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        try reader.byte(try offset(key), codingPath + [key]) == Tag.null.rawValue
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try reader.value(type, try offset(key), codingPath + [key])
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let offset = find(key), try reader.byte(offset, codingPath + [key]) != Tag.null.rawValue else {
            return nil
        }
        return try reader.value(type, offset, codingPath + [key])
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type,
        forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        KeyedDecodingContainer(
            try KeyedReader<NestedKey>(reader: reader, offset: try offset(key), codingPath: codingPath + [key])
        )
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try UnkeyedReader(reader: reader, offset: try offset(key), codingPath: codingPath + [key])
    }

    func superDecoder() throws -> any Decoder { try superDecoder(forKey: Key(stringValue: "super")!) }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        TreeDecoder(reader: reader, offset: try offset(key), codingPath: codingPath + [key])
    }
}

private struct UnkeyedReader: UnkeyedDecodingContainer {
    let reader: ByteReader
    let codingPath: [any CodingKey]
    let count: Int?
    private(set) var currentIndex = 0
    private var cursor: Int

    init(reader: ByteReader, offset: Int, codingPath: [any CodingKey]) throws {
        self.reader = reader
        self.codingPath = codingPath
        guard try reader.byte(offset, codingPath) == Tag.unkeyed.rawValue else {
            throw reader.mismatch([Any].self, offset, codingPath)
        }
        var o = offset + 5
        let count = try reader.varint(&o, codingPath)
        guard count <= UInt64(reader.buffer.count) else { throw reader.corrupt(codingPath, "bad element count") }
        self.count = Int(count)
        cursor = o
    }

    var isAtEnd: Bool { currentIndex >= count! }

    private var path: [any CodingKey] { codingPath + [IndexKey(currentIndex)] }

    private mutating func next() throws -> Int {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(
                Any.self,
                .init(codingPath: codingPath, debugDescription: "stored list has only \(count!) elements")
            )
        }
        let offset = cursor
        cursor = try reader.skip(cursor, path)
        currentIndex += 1
        return offset
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, try reader.byte(cursor, path) == Tag.null.rawValue else { return false }
        _ = try next()
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let index = currentIndex
        return try reader.value(type, try next(), codingPath + [IndexKey(index)])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type
    ) throws -> KeyedDecodingContainer<NestedKey> {
        let path = self.path
        return KeyedDecodingContainer(try KeyedReader<NestedKey>(reader: reader, offset: try next(), codingPath: path))
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let path = self.path
        return try UnkeyedReader(reader: reader, offset: try next(), codingPath: path)
    }

    mutating func superDecoder() throws -> any Decoder {
        let path = self.path
        return TreeDecoder(reader: reader, offset: try next(), codingPath: path)
    }
}

private struct SingleReader: SingleValueDecodingContainer {
    let reader: ByteReader
    let offset: Int
    let codingPath: [any CodingKey]

    func decodeNil() -> Bool { (try? reader.byte(offset, codingPath)) == Tag.null.rawValue }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try reader.value(type, offset, codingPath) }
    // The other widths land here from their own `init(from:)`.
    func decode(_ type: Int8.Type) throws -> Int8 { try reader.fixedWidth(type, offset, codingPath) }
    func decode(_ type: Int16.Type) throws -> Int16 { try reader.fixedWidth(type, offset, codingPath) }
    func decode(_ type: Int32.Type) throws -> Int32 { try reader.fixedWidth(type, offset, codingPath) }
    func decode(_ type: UInt.Type) throws -> UInt { try reader.fixedWidth(type, offset, codingPath) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try reader.fixedWidth(type, offset, codingPath) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try reader.fixedWidth(type, offset, codingPath) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try reader.fixedWidth(type, offset, codingPath) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try reader.unsigned(offset, codingPath) }
    func decode(_ type: Float.Type) throws -> Float { Float(try reader.value(Double.self, offset, codingPath)) }
}

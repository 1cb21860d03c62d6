import Foundation
import PartialCancelDomain
import Testing

@testable import PartialCancelStorage

@Suite("Stored body format")
struct BodyCodecTests {
    struct Odd: Codable, Hashable {
        enum Shape: Codable, Hashable {
            case circle(radius: Int64)
            case label(String, Bool)
            case none
        }
        var small: Int8 = -7
        var medium: Int32 = .min
        var unsigned: UInt32 = .max
        var wide: UInt64 = .max
        var int: Int = .min
        var ratio: Double = -0.125
        var single: Float = 1.5
        var text = "naïve — ünïcödé ✓"
        var empty = ""
        var flag = true
        var missing: String?
        var present: Int64? = 0
        var nested: [[Int64]] = [[], [1, -1], [Int64.max]]
        var shapes: [Shape] = [.circle(radius: 3), .label("x", false), .none]
        var map: [String: Int64] = ["a": 1, "b": -2]
        var optionals: [Int64?] = [nil, 5, nil]
    }

    @Test("every kind of value survives a round trip")
    func roundTrip() throws {
        let value = Odd()
        let bytes = try BodyCodec.encode(value)
        #expect(bytes.first == BodyCodec.formatByte)
        #expect(try BodyCodec.decode(Odd.self, from: bytes) == value)
    }

    @Test("the domain's stored types survive a round trip, and the binary form is smaller than JSON")
    func domain() throws {
        let order = try StorageTests.sampleOrder()
        let bytes = try BodyCodec.encode(order)
        #expect(try BodyCodec.decode(Order.self, from: bytes) == order)
        #expect(bytes.count < (try JSONEncoder().encode(order)).count)
        for (channel, payload) in [
            ("marketplace", SamplePayloads.marketplace), ("callcenter", SamplePayloads.callcenter),
        ] {
            let other = try StorageTests.sampleOrder(channel, payload)
            #expect(try BodyCodec.decode(Order.self, from: try BodyCodec.encode(other)) == other)
        }
    }

    @Test("bodies written as JSON before this format are still read")
    func legacyJSON() throws {
        let order = try StorageTests.sampleOrder()
        #expect(try BodyCodec.decode(Order.self, from: Array(try JSONEncoder().encode(order))) == order)
    }

    struct Before: Codable, Hashable {
        var id: String
        var old: Int64
    }
    struct After: Codable, Hashable {
        var id: String
        var added: String?
    }

    @Test("a field added later decodes as absent from older bodies; a removed field is skipped")
    func evolution() throws {
        let bytes = try BodyCodec.encode(Before(id: "x", old: 42))
        #expect(try BodyCodec.decode(After.self, from: bytes) == After(id: "x", added: nil))
    }

    @Test("every truncation and a wrong type fail with a decoding error, never a crash")
    func corrupt() throws {
        let bytes = try BodyCodec.encode(Odd())
        for length in 1..<bytes.count {
            #expect(throws: (any Error).self, "length \(length)") {
                _ = try BodyCodec.decode(Odd.self, from: Array(bytes[..<length]))
            }
        }
        #expect(throws: DecodingError.self) {
            _ = try BodyCodec.decode(
                After.self,
                from: try BodyCodec.encode(Before(id: "x", old: 1)).map { $0 == 0x06 ? 0x03 : $0 }
            )
        }
        #expect(throws: DecodingError.self) {
            _ = try BodyCodec.decode(Int8.self, from: try BodyCodec.encode(Int64(1000)))
        }
        var garbage = bytes
        for i in stride(from: 1, to: garbage.count, by: 7) { garbage[i] = 0xFF }
        #expect(throws: (any Error).self) { _ = try BodyCodec.decode(Odd.self, from: garbage) }
    }
}

@Suite("Body cache")
struct BodyCacheTests {
    @Test("values written in a transaction are kept only when the outermost one commits; a rollback drops its level")
    func followsTransactions() {
        let cache = BodyCache<Int>(capacity: 10)
        cache.begin()
        cache.wrote("a", 1)
        #expect(cache.value("a") == 1)
        cache.begin()  // a savepoint
        cache.wrote("a", 2)
        cache.wrote("b", 2)
        #expect(cache.value("a") == 2)
        cache.rollback()
        #expect(cache.value("a") == 1 && cache.value("b") == nil)
        cache.begin()
        cache.wrote("c", 3)
        cache.commit()  // into the outer level only
        #expect(cache.count == 0)
        cache.commit()
        #expect(cache.value("a") == 1 && cache.value("c") == 3 && cache.count == 2)

        cache.begin()
        cache.wrote("a", 9)
        cache.read("a", 1)  // a read of the committed row must not hide the pending write
        #expect(cache.value("a") == 9)
        cache.rollback()
        #expect(cache.value("a") == 1)
    }

    @Test("the committed map holds at most its capacity, oldest first out")
    func bounded() {
        let cache = BodyCache<Int>(capacity: 3)
        for i in 0..<10 { cache.read("k\(i)", i) }
        #expect(cache.count == 3)
        #expect((0..<7).allSatisfy { cache.value("k\($0)") == nil })
        #expect(cache.value("k9") == 9)
        let none = BodyCache<Int>(capacity: 0)
        none.read("a", 1)
        #expect(none.value("a") == nil)
    }
}

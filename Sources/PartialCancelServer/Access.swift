import Crypto
import Foundation
import PartialCancelWire

/// Who is calling: an API key's name and role, or an anonymous connection.
public struct Principal: Sendable, Hashable {
    public var name: String
    /// `nil` for an anonymous connection (no key in Hello).
    public var role: Role?

    public static let anonymous = Principal(name: "anonymous", role: nil)

    public init(name: String, role: Role?) {
        self.name = name
        self.role = role
    }

    public var roleName: String { role?.rawValue ?? "anonymous" }
}

extension MethodAccess {
    /// `nil` when allowed; otherwise the error to answer with.
    func check(_ principal: Principal, method: String) -> RPCError? {
        switch self {
        case .anonymous:
            return nil
        case .authenticated:
            return principal.role == nil ? Self.unauthenticated(method) : nil
        case .roles(let roles):
            guard let role = principal.role else { return Self.unauthenticated(method) }
            if roles.contains(role) { return nil }
            let allowed = roles.map(\.rawValue).sorted().joined(separator: ",")
            return RPCError(
                .permissionDenied,
                "role \(role.rawValue) may not call \(method)",
                reason: .roleNotAllowed,
                subject: method,
                detail: "allowed: \(allowed)"
            )
        }
    }

    private static func unauthenticated(_ method: String) -> RPCError {
        RPCError(
            .unauthenticated,
            "\(method) needs an API key; send one in Hello",
            reason: .apiKeyRequired,
            subject: method
        )
    }
}

/// An accepted API key as configured: only its SHA-256 is stored.
public struct APIKey: Sendable, Hashable, Codable {
    public var name: String
    public var role: Role
    /// Lower-case hex SHA-256 of the key.
    public var sha256: String

    public init(name: String, role: Role, sha256: String) {
        self.name = name
        self.role = role
        self.sha256 = sha256.lowercased()
    }

    /// An entry for a plaintext key.
    public init(name: String, role: Role, key: String) {
        self.init(name: name, role: role, sha256: Self.hash(key))
    }

    /// Lower-case hex SHA-256 of `key`.
    public static func hash(_ key: String) -> String {
        Secrets.hex(Array(SHA256.hash(data: Array(key.utf8))))
    }

    /// A new random key: 256 bits from the system's CSPRNG, hex, with a recognisable prefix.
    public static func generate() -> String {
        "pck_" + Secrets.randomHex(bytes: 32)
    }
}

/// Resolves the key in a Hello to a principal. Digests are compared in constant time and every
/// configured key is compared, so timing tells nothing about which key came close.
public struct KeyStore: Sendable {
    private let entries: [(digest: [UInt8], key: APIKey)]

    public init(_ keys: [APIKey]) throws(ConfigurationError) {
        var entries: [(digest: [UInt8], key: APIKey)] = []
        for key in keys {
            guard let digest = Self.bytes(fromHex: key.sha256), digest.count == 32 else {
                throw ConfigurationError("api_keys entry '\(key.name)': sha256 must be 64 hex digits")
            }
            entries.append((digest, key))
        }
        self.entries = entries
    }

    /// The principal for `key`; `.anonymous` for an empty key; `nil` for an unknown key.
    public func principal(for key: String) -> Principal? {
        if key.isEmpty { return .anonymous }
        let digest = Array(SHA256.hash(data: Array(key.utf8)))
        var match: APIKey?
        for entry in entries where Secrets.constantTimeEqual(entry.digest, digest) { match = entry.key }
        return match.map { Principal(name: $0.name, role: $0.role) }
    }

    private static func bytes(fromHex hex: String) -> [UInt8]? {
        let utf8 = Array(hex.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// Random identifiers and secret comparison, shared by API keys, confirmation tokens and refund ids.
enum Secrets {
    /// Lower-case hex of `bytes`.
    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    /// `count` bytes from the system's CSPRNG, as hex.
    static func randomHex(bytes count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return hex((0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    /// Compares every byte whatever the first difference, so timing says nothing about where it is.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}

import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Keeps confirmation tokens sealed at rest (AES-256-GCM) with a key that lives outside the data
/// directory, so that the shard files, or a copy of them, never reveal a token.
///
/// Stored customer messages hold `sealedMarker` where the token was, and the token itself sealed
/// in a column of its own (`token_sealed`); reading the message puts the token back. Once an email
/// has been sent, its sealed token is dropped and the marker becomes `removedMarker`.
public struct TokenSealer: Sendable {
    /// What a stored message holds in place of its token while the token is kept sealed.
    public static let sealedMarker = "[token sealed]"
    /// What a sent email's stored copy holds in place of its token (the token is gone from it).
    public static let removedMarker = "[token removed after sending]"
    /// What a message shows when its sealed token cannot be opened (another key file).
    public static let unreadableMarker = "[token unreadable with this server's token key]"

    /// Suffix of the default key file, beside (never inside) the data directory.
    public static let defaultKeyFileSuffix = ".token-key"

    /// The 256-bit key's bytes (`SymmetricKey` is not `Sendable`; a key is made per use).
    private let keyBytes: [UInt8]
    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    /// A sealer with a key of its own that is written nowhere (tests of single shard stores).
    public static func ephemeral() -> TokenSealer {
        TokenSealer(keyBytes: (0..<32).map { _ in UInt8.random(in: 0 ... .max) })
    }

    init(keyBytes: [UInt8]) { self.keyBytes = keyBytes }

    /// The default key file of a data directory: `DATA.token-key`, next to it.
    public static func defaultKeyFile(forDataDirectory directory: String) -> String {
        var path = URL(fileURLWithPath: directory).standardizedFileURL.path
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        return path + defaultKeyFileSuffix
    }

    /// Loads the key file (64 hex digits), creating it with a new random key (mode 0600) on first
    /// start. Refuses a key file inside the data directory — a copy of the directory would then
    /// carry its own key — and one that others may read.
    public static func load(keyFile: String, dataDirectory: String) throws -> TokenSealer {
        let keyPath = resolved(keyFile)
        let dataPath = resolved(dataDirectory)
        if keyPath == dataPath || keyPath.hasPrefix(dataPath.hasSuffix("/") ? dataPath : dataPath + "/") {
            throw StorageError(
                code: 0,
                "storage.token_key_file \(keyFile) is inside the data directory \(dataDirectory); keep it outside, so that a copy of the data directory reveals no token"
            )
        }
        if access(keyFile, F_OK) != 0 { try create(keyFile) }
        var info = stat()
        guard stat(keyFile, &info) == 0 else {
            throw StorageError(code: 0, "storage.token_key_file \(keyFile): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw StorageError(
                code: 0,
                "storage.token_key_file \(keyFile) may be read by others (mode \(String(info.st_mode & 0o777, radix: 8))); chmod 600 it"
            )
        }
        guard let data = FileManager.default.contents(atPath: keyFile) else {
            throw StorageError(code: 0, "storage.token_key_file \(keyFile) cannot be read")
        }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let bytes = hexBytes(text), bytes.count == 32 else {
            throw StorageError(code: 0, "storage.token_key_file \(keyFile) must hold 64 hex digits (a 256-bit key)")
        }
        return TokenSealer(keyBytes: bytes)
    }

    /// Writes a new key atomically: another process creating it at the same time wins or loses
    /// whole (`link` fails if the name exists), so nobody reads half a key.
    private static func create(_ keyFile: String) throws {
        let directory = URL(fileURLWithPath: keyFile).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var random = SystemRandomNumberGenerator()
        let hex = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0 ... .max, using: &random)) }.joined()
        let temporary = "\(keyFile).\(getpid()).\(UInt64.random(in: 0 ... .max)).tmp"
        try DataDirectory.writePrivately(Array((hex + "\n").utf8), to: temporary)
        defer { unlink(temporary) }
        if link(temporary, keyFile) != 0 && errno != EEXIST {
            throw StorageError(
                code: 0,
                "cannot create storage.token_key_file \(keyFile): \(String(cString: strerror(errno)))"
            )
        }
    }

    private static func resolved(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }

    private static func hexBytes(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let byte = UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16) else {
                return nil
            }
            bytes.append(byte)
            index += 2
        }
        return bytes
    }

    /// The token sealed for one place (`context`, e.g. `portal_inbox:web-W-1001/c1`): nonce,
    /// ciphertext and tag. The context is authenticated, so a sealed token copied to another row
    /// does not open there.
    package func seal(_ token: String, context: String) throws -> [UInt8] {
        let box = try AES.GCM.seal(Array(token.utf8), using: key, authenticating: Array(context.utf8))
        guard let combined = box.combined else { throw StorageError(code: 0, "cannot seal a token") }
        return Array(combined)
    }

    /// The token, or nil when `sealed` does not open with this key and context.
    package func open(_ sealed: [UInt8], context: String) -> String? {
        guard let box = try? AES.GCM.SealedBox(combined: sealed),
            let plain = try? AES.GCM.open(box, using: key, authenticating: Array(context.utf8))
        else { return nil }
        return String(decoding: plain, as: UTF8.self)
    }

    /// `body` as stored: the token replaced by the marker (its last occurrence: the token line).
    package static func storedBody(_ body: String, token: String) -> String {
        guard let range = body.range(of: token, options: .backwards) else { return body }
        return body.replacingCharacters(in: range, with: sealedMarker)
    }

    /// `stored` as the customer sees it: the marker replaced by `token` (or by `unreadableMarker`).
    package static func shownBody(_ stored: String, token: String?) -> String {
        guard let range = stored.range(of: sealedMarker, options: .backwards) else { return stored }
        return stored.replacingCharacters(in: range, with: token ?? unreadableMarker)
    }

    /// What a sealed token is bound to: its table and cancellation (AES-GCM's authenticated data).
    package static func inboxContext(_ cancellationID: String) -> String { "portal_inbox:" + cancellationID }
    package static func emailContext(_ cancellationID: String) -> String { "email_outbox:" + cancellationID }
}

import Foundation
import PartialCancelStorage

#if canImport(Glibc)
import Glibc
#endif

/// The embedded default's access: with no keys configured, the server creates one admin key in its
/// data directory on first start (and a portal key beside it, for trying the customer's side). Only the key's hash is what the server trusts (`api-keys.json`);
/// the plaintext is written once to `dev-api-key` (mode 0600) for the local CLI, and may be deleted.
public enum DevelopmentKey {
    public struct Outcome: Sendable {
        /// The keys the server accepts.
        public var keys: [APIKey]
        /// Where the plaintext development key was written.
        public var keyFile: String
        /// The plaintext key, only on the start that created it.
        public var createdKey: String?
    }

    public static let keyFileName = "dev-api-key"
    /// A second development key with role portal, so that the walkthrough can read a customer's inbox.
    public static let portalKeyFileName = "dev-portal-key"
    public static let hashFileName = "api-keys.json"

    public static func ensure(dataDirectory: String) throws -> Outcome {
        let fileManager = FileManager.default
        let directory = URL(fileURLWithPath: dataDirectory)
        try DataDirectory.create(dataDirectory)
        let hashFile = directory.appendingPathComponent(hashFileName).path
        let keyFile = directory.appendingPathComponent(keyFileName).path

        if fileManager.fileExists(atPath: hashFile) {
            let data = try Data(contentsOf: URL(fileURLWithPath: hashFile))
            let configuration = try ConfigurationFile.parse(data, source: hashFile)
            return Outcome(keys: configuration.apiKeys, keyFile: keyFile, createdKey: nil)
        }

        let key = APIKey.generate()
        let portalKey = APIKey.generate()
        let entry = APIKey(name: "development", role: .admin, key: key)
        let portalEntry = APIKey(name: "development-portal", role: .portal, key: portalKey)
        try write(key + "\n", to: keyFile)
        try write(portalKey + "\n", to: directory.appendingPathComponent(portalKeyFileName).path)
        let json = """
            {
              "api_keys": [
                {"name": "\(entry.name)", "role": "\(entry.role.rawValue)", "sha256": "\(entry.sha256)"},
                {"name": "\(portalEntry.name)", "role": "\(portalEntry.role.rawValue)", "sha256": "\(portalEntry.sha256)"}
              ]
            }

            """
        // Written last: its presence means the key files are complete.
        try write(json, to: hashFile)
        return Outcome(keys: [entry, portalEntry], keyFile: keyFile, createdKey: key)
    }

    private static func write(_ text: String, to path: String) throws {
        let temporary = path + ".tmp"
        guard
            FileManager.default.createFile(
                atPath: temporary,
                contents: Data(text.utf8),
                attributes: [.posixPermissions: 0o600]
            )
        else {
            throw ConfigurationError("cannot write \(temporary)")
        }
        guard rename(temporary, path) == 0 else { throw ConfigurationError("cannot rename \(temporary) to \(path)") }
    }
}

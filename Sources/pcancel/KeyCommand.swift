import ArgumentParser
import Crypto
import Foundation

/// Local key management: needs no server.
struct KeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Creates API keys for the server's config file.",
        subcommands: [Generate.self]
    )

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Prints a new random API key and the config entry (its SHA-256) to add to the server's api_keys."
        )

        @Option(name: .long, help: "Name of the key, as it appears in the server's logs.")
        var name: String

        @Option(name: .long, help: "Role: service, agent, portal or admin.")
        var role: String

        // `--json` is the root command's (`pcancel --json key generate` and `pcancel key generate
        // --json` alike): a flag of the same name here would never be set.
        @ParentCommand var root: PCancelCommand

        func validate() throws {
            guard ["service", "agent", "portal", "admin"].contains(role) else {
                throw ValidationError("--role must be service, agent, portal or admin")
            }
            guard !name.isEmpty else { throw ValidationError("--name must not be empty") }
        }

        func run() throws {
            var generator = SystemRandomNumberGenerator()
            let key =
                "pck_"
                + (0..<32).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &generator)) }
                .joined()
            let digest = SHA256.hash(data: Array(key.utf8)).map { String(format: "%02x", $0) }.joined()
            let entry: [String: Any] = ["name": name, "role": role, "sha256": digest]
            if root.connection.json {
                Output.json(["key": key, "config_entry": entry])
            } else {
                let entryJSON = String(
                    decoding: try JSONSerialization.data(withJSONObject: entry, options: [.sortedKeys]),
                    as: UTF8.self
                )
                print("key (give it to the caller; it is not stored anywhere): \(key)")
                print("add to api_keys in the server config: \(entryJSON)")
            }
        }
    }
}

import Foundation

/// Where a command-line tool finds its API key, in order: the value given on the command line, an
/// environment variable, a key file named on the command line, then a default key file (the
/// embedded server's development key in `./pcancel-data`). One rule for the CLI and the load tester.
public enum APIKeySource {
    /// A key file named on the command line that cannot be read.
    public struct UnreadableKeyFile: Error, CustomStringConvertible {
        public let path: String
        public var description: String { "cannot read the key file \(path)" }
    }

    /// Which source `resolve` takes the key from, in words: `--api-key`, `$PCANCEL_API_KEY`, the
    /// named key file, the default file, or none (so that a refused key says where it came from).
    public static func origin(
        given: String?,
        environment: String,
        keyFile: String? = nil,
        defaultFile: String,
        flag: String = "--api-key"
    ) -> String? {
        if given != nil { return flag }
        if let value = ProcessInfo.processInfo.environment[environment], !value.isEmpty { return "$\(environment)" }
        if let keyFile { return "the key file \(keyFile) (\(flag)-file)" }
        if FileManager.default.fileExists(atPath: defaultFile) { return "the development key file \(defaultFile)" }
        return nil
    }

    /// The key, or nil when no source has one. A named `keyFile` must be readable; a missing
    /// `defaultFile` is skipped. Keys read from files are trimmed of surrounding whitespace.
    public static func resolve(
        given: String?,
        environment: String,
        keyFile: String? = nil,
        defaultFile: String
    ) throws -> String? {
        if let given { return given }
        if let value = ProcessInfo.processInfo.environment[environment], !value.isEmpty { return value }
        if let keyFile {
            guard let text = try? String(contentsOfFile: keyFile, encoding: .utf8) else {
                throw UnreadableKeyFile(path: keyFile)
            }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return (try? String(contentsOfFile: defaultFile, encoding: .utf8))?.trimmingCharacters(
            in: .whitespacesAndNewlines
        )
    }
}

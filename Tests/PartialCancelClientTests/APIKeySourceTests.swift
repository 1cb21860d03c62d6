import Foundation
import PartialCancelClient
import PartialCancelTestSupport
import Testing

@Suite("API key sources")
struct APIKeySourceTests {
    @Test(
        "the given key wins, then a named key file (trimmed, and it must be readable), then the default file; none gives nil"
    )
    func order() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pcancel-keys-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let named = directory.appendingPathComponent("named").path
        let fallback = directory.appendingPathComponent("default").path
        try "pck_named\n".write(toFile: named, atomically: true, encoding: .utf8)
        try " pck_default ".write(toFile: fallback, atomically: true, encoding: .utf8)
        let unset = "PCANCEL_TEST_KEY_NEVER_SET"

        #expect(
            try APIKeySource.resolve(given: "pck_given", environment: unset, keyFile: named, defaultFile: fallback)
                == "pck_given"
        )
        #expect(
            try APIKeySource.resolve(given: nil, environment: unset, keyFile: named, defaultFile: fallback)
                == "pck_named"
        )
        #expect(try APIKeySource.resolve(given: nil, environment: unset, defaultFile: fallback) == "pck_default")
        #expect(
            try APIKeySource.resolve(
                given: nil,
                environment: unset,
                defaultFile: directory.appendingPathComponent("absent").path
            ) == nil
        )
        #expect(throws: APIKeySource.UnreadableKeyFile.self) {
            _ = try APIKeySource.resolve(
                given: nil,
                environment: unset,
                keyFile: directory.appendingPathComponent("absent").path,
                defaultFile: fallback
            )
        }
    }
}

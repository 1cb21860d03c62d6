import Foundation
import PartialCancelFuzzing
import PartialCancelTestSupport
import Testing

/// Every seed and every input a fuzzer ever crashed on (Fuzz/Corpus, Fuzz/Crashes) goes through the
/// fuzz targets' code again: none may trap.
@Suite("Fuzz corpus replay")
struct FuzzReplayTests {
    static let targets: [(String, @Sendable (UnsafeRawBufferPointer) -> Void)] = [
        ("frame-decoder", FuzzTargets.frameDecoder), ("codec", FuzzTargets.codec), ("dispatch", FuzzTargets.dispatch),
    ]

    @Test("the seed corpus and every kept crashing input replay without a trap")
    func replay() throws {
        var replayed = 0
        for (name, entry) in Self.targets {
            for folder in ["Fuzz/Corpus", "Fuzz/Crashes"] {
                let directory = Paths.repository.appendingPathComponent("\(folder)/\(name)")
                let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
                for file in files.sorted() {
                    let bytes = try Data(contentsOf: directory.appendingPathComponent(file))
                    bytes.withUnsafeBytes { entry($0) }
                    replayed += 1
                }
            }
        }
        #expect(replayed >= 68)
    }
}

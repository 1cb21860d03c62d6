import Foundation
import PartialCancelTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The README's walkthrough, run as a newcomer runs it: a fresh `pcancel-server` with the embedded
/// default, then every `$ pcancel …` line of the section, in order, with the CLI. Each command's
/// output must show what the README shows — money, states, ids' form — once what differs from run
/// to run (refund ids, tokens, times) is set aside.
@Suite("The README's walkthrough")
struct ReadmeWalkthroughTests {
    struct Step {
        var command: [String]
        var expected: [String]
    }

    static let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("README.md")

    /// The `$ pcancel …` lines of the walkthrough section and the output shown under each.
    static func steps() throws -> [Step] {
        let text = try String(contentsOf: readme, encoding: .utf8)
        let start = try #require(text.range(of: "## Walkthrough: the three use cases"))
        let rest = text[start.upperBound...]
        let section = rest[..<(rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex)]
        var steps: [Step] = []
        var inBlock = false
        for line in section.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") {
                inBlock.toggle()
                continue
            }
            guard inBlock else { continue }
            if line.hasPrefix("$ pcancel ") {
                steps.append(Step(command: line.dropFirst(2).split(separator: " ").map(String.init), expected: []))
            } else if !steps.isEmpty {
                steps[steps.count - 1].expected.append(String(line))
            }
        }
        return steps
    }

    /// What differs from run to run, set aside: refund ids, tokens, times.
    static func normalized(_ line: String) -> String {
        line.replacing(/rf_[0-9a-f]{32}/, with: "rf_ID").replacing(/[0-9a-f]{64}/, with: "TOKEN")
            .replacing(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/, with: "TIME")
    }

    /// Whether `actual` shows `expected`: line by line from the start, `…` standing for any lines,
    /// more lines after the last one allowed. History lines (`  #N …`) are matched in any order
    /// among the actual ones: payment results land a moment after their refund, at a moment of
    /// their own.
    static func mismatch(expected: [String], actual: [String]) -> String? {
        let history = Set(
            actual.filter { $0.hasPrefix("  #") }.map {
                normalized(String($0.drop { $0 == " " || $0 == "#" }.drop { $0.isNumber }))
            }
        )
        let lines = actual.filter { !$0.hasPrefix("  #") }.map(normalized)
        var position = 0
        var skipping = false
        for want in expected {
            let trimmed = want.trimmingCharacters(in: .whitespaces)
            if trimmed == "…" {
                skipping = true
                continue
            }
            if want.hasPrefix("  #") {
                let entry = normalized(String(want.drop { $0 == " " || $0 == "#" }.drop { $0.isNumber }))
                if !history.contains(entry) { return "no history entry like '\(want)'" }
                continue
            }
            let target = normalized(want)
            if skipping {
                guard let found = lines[position...].firstIndex(of: target) else { return "no line '\(want)' after …" }
                position = found + 1
                skipping = false
            } else {
                guard position < lines.count, lines[position] == target else {
                    return "expected '\(want)', got '\(position < lines.count ? lines[position] : "(end)")'"
                }
                position += 1
            }
        }
        return nil
    }

    @Test("every command of the walkthrough prints what the README shows")
    func walkthrough() async throws {
        let steps = try Self.steps()
        #expect(steps.count >= 10)
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await ServerProcess.start(arguments: ["--port", "0"], workingDirectory: directory)
        let pcancel = try Paths.executable("pcancel")
        let address = "127.0.0.1:\(server.port)"
        func run(_ arguments: [String]) async throws -> (status: Int32, output: String, error: String) {
            try await runCommand(
                pcancel,
                ["--server", address] + arguments,
                workingDirectory: directory,
                environment: [:]
            )
        }
        /// The customer's token for a request, from the portal inbox (as the README reads it).
        func token(for id: String) async throws -> String {
            let inbox = try await run([
                "--json", "notifications", "--account", "acct-42", "--api-key-file", "pcancel-data/dev-portal-key",
            ])
            let object = try JSONSerialization.jsonObject(with: Data(inbox.output.utf8)) as? [String: Any]
            let bodies = ((object?["notifications"] as? [[String: Any]]) ?? []).filter {
                $0["cancellation_id"] as? String == id
            }.compactMap { $0["body"] as? String }
            let line = try #require(bodies.flatMap { $0.split(separator: "\n") }.first { $0.hasPrefix("Token: ") })
            return String(line.dropFirst("Token: ".count))
        }
        for step in steps {
            var arguments = Array(step.command.dropFirst())
            if let flag = arguments.firstIndex(of: "--token"), flag + 1 < arguments.count {
                arguments[flag + 1] = try await token(for: arguments[1])
            }
            let result = try await run(arguments)
            let shown = result.output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            #expect(result.status == 0, "\(step.command.joined(separator: " ")): \(result.error)")
            if let problem = Self.mismatch(expected: step.expected, actual: shown) {
                Issue.record("\(step.command.joined(separator: " ")): \(problem)\n\(result.output)")
            }
            // A person reads the answer before the next command: the payment result and the stock
            // release of a confirmation have landed by then.
            if arguments.first == "confirm" { try await Task.sleep(nanoseconds: 600_000_000) }
        }
        server.signal(SIGTERM)
        #expect(await server.waitForExit(timeout: 15) == 0)
    }
}

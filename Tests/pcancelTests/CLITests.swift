import Foundation
import PartialCancelClient
import PartialCancelDomain
import PartialCancelServer
import PartialCancelTestSupport
import PartialCancelWire
import Testing

@testable import pcancel

@Suite("pcancel: arguments")
struct ArgumentTests {
    @Test(
        "--line takes LINE (all remaining units) or LINE:QUANTITY with a quantity of at least 1; a colon without a quantity is refused"
    )
    func lineArgument() {
        #expect(LineArgument(argument: "L1")?.line == CancelLine(lineID: "L1"))
        #expect(LineArgument(argument: "L2b:3")?.line == CancelLine(lineID: "L2b", quantity: 3))
        for refused in ["", ":1", ":", "L1:", "L1:0", "L1:-2", "L1:x", "L1:1.5"] {
            #expect(LineArgument(argument: refused) == nil, "\(refused)")
        }
    }
}

@Suite("pcancel key")
struct KeyCommandTests {
    @Test("every executable answers --version with the release")
    func versions() async throws {
        for name in ["pcancel", "pcancel-server", "pcancel-load", "pcancel-audit"] {
            let result = try await runCommand(try Paths.executable(name), ["--version"], environment: [:])
            #expect(result.status == 0 && result.output == "\(pcancelVersion)\n", "\(name): \(result)")
        }
    }

    @Test("key generate --json prints the key and its config entry, wherever --json is written")
    func generateJSON() async throws {
        let pcancel = try Paths.executable("pcancel")
        for arguments in [
            ["key", "generate", "--name", "svc", "--role", "service", "--json"],
            ["--json", "key", "generate", "--name", "svc", "--role", "service"],
        ] {
            let run = try await runCommand(pcancel, arguments, environment: [:])
            #expect(run.status == 0, "\(run)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
            let key = try #require(object["key"] as? String)
            let entry = try #require(object["config_entry"] as? [String: String])
            #expect(key.hasPrefix("pck_") && key.count == 68)
            #expect(entry["name"] == "svc" && entry["role"] == "service" && entry["sha256"] == APIKey.hash(key))
        }
    }
}

/// The CLI as a user runs it: a real `pcancel-server` child process, `pcancel` commands against it.
@Suite("pcancel: the executable", .serialized)
struct CLIProcessTests {
    @Test("the embedded default creates a development key once, and the CLI uses it")
    func embeddedDefaultAndCLI() async throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let pcancel = try Paths.executable("pcancel")

        var server = try await ServerProcess.start(arguments: ["--port", "0"], workingDirectory: directory)
        #expect(server.lines.contains { $0.hasPrefix("created a development API key") })
        #expect(server.lines.contains { $0.hasPrefix("development key file: ") })
        let keyFile = directory.appendingPathComponent("pcancel-data/dev-api-key")
        let attributes = try FileManager.default.attributesOfItem(atPath: keyFile.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let hashes = try String(
            contentsOf: directory.appendingPathComponent("pcancel-data/api-keys.json"),
            encoding: .utf8
        )
        let key = try String(contentsOf: keyFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!hashes.contains(key))
        #expect(hashes.contains(APIKey.hash(key)))

        let address = "127.0.0.1:\(server.port)"
        // The CLI finds ./pcancel-data/dev-api-key by itself.
        let ping = try await runCommand(
            pcancel,
            ["--server", address, "--json", "ping", "--count", "200", "--concurrency", "8"],
            workingDirectory: directory,
            environment: [:]
        )
        #expect(ping.status == 0, "\(ping.error)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(ping.output.utf8)) as? [String: Any])
        #expect(summary["ok"] as? Int == 200)
        #expect(summary["failed"] as? Int == 0)
        #expect((summary["latency_us"] as? [String: Any])?["p99"] != nil)

        // Health without a key: the status and readiness only; with the key, the details too.
        let health = try await runCommand(
            pcancel,
            ["health", "--server", address, "--json", "--api-key", ""],
            environment: [:]
        )
        #expect(health.status == 0)
        #expect(health.output.contains("\"status\":\"SERVING\"") && health.output.contains("\"ready\":true"))
        #expect(
            !health.output.contains("server_version") && !health.output.contains("connections")
                && !health.output.contains("shards")
        )
        let keyed = try await runCommand(
            pcancel,
            ["health", "--server", address, "--json"],
            workingDirectory: directory,
            environment: [:]
        )
        #expect(keyed.status == 0, "\(keyed.error)")
        let details = try #require(try JSONSerialization.jsonObject(with: Data(keyed.output.utf8)) as? [String: Any])
        #expect(details["status"] as? String == "SERVING" && details["ready"] as? Bool == true)
        #expect((details["server_version"] as? String)?.isEmpty == false && (details["connections"] as? Int ?? 0) >= 1)
        #expect((details["shards"] as? [Any])?.isEmpty == false)
        let text = try await runCommand(pcancel, ["health", "--server", address, "--api-key", ""], environment: [:])
        #expect(text.status == 0 && text.output.hasPrefix("SERVING  ready  ") && !text.output.contains("uptime"))

        let denied = try await runCommand(
            pcancel,
            ["ping", "--server", address, "--api-key", "pck_wrong"],
            environment: [:]
        )
        #expect(denied.status == 5)
        #expect(denied.error.contains("UNAUTHENTICATED"))

        // Sample data was seeded; orders read back through the CLI, and a new one ingests from a file.
        #expect(
            server.lines.contains {
                $0.contains("seeded sample stock and orders: web-W-1001, marketplace-MP-5001, callcenter-CC-3001")
            }
        )
        let get = try await runCommand(
            pcancel,
            ["--server", address, "--json", "order", "get", "web-W-1001"],
            workingDirectory: directory,
            environment: [:]
        )
        #expect(get.status == 0, "\(get.error)")
        let order = try #require(try JSONSerialization.jsonObject(with: Data(get.output.utf8)) as? [String: Any])
        #expect(((order["order"] as? [String: Any])?["totals"] as? [String: Any])?["total"] as? Int == 79_504)
        let file = directory.appendingPathComponent("mp.json")
        try SamplePayloads.marketplace.replacingOccurrences(of: "MP-5001", with: "MP-5002").write(
            to: file,
            atomically: true,
            encoding: .utf8
        )
        let ingest = try await runCommand(
            pcancel,
            ["--server", address, "--json", "order", "ingest", "--channel", "marketplace", "--file", file.path],
            workingDirectory: directory,
            environment: [:]
        )
        #expect(ingest.status == 0, "\(ingest.error)")
        #expect(ingest.output.contains("\"created\":true") && ingest.output.contains("marketplace-MP-5002"))
        let stock = try await runCommand(
            pcancel,
            ["--server", address, "--json", "stock", "get", "MUG-01", "WH-EAST"],
            workingDirectory: directory,
            environment: [:]
        )
        #expect(stock.output.contains("\"on_hand\":120"))
        let refused = try await runCommand(
            pcancel,
            ["--server", address, "order", "ingest", "--channel", "web", "--file", file.path],
            workingDirectory: directory,
            environment: [:]
        )
        #expect(refused.status == 2)
        #expect(refused.error.contains("FIELD_REQUIRED"))
        let letters = try await runCommand(
            pcancel,
            ["--server", address, "dlq", "list"],
            workingDirectory: directory,
            environment: [:]
        )
        #expect(letters.output.contains("intake/web"))
        let events = directory.appendingPathComponent("warehouse.json")
        try
            #"{"events": [{"event_id": "wms-cli-1", "order_id": "web-W-1001", "line_id": "L1", "status": "picked", "at": "2026-12-03T10:15:00Z"}, {"event_id": "wms-cli-2", "order_id": "web-W-1001", "line_id": "L7", "status": "picked", "at": "2026-12-03T10:15:00Z"}]}"#
            .write(to: events, atomically: true, encoding: .utf8)
        let recorded = try await runCommand(
            pcancel,
            ["--server", address, "fulfilment", "record", "--source", "warehouse", "--file", events.path],
            workingDirectory: directory,
            environment: [:]
        )
        // One event applied, one refused (no line L7): the refusal makes the exit status 1.
        #expect(recorded.status == 1, "\(recorded.error)")
        #expect(
            recorded.output.contains("APPLIED   warehouse wms-cli-1  web-W-1001 L1  version 2"),
            "\(recorded.output)"
        )
        #expect(recorded.output.contains("REFUSED   warehouse wms-cli-2") && recorded.output.contains("its lines: L1"))
        #expect(recorded.output.contains("(dead letter dl-"))
        let sources = try await runCommand(
            pcancel,
            ["--server", address, "sources"],
            workingDirectory: directory,
            environment: [:]
        )
        // The web channel's one order was refused above, but the default rule wants 20 events in the
        // window before it judges a share: every source is OK, and the table lists them all.
        #expect(sources.status == 0, "\(sources.output)\(sources.error)")
        for name in ["web", "marketplace", "callcenter", "warehouse", "3pl"] {
            #expect(
                sources.output.contains("\n\(name.padding(toLength: 11, withPad: " ", startingAt: 0))  "),
                "\(name)"
            )
        }
        #expect(sources.output.contains("warehouse    fulfilment  OK "), "\(sources.output)")

        let unreachable = try await runCommand(
            pcancel,
            ["health", "--server", "127.0.0.1:1", "--json"],
            environment: [:]
        )
        #expect(unreachable.status == 6)
        #expect(unreachable.output.contains("\"code\":\"UNAVAILABLE\""))
        // In words for a person: what is wrong at which address, and what to do about it.
        let down = try await runCommand(pcancel, ["health", "--server", "127.0.0.1:1"], environment: [:])
        #expect(down.status == 6)
        #expect(down.error.contains("cannot connect to 127.0.0.1:1: connection refused (no server is listening there)"))
        #expect(down.error.contains("hint: start a server with tools/serve"))
        // A key the server does not know: the hint names where the CLI took it from.
        let wrong = try await runCommand(
            pcancel,
            ["ping", "--server", address, "--api-key", "pck_nobody"],
            workingDirectory: directory,
            environment: [:]
        )
        #expect(wrong.status != 0 && wrong.error.contains("API_KEY_UNKNOWN"), "\(wrong.error)")
        #expect(wrong.error.contains("hint: the server knows no such key; it came from --api-key"))

        server.signal(SIGTERM)
        #expect(await server.waitForExit(timeout: 15) == 0)

        // Second start: the same key, not shown again.
        server = try await ServerProcess.start(arguments: ["--port", "0"], workingDirectory: directory)
        #expect(!server.lines.contains { $0.contains(key) })
        let again = try await runCommand(
            pcancel,
            ["ping", "--server", "127.0.0.1:\(server.port)", "--api-key", key],
            environment: [:]
        )
        #expect(again.status == 0)
        server.signal(SIGINT)
        #expect(await server.waitForExit(timeout: 15) == 0)
    }
}

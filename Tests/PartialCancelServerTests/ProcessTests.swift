import Foundation
import NIOCore
import PartialCancelClient
import PartialCancelServer
import PartialCancelWire
import Testing

/// The real executables: `pcancel-server` started as a child process, `pcancel` run against it.
@Suite("Executables", .serialized)
struct ProcessTests {
    @Test("SIGTERM with calls in flight: every call is answered, new calls get UNAVAILABLE, exit 0")
    func sigterm() async throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = "pck_process_test"
        let config = directory.appendingPathComponent("config.json")
        try """
        {"api_keys": [{"name": "ops", "role": "admin", "sha256": "\(APIKey.hash(key))"}],
         "limits": {"shutdown_grace_period_ms": 10000}}
        """.write(to: config, atomically: true, encoding: .utf8)
        let server = try ServerProcess(arguments: ["--config", config.path, "--data-dir", directory.path, "--port", "0"], workingDirectory: directory)
        let client = try await PartialCancelClient.connect(.init(port: server.port, apiKey: key))
        let calls = (0..<10).map { index in
            client.start(Methods.ping, request: PingRequest(payload: ByteBuffer(string: "\(index)"), delayMs: 500).encoded()).response
        }
        // Frames are handled in order: once the pong is back, every call is in flight on the server.
        try await client.pingFrame()
        server.signal(SIGTERM)
        for (index, call) in calls.enumerated() {
            #expect(try await PingResponse(decoding: call.get()).payload == ByteBuffer(string: "\(index)"))
        }
        let status = await server.waitForExit(timeout: 15)
        #expect(status == 0)
        await #expect(throws: ClientError.self) { _ = try await client.ping() }
        await client.close()
    }

    @Test("the embedded default creates a development key once, and the CLI uses it")
    func embeddedDefaultAndCLI() async throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let pcancel = try Paths.executable("pcancel")

        var server = try ServerProcess(arguments: ["--port", "0"], workingDirectory: directory)
        #expect(server.lines.contains { $0.hasPrefix("created a development API key") })
        #expect(server.lines.contains { $0.hasPrefix("development key file: ") })
        let keyFile = directory.appendingPathComponent("pcancel-data/dev-api-key")
        let attributes = try FileManager.default.attributesOfItem(atPath: keyFile.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let hashes = try String(contentsOf: directory.appendingPathComponent("pcancel-data/api-keys.json"), encoding: .utf8)
        let key = try String(contentsOf: keyFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!hashes.contains(key))
        #expect(hashes.contains(APIKey.hash(key)))

        let address = "127.0.0.1:\(server.port)"
        // The CLI finds ./pcancel-data/dev-api-key by itself.
        let ping = try runCommand(pcancel, ["--server", address, "--json", "ping", "--count", "200", "--concurrency", "8"], workingDirectory: directory, environment: [:])
        #expect(ping.status == 0, "\(ping.error)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(ping.output.utf8)) as? [String: Any])
        #expect(summary["ok"] as? Int == 200)
        #expect(summary["failed"] as? Int == 0)
        #expect((summary["latency_us"] as? [String: Any])?["p99"] != nil)

        let health = try runCommand(pcancel, ["health", "--server", address, "--json", "--api-key", ""], environment: [:])
        #expect(health.status == 0)
        #expect(health.output.contains("\"status\":\"SERVING\""))

        let denied = try runCommand(pcancel, ["ping", "--server", address, "--api-key", "pck_wrong"], environment: [:])
        #expect(denied.status == 5)
        #expect(denied.error.contains("UNAUTHENTICATED"))

        let unreachable = try runCommand(pcancel, ["health", "--server", "127.0.0.1:1", "--json"], environment: [:])
        #expect(unreachable.status == 6)
        #expect(unreachable.output.contains("\"code\":\"UNAVAILABLE\""))

        server.signal(SIGTERM)
        #expect(await server.waitForExit(timeout: 15) == 0)

        // Second start: the same key, not shown again.
        server = try ServerProcess(arguments: ["--port", "0"], workingDirectory: directory)
        #expect(!server.lines.contains { $0.contains(key) })
        let again = try runCommand(pcancel, ["ping", "--server", "127.0.0.1:\(server.port)", "--api-key", key], environment: [:])
        #expect(again.status == 0)
        server.signal(SIGINT)
        #expect(await server.waitForExit(timeout: 15) == 0)
    }

    @Test("a bad config file is refused with a message naming the setting")
    func badConfig() throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("config.json")
        try #"{"limits": {"max_frame_bytez": 10}}"#.write(to: config, atomically: true, encoding: .utf8)
        let result = try runCommand(try Paths.executable("pcancel-server"), ["--config", config.path, "--port", "0"], workingDirectory: directory)
        #expect(result.status != 0)
        #expect(result.error.contains("limits.max_frame_bytez"))
    }
}

/// Google's Python protobuf runtime, speaking our framing from docs/PROTOCOL.md.
@Suite("Interop")
struct InteropTests {
    @Test("a Python client built from the .proto files and the protocol doc passes every check")
    func python() async throws {
        let server = try await TestServer.start()
        let script = Paths.repository.appendingPathComponent("Tests/Interop/interop_client.py")
        let result = try runCommand(URL(fileURLWithPath: "/usr/bin/env"),
                                    ["python3", script.path, "--host", "127.0.0.1", "--port", "\(server.port)", "--api-key", TestServer.adminKey])
        try await server.stop()
        let last = result.output.split(separator: "\n").last.map(String.init) ?? ""
        #expect(result.status == 0, "interop client output:\n\(result.output)\n\(result.error)")
        #expect(last.hasPrefix("interop: ") && last.hasSuffix(" passed, 0 failed"), "\(last)")
    }
}

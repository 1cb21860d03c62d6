import Foundation
import Logging
import NIOCore
import NIOPosix
import PartialCancelClient
import PartialCancelDomain
import PartialCancelServer
import PartialCancelStorage
import PartialCancelTestSupport
import PartialCancelWire
import Testing

/// The real executables: `pcancel-server` started as a child process, `pcancel` run against it.
@Suite("Executables", .serialized)
struct ProcessTests {
    @Test("SIGHUP reloads the keys and rules from the configuration; open connections stay open; the process stays up")
    func sighup() async throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (first, second) = ("pck_reload_first", "pck_reload_second")
        let config = directory.appendingPathComponent("config.json")
        try """
        {"api_keys": [{"name": "ops", "role": "admin", "sha256": "\(APIKey.hash(first))"}]}
        """.write(to: config, atomically: true, encoding: .utf8)
        let server = try await ServerProcess.start(
            arguments: [
                "--config", config.path, "--data-dir", directory.appendingPathComponent("data").path, "--port", "0",
            ],
            workingDirectory: directory
        )
        let client = try await PartialCancelClient.connect(.init(port: server.port, apiKey: first))
        func ingest(_ external: String) async throws -> IngestOrderResponse {
            try await client.call(
                Methods.ingestOrder,
                IngestOrderRequest(
                    channel: "web",
                    payload: ByteBuffer(string: SamplePayloads.web.replacingOccurrences(of: "W-1001", with: external))
                ),
                as: IngestOrderResponse.self
            )
        }
        #expect(try await ingest("W-5000").created)
        await #expect(throws: ClientError.self) {
            _ = try await PartialCancelClient.connect(.init(port: server.port, apiKey: second))
        }

        // A second key, and a web rule no sample order passes.
        try """
        {"api_keys": [{"name": "ops", "role": "admin", "sha256": "\(APIKey.hash(first))"},
                      {"name": "ops-2", "role": "agent", "sha256": "\(APIKey.hash(second))"}],
         "intake": {"rules": [{"channel": "web", "max_order_total": 100}]}}
        """.write(to: config, atomically: true, encoding: .utf8)
        server.signal(SIGHUP)
        var joined: PartialCancelClient?
        try await waitFor("the second key to be accepted") {
            joined = try? await PartialCancelClient.connect(.init(port: server.port, apiKey: second))
            return joined != nil
        }
        #expect(joined?.server.role == "agent")
        // The connection made before the reload is still open, and the new rule applies to it.
        _ = try await client.ping()
        do {
            _ = try await ingest("W-5001")
            Issue.record("an order over the reloaded rule was ingested")
        } catch let error as ClientError {
            #expect(error.status.reasons.first?.code == "INTAKE_RULE")
        }
        // A broken configuration is not taken: the running one stays.
        try "{".write(to: config, atomically: true, encoding: .utf8)
        server.signal(SIGHUP)
        try await Task.sleep(nanoseconds: 300_000_000)
        _ = try await client.ping()
        #expect(server.process.isRunning)
        await joined?.close()
        await client.close()
        server.signal(SIGTERM)
        #expect(await server.waitForExit(timeout: 15) == 0)
    }

    @Test("a port already in use is named, and nothing is created: no data directory, no key, no sample data")
    func portInUse() async throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = try SMTPServer.freePort()
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        #expect(bound == 0 && listen(fd, 1) == 0)
        let result = try await runCommand(
            try Paths.executable("pcancel-server"),
            ["--port", "\(port)"],
            workingDirectory: directory,
            environment: [:]
        )
        #expect(result.status != 0)
        #expect(result.error.contains("127.0.0.1:\(port) is already in use"), "\(result.error)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }

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
        let server = try await ServerProcess.start(
            arguments: ["--config", config.path, "--data-dir", directory.path, "--port", "0"],
            workingDirectory: directory
        )
        let client = try await PartialCancelClient.connect(.init(port: server.port, apiKey: key))
        let calls = (0..<10).map { index in
            client.start(
                Methods.ping,
                request: PingRequest(payload: ByteBuffer(string: "\(index)"), delayMs: 500).encoded()
            ).response
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

    @Test("a bad config file is refused with a message naming the setting")
    func badConfig() async throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("config.json")
        try #"{"limits": {"max_frame_bytez": 10}}"#.write(to: config, atomically: true, encoding: .utf8)
        let result = try await runCommand(
            try Paths.executable("pcancel-server"),
            ["--config", config.path, "--port", "0"],
            workingDirectory: directory
        )
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
        let result = try await runCommand(
            URL(fileURLWithPath: "/usr/bin/env"),
            [
                "python3", script.path, "--host", "127.0.0.1", "--port", "\(server.port)", "--api-key",
                TestServer.adminKey,
            ]
        )
        try await server.stop()
        let last = result.output.split(separator: "\n").last.map(String.init) ?? ""
        #expect(result.status == 0, "interop client output:\n\(result.output)\n\(result.error)")
        #expect(last.hasPrefix("interop: ") && last.hasSuffix(" passed, 0 failed"), "\(last)")
    }
}

/// SPEC section 12 for stock: a server killed with SIGKILL while cross-shard reservations are in
/// flight loses and doubles nothing once restarted.
@Suite("Crash safety", .serialized)
struct CrashTests {
    @Test("SIGKILL during intake: after restart every acknowledged order is stored and reserved = Σ open reservations")
    func killDuringIntake() async throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = "pck_crash_test"
        let config = directory.appendingPathComponent("config.json")
        try """
        {"api_keys": [{"name": "svc", "role": "admin", "sha256": "\(APIKey.hash(key))"}],
         "storage": {"shards": 2, "synchronous": "FULL"}, "seed_sample_data": false}
        """.write(to: config, atomically: true, encoding: .utf8)
        let arguments = [
            "--config", config.path, "--data-dir", directory.appendingPathComponent("data").path, "--port", "0",
        ]
        var acknowledged: Set<String> = []

        for round in 0..<3 {
            let server = try await ServerProcess.start(arguments: arguments, workingDirectory: directory)
            let client = try await PartialCancelClient.connect(.init(port: server.port, apiKey: key))
            let calls = (0..<150).map { index in
                let payload = SamplePayloads.web.replacingOccurrences(of: "W-1001", with: "W-\(round)-\(index)")
                return client.start(
                    Methods.ingestOrder,
                    request: IngestOrderRequest(channel: "web", payload: ByteBuffer(string: payload)).encoded()
                )
            }
            // Kill after the first acknowledgements, with later ingests and deliveries still in flight.
            for (index, call) in calls.enumerated() {
                if index == 60 { server.signal(SIGKILL) }
                if let bytes = try? await call.response.get(), let response = try? IngestOrderResponse(decoding: bytes)
                {
                    acknowledged.insert(response.order.id)
                }
            }
            _ = await server.waitForExit(timeout: 10)
            await client.close()
        }
        #expect(acknowledged.count >= 60)

        // Restart: undelivered reservations are redelivered; then audit from the databases themselves.
        let server = try await ServerProcess.start(arguments: arguments, workingDirectory: directory)
        let client = try await PartialCancelClient.connect(.init(port: server.port, apiKey: key))
        for _ in 0..<200 {
            if try await client.health().shards.allSatisfy({ $0.outboxBacklog == 0 }) { break }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        await client.close()
        server.signal(SIGTERM)
        #expect(await server.waitForExit(timeout: 15) == 0)

        var storageConfiguration = StorageConfiguration()
        storageConfiguration.shards = 2
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let storage = try Storage.open(
            directory: directory.appendingPathComponent("data").path,
            configuration: storageConfiguration,
            eventLoop: loop,
            logger: Logger(label: "audit")
        )
        defer { storage.close() }
        try await storage.waitForDelivery(on: loop).get()
        let stored = Set(try await storage.allOrders(on: loop).get().map(\.id))
        #expect(
            acknowledged.isSubset(of: stored),
            "acknowledged but lost: \(acknowledged.subtracting(stored).sorted().prefix(5))"
        )
        let discrepancies = try await storage.auditReservations(on: loop).get()
        #expect(discrepancies.isEmpty, "\(discrepancies)")
    }
}

/// SPEC section 12 for confirmations: an acknowledged confirmation is never lost and never applied
/// twice, across SIGKILL at any moment and restart.
@Suite("Crash safety of confirmations", .serialized)
struct ConfirmationCrashTests {
    @Test(
        "SIGKILL during confirmations: every acknowledged refund survives unchanged, none is issued twice, money and stock add up"
    )
    func killDuringConfirmations() async throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let admin = "pck_crash_admin"
        let portalKey = "pck_crash_portal"
        let config = directory.appendingPathComponent("config.json")
        try """
        {"api_keys": [{"name": "ops", "role": "admin", "sha256": "\(APIKey.hash(admin))"},
                      {"name": "portal", "role": "portal", "sha256": "\(APIKey.hash(portalKey))"}],
         "storage": {"shards": 2, "synchronous": "FULL"}}
        """.write(to: config, atomically: true, encoding: .utf8)
        let data = directory.appendingPathComponent("data").path
        let arguments = ["--config", config.path, "--data-dir", data, "--port", "0"]
        let orders = (0..<40).map { "web-K-\($0)" }

        // Orders and pending requests, each with the customer's token.
        var server = try await ServerProcess.start(arguments: arguments, workingDirectory: directory)
        var client = try await PartialCancelClient.connect(.init(port: server.port, apiKey: admin))
        var portal = try await PartialCancelClient.connect(.init(port: server.port, apiKey: portalKey))
        var tokens: [String: String] = [:]
        for order in orders {
            let payload = SamplePayloads.web.replacingOccurrences(of: "W-1001", with: String(order.dropFirst(4)))
            _ = try await client.call(
                Methods.ingestOrder,
                IngestOrderRequest(channel: "web", payload: ByteBuffer(string: payload)),
                as: IngestOrderResponse.self
            )
            let lines = [CancelLine(lineID: "L1", quantity: 1), CancelLine(lineID: "L2b")]
            let request = try await client.call(
                Methods.requestCancellation,
                RequestCancellationRequest(orderID: order, lines: lines, reasonCode: "CRASH_TEST"),
                as: RequestCancellationResponse.self
            ).cancellation
            tokens[request.id] = try await ConfirmationTests.token(portal, for: request.id)
        }

        // Confirm them all at once and kill the server while they are in flight.
        var acknowledged: [String: RefundView] = [:]
        let calls = tokens.map { id, token in
            (
                id,
                client.start(
                    Methods.confirmCancellation,
                    request: ConfirmCancellationRequest(id: id, token: token).encoded()
                ).response
            )
        }
        // Kill as soon as the first answer is in: the other confirmations are queued or committing.
        for (index, (id, call)) in calls.enumerated() {
            if let bytes = try? await call.get(), let response = try? ConfirmCancellationResponse(decoding: bytes),
                let refund = response.refund
            {
                acknowledged[id] = refund
            }
            if index == 0 { server.signal(SIGKILL) }
        }
        #expect(acknowledged.count >= 1)
        _ = await server.waitForExit(timeout: 10)
        await client.close()
        await portal.close()

        // Restart and confirm everything again: acknowledged ones answer with the same refund, the rest confirm now.
        server = try await ServerProcess.start(arguments: arguments, workingDirectory: directory)
        client = try await PartialCancelClient.connect(.init(port: server.port, apiKey: admin))
        portal = try await PartialCancelClient.connect(.init(port: server.port, apiKey: portalKey))
        for (id, token) in tokens {
            let response = try await client.call(
                Methods.confirmCancellation,
                ConfirmCancellationRequest(id: id, token: token),
                as: ConfirmCancellationResponse.self
            )
            if let before = acknowledged[id] { #expect(response.refund == before, "\(id)") }
        }
        for _ in 0..<200 {
            if try await client.health().shards.allSatisfy({ $0.outboxBacklog == 0 }) { break }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        await client.close()
        await portal.close()
        server.signal(SIGTERM)
        #expect(await server.waitForExit(timeout: 15) == 0)

        // Audit from the databases.
        var storageConfiguration = StorageConfiguration()
        storageConfiguration.shards = 2
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let storage = try Storage.open(
            directory: data,
            configuration: storageConfiguration,
            eventLoop: loop,
            logger: Logger(label: "audit")
        )
        defer { storage.close() }
        try await storage.waitForDelivery(on: loop).get()
        for order in orders {
            let stored = try #require(try await storage.order(order, on: loop).get()?.order)
            let refunds = try await storage.refunds(orderID: order, on: loop).get()
            #expect(refunds.count == 1, "\(order): \(refunds.count) refunds")
            let refunded = refunds.map(\.amount).reduce(0, +)
            #expect(refunded == stored.totals.refunded)
            #expect(refunded + stored.totals.total == 79_504)
            #expect(refunded == 6421 + 2675)
            #expect(stored.lines.first { $0.id == "L1" }?.cancelledQuantity == 1)
            #expect(stored.tenders.map(\.refunded).reduce(0, +) == refunded)
        }
        #expect(try await storage.auditReservations(on: loop).get().isEmpty)
        for (id, _) in tokens {
            #expect(try await storage.cancellation(id, on: loop).get()?.lifecycle.state == .completed, "\(id)")
        }
    }
}

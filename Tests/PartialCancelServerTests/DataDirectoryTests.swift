import Foundation
import NIOCore
import PartialCancelClient
import PartialCancelDomain
import PartialCancelServer
import PartialCancelStorage
import PartialCancelTestSupport
import PartialCancelWire
import Testing

/// Every regular file under `directory` (recursively, symbolic links not followed), with its bytes.
func filesUnder(_ directory: URL) -> [(path: String, bytes: Data)] {
    var found: [(String, Data)] = []
    guard let enumerator = FileManager.default.enumerator(atPath: directory.path) else { return [] }
    while let relative = enumerator.nextObject() as? String {
        let path = directory.appendingPathComponent(relative).path
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
        found.append((path, FileManager.default.contents(atPath: path) ?? Data()))
    }
    return found
}

/// Mode bits (`0o777`) of `path`, not following a symbolic link.
func mode(_ path: String) -> mode_t {
    var info = stat()
    guard lstat(path, &info) == 0 else { return 0o7777 }
    return info.st_mode & 0o777
}

/// Checks that the data directory and every directory in it are 0700 and every file 0600.
func expectPrivate(_ directory: URL, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(
        mode(directory.path) == 0o700,
        "data directory mode \(String(mode(directory.path), radix: 8))",
        sourceLocation: sourceLocation
    )
    guard let enumerator = FileManager.default.enumerator(atPath: directory.path) else { return }
    while let relative = enumerator.nextObject() as? String {
        let path = directory.appendingPathComponent(relative).path
        var info = stat()
        guard lstat(path, &info) == 0 else { continue }
        let kind = info.st_mode & S_IFMT
        if kind == S_IFDIR {
            #expect(
                mode(path) == 0o700,
                "\(relative) is a directory with mode \(String(mode(path), radix: 8))",
                sourceLocation: sourceLocation
            )
        } else if kind == S_IFREG {
            #expect(
                mode(path) == 0o600,
                "\(relative) has mode \(String(mode(path), radix: 8))",
                sourceLocation: sourceLocation
            )
        }
    }
}

@Suite("Tokens at rest", .serialized)
struct TokensAtRestTests {
    func inboxTokens(_ server: TestServer) async throws -> [String: String] {
        let portal = try await server.client(key: TestServer.portalKey)
        defer { Task { await portal.close() } }
        let inbox = try await portal.call(
            Methods.listNotifications,
            ListNotificationsRequest(),
            as: ListNotificationsResponse.self,
            metadata: Metadata(onBehalfOf: "acct-42")
        ).notifications
        var tokens: [String: String] = [:]
        for item in inbox where item.kind == "CONFIRMATION_REQUESTED" {
            guard let last = item.body.split(separator: "\n").last, last.hasPrefix("Token: ") else { continue }
            tokens[item.cancellationID] = String(last.dropFirst(7))
        }
        return tokens
    }

    @Test(
        "no confirmation token is readable from the data directory: inbox and unsent emails sealed, sent emails redacted, files 0600 in a 0700 directory"
    )
    func noTokenInTheDataDirectory() async throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = directory.appendingPathComponent("data")
        let port = try SMTPServer.freePort()
        var relay: SMTPServer? = try SMTPServer(port: port, maildir: directory.appendingPathComponent("relay"))
        let relayMaildir = directory.appendingPathComponent("relay")
        let server = try await TestServer.start(dataDirectory: data.path) { configuration in
            configuration.storage.tokenKeyFile = nil  // the default: beside the data directory
            configuration.notifications.sink = .smtp(host: "127.0.0.1", port: port, heloName: "pcancel.test")
            configuration.notifications.pollIntervalMs = 20
            configuration.notifications.backoffBaseMs = 60_000
            configuration.notifications.backoffCapMs = 60_000
        }
        let admin = try await server.client()
        _ = try await admin.call(
            Methods.ingestOrder,
            IngestOrderRequest(channel: "web", payload: ByteBuffer(string: SamplePayloads.web)),
            as: IngestOrderResponse.self
        )
        func request(_ line: CancelLine) async throws -> String {
            try await admin.call(
                Methods.requestCancellation,
                RequestCancellationRequest(orderID: "web-W-1001", lines: [line], reasonCode: "ADDED_BY_MISTAKE"),
                as: RequestCancellationResponse.self
            ).cancellation.id
        }
        // Two requests whose emails are sent, then one whose email cannot be (the relay is gone).
        let first = try await request(CancelLine(lineID: "L1", quantity: 1))
        let second = try await request(CancelLine(lineID: "L2b"))
        try await waitFor("two relayed messages") { maildirMessages(relayMaildir).count == 2 }
        relay = nil
        _ = relay
        try await Task.sleep(nanoseconds: 200_000_000)
        let third = try await request(CancelLine(lineID: "L3"))

        // The inbox shows every token (decrypted on read); the relayed emails carried the same ones.
        let tokens = try await inboxTokens(server)
        #expect(Set(tokens.keys) == [first, second, third])
        for token in tokens.values { #expect(token.count == 64 && token.allSatisfy(\.isHexDigit)) }
        let relayed = maildirMessages(relayMaildir).joined()
        #expect(
            relayed.contains("Token: \(tokens[first] ?? "?")") && relayed.contains("Token: \(tokens[second] ?? "?")")
        )
        // And the token works: the first request confirms with it.
        let portal = try await server.client(key: TestServer.portalKey)
        let confirmed = try await portal.call(
            Methods.confirmCancellation,
            ConfirmCancellationRequest(id: first, token: tokens[first] ?? ""),
            as: ConfirmCancellationResponse.self,
            metadata: Metadata(onBehalfOf: "acct-42")
        )
        #expect(confirmed.cancellation.state == "CONFIRMED" || confirmed.cancellation.state == "COMPLETED")
        await portal.close()

        func expectNoToken(_ when: String) {
            let files = filesUnder(data)
            #expect(files.contains { $0.path.hasSuffix("-wal") }, "the scan covers the WAL (\(when))")
            for (path, bytes) in files {
                for (id, token) in tokens {
                    #expect(
                        bytes.range(of: Data(token.utf8)) == nil,
                        "\(when): the token of \(id) is readable in \(path)"
                    )
                }
            }
        }
        expectNoToken("while running")
        expectPrivate(data)
        // The key is outside the data directory, readable by the server's user only.
        let keyFile = TokenSealer.defaultKeyFile(forDataDirectory: data.path)
        #expect(!keyFile.hasPrefix(data.path + "/"))
        #expect(mode(keyFile) == 0o600)

        await admin.close()
        try await server.stop()
        expectNoToken("after shutdown")
        expectPrivate(data)
    }

    @Test(
        "tokens stored in plaintext by an earlier version are sealed (or, for sent emails, removed) on start, and still read back"
    )
    func legacyPlaintextTokensAreSealedOnStart() async throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = directory.appendingPathComponent("data")
        var server = try await TestServer.start(dataDirectory: data.path) { _ in }
        let admin = try await server.client()
        _ = try await admin.call(
            Methods.ingestOrder,
            IngestOrderRequest(channel: "web", payload: ByteBuffer(string: SamplePayloads.web)),
            as: IngestOrderResponse.self
        )
        let shard = ShardRouter(count: server.server.storage.shardCount).shard(forOrder: "web-W-1001")
        await admin.close()
        try await server.stop()

        // What an earlier version wrote: the token in the bodies, nothing sealed; one email sent.
        // The sealing step has not run on such a shard (it runs once, and its record goes).
        let unsent = String(repeating: "ab", count: 32)
        let sent = String(repeating: "cd", count: 32)
        let shardFile = data.appendingPathComponent("shard-\(shard).sqlite").path
        let script = """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1])
            db.execute("INSERT INTO portal_inbox (account_id, cancellation_id, kind, subject, body, created_ms) VALUES ('acct-42', 'web-W-1001/c9', 'CONFIRMATION_REQUESTED', 's', 'Cancellation: web-W-1001/c9\\nToken: \(unsent)', 1)")
            db.execute("INSERT INTO email_outbox (recipient, subject, body, cancellation_id, state, attempts, next_attempt_ms, last_error, created_ms) VALUES ('a@example.com', 's', 'Token: \(unsent)', 'web-W-1001/c9', 'DEAD', 8, 0, 'x', 1)")
            db.execute("INSERT INTO email_outbox (recipient, subject, body, cancellation_id, state, attempts, next_attempt_ms, last_error, created_ms, sent_ms) VALUES ('a@example.com', 's', 'Token: \(sent)', 'web-W-1001/c8', 'SENT', 1, 0, '', 1, 2)")
            assert db.execute("DELETE FROM completed_steps WHERE name = 'seal plaintext tokens'").rowcount == 1
            db.commit()
            db.close()
            """
        let python = try await runCommand(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", script, shardFile])
        #expect(python.status == 0, "\(python.error)")

        server = try await TestServer.start(dataDirectory: data.path) { _ in }
        let portal = try await server.client(key: TestServer.portalKey)
        let inbox = try await portal.call(
            Methods.listNotifications,
            ListNotificationsRequest(),
            as: ListNotificationsResponse.self,
            metadata: Metadata(onBehalfOf: "acct-42")
        ).notifications
        #expect(inbox.contains { $0.body.hasSuffix("Token: \(unsent)") })
        // Recorded again, so that later starts do not scan the messages.
        let recorded = try await runCommand(
            URL(fileURLWithPath: "/usr/bin/env"),
            [
                "python3", "-c",
                """
                import sqlite3, sys
                print(sqlite3.connect(sys.argv[1]).execute("SELECT COUNT(*) FROM completed_steps WHERE name = 'seal plaintext tokens'").fetchone()[0])
                """, shardFile,
            ]
        )
        #expect(recorded.output.trimmingCharacters(in: .whitespacesAndNewlines) == "1", "\(recorded.error)")
        for (path, bytes) in filesUnder(data) {
            #expect(bytes.range(of: Data(unsent.utf8)) == nil, "the unsent token is readable in \(path)")
            #expect(bytes.range(of: Data(sent.utf8)) == nil, "the sent token is readable in \(path)")
        }
        await portal.close()
        try await server.stop()
    }
}

/// A small tmpfs mounted for one test (tests run as root), unmounted by `unmount()`.
struct TmpfsMount {
    let path: URL

    /// Whether this process may mount a tmpfs (root with CAP_SYS_ADMIN); probed once.
    static let permitted: Bool = {
        guard let probe = try? TmpfsMount(sizeKiB: 64) else { return false }
        probe.unmount()
        return true
    }()

    init(sizeKiB: Int) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("pcancel-tmpfs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: path, withIntermediateDirectories: true)
        // mount(2) itself, not a child process: waiting for a child from the test pool can stall it.
        guard Glibc.mount("tmpfs", path.path, "tmpfs", 0, "size=\(sizeKiB)k") == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: path)
            throw ProcessFailure("cannot mount a tmpfs: \(reason)")
        }
    }

    func unmount() {
        if umount2(path.path, 0) != 0 { _ = umount2(path.path, Int32(MNT_DETACH)) }
        try? FileManager.default.removeItem(at: path)
    }

    /// Writes a file until the file system has no byte left; returns its path.
    func fill() throws -> String {
        let filler = path.appendingPathComponent("filler").path
        let fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw ProcessFailure("cannot create \(filler)") }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0x5A, count: 65536)
        var size = chunk.count
        while size > 0 {
            let written = chunk.withUnsafeBytes { write(fd, $0.baseAddress, size) }
            if written <= 0 {
                guard errno == ENOSPC else { throw ProcessFailure("filling \(filler): errno \(errno)") }
                size /= 2
            }
        }
        return filler
    }
}

@Suite("Full disk", .serialized)
struct FullDiskTests {
    @Test(
        "a full disk answers UNAVAILABLE STORAGE_FULL naming the shard and makes Health not ready; freeing space recovers by itself; nothing acknowledged is lost",
        .enabled(if: TmpfsMount.permitted, "mounting a tmpfs is not permitted here (needs root with CAP_SYS_ADMIN)")
    )
    func fullDisk() async throws {
        let mount = try TmpfsMount(sizeKiB: 6 * 1024)
        defer { mount.unmount() }
        let data = mount.path.appendingPathComponent("data")
        let server = try await TestServer.start(dataDirectory: data.path) { configuration in
            configuration.storage.shards = 1
        }
        let admin = try await server.client()
        func ingest(_ external: String) async throws -> IngestOrderResponse {
            let payload = SamplePayloads.web.replacingOccurrences(of: "\"W-1001\"", with: "\"\(external)\"")
            return try await admin.call(
                Methods.ingestOrder,
                IngestOrderRequest(channel: "web", payload: ByteBuffer(string: payload)),
                as: IngestOrderResponse.self
            )
        }
        func getOrder(_ id: String) async throws -> GetOrderResponse {
            try await admin.call(Methods.getOrder, GetOrderRequest(orderID: id), as: GetOrderResponse.self)
        }
        let acknowledged = try await ingest("W-FULL-1")
        #expect(try await admin.health().ready)

        let filler = try mount.fill()
        var refused: ClientError?
        do {
            _ = try await ingest("W-FULL-2")
            Issue.record("a write succeeded on a full disk")
        } catch let error as ClientError {
            refused = error
        }
        #expect(refused?.code == .unavailable, "\(String(describing: refused))")
        #expect(refused?.status.reasons.first?.code == "STORAGE_FULL")
        #expect(refused?.status.reasons.first?.subject == "shard-0.sqlite")
        #expect(refused?.status.message.contains("shard-0.sqlite") == true)

        let full = try await admin.health()
        #expect(!full.ready)
        #expect(full.notReady.contains { $0.contains("shard 0") && $0.contains("storage is full") }, "\(full.notReady)")
        // The CLI's health check fails while the server serves but is not ready, and passes again after.
        let pcancel = try Paths.executable("pcancel")
        let address = "127.0.0.1:\(server.port)"
        let notReady = try await runCommand(
            pcancel,
            ["health", "--server", address, "--api-key", ""],
            environment: [:]
        )
        #expect(notReady.status == 6 && notReady.output.contains("not ready"), "\(notReady)")
        // Reads go on, and what was acknowledged is there.
        #expect(try await getOrder(acknowledged.order.id).order == acknowledged.order)

        // Space comes back: readiness returns by itself (Health probes the shard), then writes work.
        unlink(filler)
        try await waitFor("readiness after freeing space") { (try? await admin.health().ready) == true }
        let ready = try await runCommand(pcancel, ["health", "--server", address, "--api-key", ""], environment: [:])
        #expect(ready.status == 0 && ready.output.contains("SERVING  ready"), "\(ready)")
        let later = try await ingest("W-FULL-2")
        #expect(try await getOrder(later.order.id).order == later.order)
        #expect(try await getOrder(acknowledged.order.id).order == acknowledged.order)

        await admin.close()
        try await server.stop()
    }
}

@Suite("One server per data directory", .serialized)
struct DataDirectoryLockTests {
    /// Runs `pcancel-server` and waits up to `timeout` seconds for it to exit (it is killed if it
    /// does not); returns its status (nil: still running, killed) and standard error.
    func startExpectingExit(
        _ arguments: [String],
        workingDirectory: URL,
        timeout: TimeInterval = 30
    ) async throws -> (status: Int32?, error: String) {
        let process = Process()
        process.executableURL = try Paths.executable("pcancel-server")
        process.arguments = arguments
        process.currentDirectoryURL = workingDirectory
        let stderr = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = stderr
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { try await Task.sleep(nanoseconds: 50_000_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            return (nil, "")
        }
        let error = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (process.terminationStatus, error)
    }

    @Test(
        "a second pcancel-server on the same data directory exits non-zero naming the directory and the holder's pid; the first keeps serving, and a kill releases the lock"
    )
    func secondServerIsRefused() async throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = "pck_lock_test"
        let config = directory.appendingPathComponent("config.json")
        try """
        {"api_keys": [{"name": "ops", "role": "admin", "sha256": "\(APIKey.hash(key))"}]}
        """.write(to: config, atomically: true, encoding: .utf8)
        let data = directory.appendingPathComponent("data").path
        let arguments = ["--config", config.path, "--data-dir", data, "--port", "0"]
        let first = try await ServerProcess.start(arguments: arguments, workingDirectory: directory)

        let second = try await startExpectingExit(arguments, workingDirectory: directory)
        #expect(second.status != nil, "the second server started on the same data directory")
        #expect(second.status != 0)
        #expect(second.error.contains(data), "\(second.error)")
        #expect(second.error.contains("pid \(first.process.processIdentifier)"), "\(second.error)")

        // The first server still serves its orders.
        let client = try await PartialCancelClient.connect(.init(port: first.port, apiKey: key))
        _ = try await client.call(Methods.getOrder, GetOrderRequest(orderID: "web-W-1001"), as: GetOrderResponse.self)
        await client.close()

        // A killed holder leaves no stale lock: the kernel releases it with the process.
        first.signal(SIGKILL)
        #expect(await first.waitForExit(timeout: 15) != nil)
        let third = try await ServerProcess.start(arguments: arguments, workingDirectory: directory)
        let again = try await PartialCancelClient.connect(.init(port: third.port, apiKey: key))
        _ = try await again.call(Methods.getOrder, GetOrderRequest(orderID: "web-W-1001"), as: GetOrderResponse.self)
        await again.close()
        try await Task.sleep(nanoseconds: 300_000_000)  // the signal handlers are installed after "listening on"
        third.signal(SIGTERM)
        #expect(await third.waitForExit(timeout: 15) == 0)
    }
}

@Suite("Token key file")
struct TokenKeyFileTests {
    @Test("storage.token_key_file is read from the config file; empty is refused, naming the setting")
    func setting() throws {
        let configuration = try ConfigurationFile.parse(
            Data(#"{"storage": {"token_key_file": "/etc/pcancel/token-key"}}"#.utf8)
        )
        #expect(configuration.storage.tokenKeyFile == "/etc/pcancel/token-key")
        #expect(try ConfigurationFile.parse(Data("{}".utf8)).storage.tokenKeyFile == nil)
        do {
            _ = try ConfigurationFile.parse(Data(#"{"storage": {"token_key_file": ""}}"#.utf8))
            Issue.record("accepted an empty token_key_file")
        } catch {
            #expect("\(error)".contains("storage.token_key_file must not be empty"), "\(error)")
        }
    }

    @Test("a token key file inside the data directory, or readable by others, is refused at start")
    func refusedPlaces() async throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = directory.appendingPathComponent("data")
        do {
            _ = try await TestServer.start(dataDirectory: data.path) {
                $0.storage.tokenKeyFile = data.appendingPathComponent("key").path
            }
            Issue.record("a key file inside the data directory was accepted")
        } catch {
            #expect("\(error)".contains("is inside the data directory"), "\(error)")
        }
        let open = directory.appendingPathComponent("open-key").path
        try String(repeating: "0f", count: 32).write(toFile: open, atomically: true, encoding: .utf8)
        chmod(open, 0o644)
        do {
            _ = try await TestServer.start(dataDirectory: data.path) { $0.storage.tokenKeyFile = open }
            Issue.record("a key file readable by others was accepted")
        } catch {
            #expect("\(error)".contains("may be read by others (mode 644)"), "\(error)")
        }
    }
}

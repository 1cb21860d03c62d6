import ArgumentParser
import Foundation
import Logging
import NIOCore
import PartialCancelClient
import PartialCancelDomain
import PartialCancelLoad
import PartialCancelServer
import PartialCancelStorage
import PartialCancelWire

#if canImport(Glibc)
import Glibc
#endif

/// `pcancel-load`: complete cancellation flows against a server, every answer checked (docs/LOAD.md).
@main
struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pcancel-load",
        abstract: "Runs complete cancellation flows against a pcancel server and checks every one.",
        discussion: """
            Seeds orders (its own skus and accounts), then runs validate → request → read the token from the \
            customer's inbox → confirm → wait for COMPLETED, checking refunds, totals and stock. Exit code 0 when \
            every flow completed with no mismatch, 1 otherwise, 64 for bad usage. See docs/LOAD.md.
            """,
        version: pcancelVersion
    )

    @Option(
        name: .long,
        help:
            "Server as HOST:PORT, or several nodes comma-separated: each connection moves to another node when its own is gone (default 127.0.0.1:7447; ignored with --embedded)."
    )
    var server: String = "127.0.0.1:7447"
    @Option(
        name: .long,
        help:
            "Admin key (seeds stock and orders, acts as the agent). Default: $PCANCEL_API_KEY, then ./pcancel-data/dev-api-key."
    )
    var apiKey: String?
    @Option(
        name: .long,
        help:
            "Portal key (reads inboxes, confirms as the customer). Default: $PCANCEL_PORTAL_KEY, then ./pcancel-data/dev-portal-key."
    )
    var portalKey: String?
    @Option(name: .long, help: "TLS: PEM file of the CA that signed the server's certificate (connects over TLS).")
    var tlsCa: String?
    @Option(name: .long, help: "TLS: PEM client certificate and key for both roles' connections (with --tls-key).")
    var tlsCert: String?
    @Option(name: .long, help: "TLS: PEM private key of --tls-cert.") var tlsKey: String?
    @Flag(name: .long, help: "Start a server in this process on a temporary data directory.")
    var embedded = false

    @Option(
        name: .long,
        help:
            "With --embedded: this many webhook subscriptions (every event type) to pcancel-load's own receiver; the report counts what arrives and checks each order's events come in order."
    )
    var webhooks: Int = 0

    @Option(
        name: .long,
        help:
            "With --embedded: ledger (refund allocations appended to the embedded ledger and settled, the default), async (sent to an asynchronous payment service inside pcancel-load, whose results the run records with RecordRefundResult while flows go on; every twentieth fails and gets store credit) or off (held PENDING)."
    )
    var payments: String = "ledger"
    @Option(name: .long, help: "Embedded server: shards.") var shards: Int = 2
    @Option(name: .long, help: "Embedded server: SQLite synchronous mode, FULL or NORMAL.") var synchronous: String =
        "FULL"
    @Option(name: .long, help: "Embedded server: network event-loop threads (default: the server's, half the cores).")
    var eventLoopThreads: Int?
    @Option(
        name: .long,
        help:
            "Embedded server: kernel send buffer per connection in bytes (limits.socket_send_buffer_bytes; default: the kernel's)."
    )
    var socketSendBuffer: Int?
    @Flag(name: .long, help: "Embedded server: keep its data directory and print where it is.") var keepData = false
    @Flag(
        name: .long,
        help: "Embedded server: call it in this process instead of over TCP (the in-process limit of the same work)."
    )
    var inProcess = false
    @Flag(name: .long, help: "Measure ConfirmCancellation alone: requests are made and tokens read while seeding.")
    var confirmOnly = false

    @Option(name: .long, help: "Flows to run (default 1000 unless --duration is given).") var flows: Int?
    @Option(name: .long, help: "Seconds to run flows for.") var duration: Double?
    @Option(name: .long, help: "Closed loop: flows at a time.") var concurrency: Int = 32
    @Option(name: .long, help: "Open loop: flows started per second; latency counts from each flow's intended start.")
    var rate: Double?
    @Option(name: .long, help: "Scenario weights.") var mix: String = Mix.default.description
    @Option(name: .long, help: "Connections per role (agent and portal).") var connections: Int = 2
    @Option(name: .long, help: "Orders to seed before the flows (default: --flows, or rate × duration, or 1000).")
    var seed: Int?
    @Option(name: .long, help: "On hand to set for each of the run's own stock pools (default: 3 × flows + 1000).")
    var onHand: Int64?
    @Option(name: .long, help: "Deadline of each call, in seconds.") var timeout: Double = 30
    @Option(name: .long, help: "Seconds to wait after the flows for stock pools to settle.") var settle: Double = 10
    @Option(name: .long, help: "Write every figure as JSON to this file.") var json: String?
    @Option(
        name: .long,
        help:
            "Append 'CANCELLATION_ID REFUND_ID AMOUNT' for every acknowledged confirmation, as it arrives (for crash audits)."
    )
    var ackLog: String?
    @Flag(name: .long, help: "No live progress line.") var quiet = false
    @Flag(
        name: .long,
        help:
            "Watch every eligible flow's order on an extra connection: every change must arrive, in order, without a gap; reports the push latency."
    )
    var watch = false
    @Option(
        name: .long,
        help:
            "Watchers that watch the run's stock and never read: the server must drop them while the flows keep their latency."
    )
    var slowWatchers: Int = 0

    func validate() throws {
        guard flows.map({ $0 >= 1 }) ?? true, duration.map({ $0 > 0 }) ?? true else {
            throw ValidationError("--flows must be ≥ 1 and --duration > 0")
        }
        guard (1...100_000).contains(concurrency), (1...64).contains(connections) else {
            throw ValidationError("--concurrency must be 1...100000 and --connections 1...64")
        }
        if let rate, !(rate > 0 && rate <= 1_000_000) {
            throw ValidationError("--rate must be in (0, 1000000] flows per second")
        }
        guard (1...256).contains(shards) else { throw ValidationError("--shards must be 1...256") }
        if let eventLoopThreads, !(1...64).contains(eventLoopThreads) {
            throw ValidationError("--event-loop-threads must be 1...64")
        }
        if let socketSendBuffer, !(1...(64 << 20)).contains(socketSendBuffer) {
            throw ValidationError("--socket-send-buffer must be 1...67108864 bytes")
        }
        guard Synchronous(rawValue: synchronous.uppercased()) != nil else {
            throw ValidationError("--synchronous must be FULL or NORMAL")
        }
        guard timeout > 0, settle >= 0 else { throw ValidationError("--timeout must be > 0 and --settle ≥ 0") }
        if let seed, seed < 0 { throw ValidationError("--seed must be ≥ 0") }
        if let onHand, !(0...1_000_000_000).contains(onHand) {
            throw ValidationError("--on-hand must be 0...1000000000")
        }
        do { _ = try Mix(parsing: mix) } catch { throw ValidationError("--mix: \(error)") }
        if inProcess && !embedded { throw ValidationError("--in-process needs --embedded") }
        guard (0...100).contains(webhooks) else { throw ValidationError("--webhooks must be 0...100") }
        if webhooks > 0 && !embedded {
            throw ValidationError(
                "--webhooks needs --embedded (for a server of your own, subscribe a receiver in its config)"
            )
        }
        guard ["ledger", "async", "off"].contains(payments) else {
            throw ValidationError("--payments must be ledger, async or off")
        }
        if payments != "ledger" && !embedded { throw ValidationError("--payments needs --embedded") }
        if inProcess && (watch || slowWatchers > 0) {
            throw ValidationError("--watch and --slow-watchers need connections; not with --in-process")
        }
        guard (0...1000).contains(slowWatchers) else { throw ValidationError("--slow-watchers must be 0...1000") }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        if embedded && (tlsCa != nil || tlsCert != nil) {
            throw ValidationError("the embedded server speaks plaintext; --tls-* flags are for --server")
        }
    }

    func run() async throws {
        var options = LoadOptions(prefix: "LD" + String(UInt32.random(in: 0 ... .max), radix: 36, uppercase: true))
        options.flows = flows ?? (duration == nil ? 1000 : nil)
        options.duration = duration
        options.concurrency = concurrency
        options.rate = rate
        options.mix = try Mix(parsing: confirmOnly ? "mistake=1" : mix)
        options.confirmOnly = confirmOnly
        options.onHand = onHand
        options.seedOrders = seed ?? options.flows ?? rate.map { Int(($0 * (duration ?? 0)).rounded(.up)) } ?? 1000
        options.deadline = .nanoseconds(Int64(timeout * 1e9))
        options.completionTimeout = options.deadline
        options.settle = .nanoseconds(Int64(settle * 1e9))
        if let ackLog {
            let fd = open(ackLog, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            guard fd >= 0 else { throw ValidationError("cannot open --ack-log \(ackLog)") }
            // One write per line: an append of a few bytes lands whole, even if the process dies next.
            options.acknowledge = { id, refund in
                let line = Array("\(id) \(refund.refundID) \(refund.amount)\n".utf8)
                _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            }
        }

        var target = try await Target.start(self)
        if tlsCa != nil || tlsCert != nil {
            target.tls = .init(caFile: tlsCa, certificateFile: tlsCert, privateKeyFile: tlsKey)
        }
        var context = ["server": target.address, "run_prefix": options.prefix, "connections": "\(connections)"]
        if embedded {
            context["embedded"] =
                "shards=\(shards) synchronous=\(synchronous.uppercased())" + (inProcess ? " in-process" : "")
                + (eventLoopThreads.map { " event-loop-threads=\($0)" } ?? "")
                + (socketSendBuffer.map { " socket-send-buffer=\($0)" } ?? "")
        }
        if confirmOnly { context["measured"] = "ConfirmCancellation alone" }

        let result: LoadResult
        var paymentsSettled = true
        var runStopped = false
        do {
            var agents: [any FlowTransport] = []
            var portals: [any FlowTransport] = []
            var clients: [PartialCancelClient] = []
            var failovers: [FailoverTransport] = []
            for _ in 0..<connections {
                if inProcess, let server = target.embedded?.server {
                    agents.append(
                        InProcessTransport(
                            server: server,
                            principal: Principal(name: "load", role: .admin),
                            eventLoop: server.anyEventLoop
                        )
                    )
                    portals.append(
                        InProcessTransport(
                            server: server,
                            principal: Principal(name: "load-portal", role: .portal),
                            eventLoop: server.anyEventLoop
                        )
                    )
                } else if target.addresses.count > 1 {
                    // Spread over the nodes; each moves to another when its node is gone.
                    let first = agents.count
                    let agent = FailoverTransport(
                        target.configurations(key: target.apiKey, name: "pcancel-load"),
                        preferred: first
                    )
                    let portal = FailoverTransport(
                        target.configurations(key: target.portalKey, name: "pcancel-load-portal"),
                        preferred: first + 1
                    )
                    try await agent.connect()
                    try await portal.connect()
                    agents.append(agent)
                    portals.append(portal)
                    failovers += [agent, portal]
                } else {
                    clients.append(try await target.connect(key: target.apiKey, name: "pcancel-load"))
                    clients.append(try await target.connect(key: target.portalKey, name: "pcancel-load-portal"))
                    agents.append(clients[clients.count - 2])
                    portals.append(clients[clients.count - 1])
                }
            }
            if watch {
                clients.append(try await target.connect(key: target.apiKey, name: "pcancel-load-watcher"))
                options.watcher = clients.last
                context["watch"] = "every eligible flow's order"
            }
            var stalled: [StalledWatcher] = []
            for _ in 0..<slowWatchers {
                stalled.append(
                    try await StalledWatcher.start(
                        host: target.host,
                        port: target.port,
                        apiKey: target.apiKey,
                        skus: OrderFactory(prefix: options.prefix).stockSKUs
                    )
                )
            }
            defer { for watcher in stalled { Task { await watcher.close() } } }
            let run = LoadRun(options: options, agents: agents, portals: portals)
            let progress =
                quiet || isatty(STDERR_FILENO) == 0
                ? nil
                : Task {
                    while !Task.isCancelled {
                        try? await Task.sleep(nanoseconds: 1_000_000_000)
                        FileHandle.standardError.write(
                            Data(
                                ("\r\u{1B}[K" + LoadReport.progress(run.recorder.snapshot(), elapsed: run.flowElapsed))
                                    .utf8
                            )
                        )
                    }
                }
            defer { progress?.cancel() }
            // Ctrl-C: no new flows; those in flight finish, and the report (and --json) is written.
            signal(SIGINT, SIG_IGN)
            let interrupt = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
            interrupt.setEventHandler {
                if run.isStopped { Glibc.exit(130) }  // a second Ctrl-C: leave at once
                run.stop()
                FileHandle.standardError.write(
                    Data(
                        "\npcancel-load: interrupted; finishing the flows in flight (Ctrl-C again to leave now)\n".utf8
                    )
                )
            }
            interrupt.resume()
            defer { interrupt.cancel() }
            if let service = target.payments, let agent = agents.first {
                service.startRecording(through: agent, deadline: options.deadline)
            }
            do {
                result = try await run.run()
                runStopped = run.isStopped
            } catch {
                for client in clients { await client.close() }
                for failover in failovers { await failover.close() }
                throw error
            }
            if let service = target.payments {
                // The results of the last allocations, and the store credit of the last failures,
                // come after the flows: wait (connections still open) until each taken has its result.
                let counts = await service.finish()
                paymentsSettled = counts.errors == 0 && counts.succeeded + counts.failed == counts.taken
                context["refund_results"] =
                    "\(counts.taken) allocations taken (\(counts.takenAgain) sent again), \(counts.succeeded) recorded SUCCEEDED, \(counts.failed) FAILED (store credit instead), \(counts.errors) refused"
                    + (counts.firstError.isEmpty ? "" : "; first: \(counts.firstError)")
            }
            if !failovers.isEmpty {
                var moves = 0
                for failover in failovers { moves += await failover.connections - 1 }
                context["failovers"] = "\(moves) reconnections over \(target.addresses.count) nodes"
            }
            if progress != nil { FileHandle.standardError.write(Data("\n".utf8)) }
            if slowWatchers > 0, let client = clients.first {
                let stats = try await client.call(Methods.stats, StatsRequest(), as: StatsResponse.self)
                context["slow_watchers"] =
                    "\(slowWatchers) started, \(stats.watchesDropped) dropped by the server (WATCH_BUFFER_FULL)"
            }
            for client in clients { await client.close() }
            for failover in failovers { await failover.close() }
        } catch let error as ClientError {
            try await target.stop(keepData: keepData)
            FileHandle.standardError.write(
                Data("pcancel-load: \(error.status.code.name): \(error.status.message)\n".utf8)
            )
            throw ExitCode(1)
        } catch {
            try await target.stop(keepData: keepData)
            throw error
        }
        var webhooksInOrder = true
        if let counter = target.webhooks {
            // Whatever the outbox still holds arrives after the flows: wait until it stops coming.
            let counts = await counter.waitUntilQuiet()
            await counter.stop()
            webhooksInOrder = counts.behind == 0
            context["webhooks"] =
                "\(counts.received) events to \(webhooks) subscriptions over \(counts.keys) keys (orders and skus); \(counts.behind) repeated or out of order"
        }
        try await target.stop(keepData: keepData)

        let interrupted = runStopped
        if interrupted { context["interrupted"] = "with Ctrl-C after \(result.snapshot.flowsStarted) flows started" }
        let report = LoadReport(result: result, context: context)
        print(report.text)
        if let json {
            try report.jsonData().write(to: URL(fileURLWithPath: json))
        }
        if interrupted { throw ExitCode(130) }
        if !result.succeeded || !webhooksInOrder || !paymentsSettled { throw ExitCode(1) }
    }
}

/// Calls straight into a server in this process: no sockets, no framing (`--in-process`).
struct InProcessTransport: FlowTransport {
    let server: PartialCancelServer
    let principal: Principal
    let eventLoop: any EventLoop

    func call<Request: WireMessage, Response: WireMessage>(
        _ method: String,
        _ request: Request,
        as: Response.Type,
        deadline: TimeAmount?,
        metadata: Metadata
    ) async throws -> Response {
        let bytes: ByteBuffer
        do {
            bytes = try await server.invoke(
                method,
                request: request.encoded(),
                principal: principal,
                metadata: metadata,
                on: eventLoop
            ).get()
        } catch let error as RPCError {
            throw ClientError(error.status)
        }
        return try Response(decoding: bytes, limits: DecodingLimits(), path: "response")
    }
}

/// The server under load: one given by --server, or one started in this process.
struct Target {
    var address: String
    /// The first node: the one watchers and the stats use.
    var host: String
    var port: Int
    /// Every node given (one for an embedded server).
    var addresses: [(host: String, port: Int)]
    var apiKey: String
    var portalKey: String
    var embedded: (server: PartialCancelServer, task: Task<Void, any Error>, directory: String)?
    /// With `--webhooks`: the receiver the embedded server's subscriptions send to.
    var webhooks: WebhookCounter?
    /// With `--payments async`: the payment service the embedded server sends refunds to.
    var payments: AsyncPaymentService?

    static func start(_ command: LoadCommand) async throws -> Target {
        guard command.embedded else {
            let addresses = try command.server.split(separator: ",", omittingEmptySubsequences: false).map {
                address in
                let trimmed = address.trimmingCharacters(in: .whitespaces)
                guard let (host, port) = PartialCancelClient.Configuration.parseAddress(trimmed) else {
                    throw ValidationError(
                        "--server must be HOST:PORT (or several, comma-separated), got '\(command.server)'"
                    )
                }
                return (host: host, port: port)
            }
            return Target(
                address: command.server,
                host: addresses[0].host,
                port: addresses[0].port,
                addresses: addresses,
                apiKey: try key(
                    command.apiKey,
                    environment: "PCANCEL_API_KEY",
                    file: "pcancel-data/dev-api-key",
                    flag: "--api-key"
                ),
                portalKey: try key(
                    command.portalKey,
                    environment: "PCANCEL_PORTAL_KEY",
                    file: "pcancel-data/dev-portal-key",
                    flag: "--portal-key"
                )
            )
        }
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.dataDirectory =
            FileManager.default.temporaryDirectory.appendingPathComponent("pcancel-load-\(UUID().uuidString)").path
        configuration.storage.shards = command.shards
        configuration.storage.synchronous = Synchronous(rawValue: command.synchronous.uppercased()) ?? .full
        configuration.seedSampleData = false
        if let threads = command.eventLoopThreads { configuration.eventLoopThreads = threads }
        if let bytes = command.socketSendBuffer { configuration.limits.socketSendBufferBytes = bytes }
        configuration.payments.deliver = command.payments != "off"
        var paymentService: AsyncPaymentService?
        if command.payments == "async" {
            let service = AsyncPaymentService()
            let url = try await service.start()
            let secret = "whsec_" + Data((0..<24).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
            configuration.payments.adapter = .http(url: url, secret: secret)
            configuration.payments.pollIntervalMs = 20
            paymentService = service
        }
        var counter: WebhookCounter?
        if command.webhooks > 0 {
            let receiver = WebhookCounter()
            let receiverPort = try await receiver.start()
            let secret = "whsec_" + Data((0..<24).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
            configuration.webhooks.subscriptions = (0..<command.webhooks).map { index in
                WebhookSubscription(
                    name: "load-\(index)",
                    url: "http://127.0.0.1:\(receiverPort)/hooks/load-\(index)",
                    secret: secret,
                    events: ["*"]
                )
            }
            counter = receiver
        }
        let apiKey = APIKey.generate()
        let portalKey = APIKey.generate()
        configuration.apiKeys = [
            APIKey(name: "load", role: .admin, key: apiKey), APIKey(name: "load-portal", role: .portal, key: portalKey),
        ]
        var logger = Logger(label: "pcancel-server")
        logger.logLevel = .warning
        let server = try PartialCancelServer(
            configuration: configuration,
            keyStore: try KeyStore(configuration.apiKeys),
            logger: logger
        )
        let address = try await server.start()
        let task = Task { try await server.run() }
        let port = address.port ?? 0
        return Target(
            address: "127.0.0.1:\(port) (embedded)",
            host: "127.0.0.1",
            port: port,
            addresses: [(host: "127.0.0.1", port: port)],
            apiKey: apiKey,
            portalKey: portalKey,
            embedded: (server, task, configuration.dataDirectory),
            webhooks: counter,
            payments: paymentService
        )
    }

    var tls: PartialCancelClient.Configuration.TLS?

    func configurations(key: String, name: String) -> [PartialCancelClient.Configuration] {
        addresses.map {
            PartialCancelClient.Configuration(host: $0.host, port: $0.port, apiKey: key, clientName: name, tls: tls)
        }
    }

    func connect(key: String, name: String) async throws -> PartialCancelClient {
        try await PartialCancelClient.connect(
            PartialCancelClient.Configuration(host: host, port: port, apiKey: key, clientName: name, tls: tls)
        )
    }

    func stop(keepData: Bool) async throws {
        guard let embedded else { return }
        embedded.server.initiateShutdown()
        try await embedded.task.value
        if keepData {
            FileHandle.standardError.write(Data("embedded data directory kept: \(embedded.directory)\n".utf8))
        } else {
            try? FileManager.default.removeItem(atPath: embedded.directory)
            try? FileManager.default.removeItem(
                atPath: TokenSealer.defaultKeyFile(forDataDirectory: embedded.directory)
            )
        }
    }

    private static func key(_ flag: String?, environment: String, file: String, flag name: String) throws -> String {
        guard let key = try APIKeySource.resolve(given: flag, environment: environment, defaultFile: file) else {
            throw ValidationError(
                "no key: pass \(name), set $\(environment), or run next to the embedded server's pcancel-data"
            )
        }
        return key
    }
}

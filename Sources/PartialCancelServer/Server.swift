import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import PartialCancelDomain
import PartialCancelStorage
import PartialCancelWire
import ServiceLifecycle

/// The pcancel server: a TCP listener speaking wire protocol v1, run as a `Service`.
///
/// Shutdown (SIGTERM/SIGINT through a `ServiceGroup`, or `initiateShutdown()`): the listener closes,
/// every connection gets a GoAway, calls in flight finish and are answered, new calls get
/// UNAVAILABLE, and connections still open after the grace period are closed.
public final class PartialCancelServer: Service, Sendable {
    public static let version = pcancelVersion

    public let configuration: ServerConfiguration
    private let group: MultiThreadedEventLoopGroup
    private let runtime: ServerRuntime
    private let methods: MethodRegistry
    /// The API keys, the intake bounds and rules, and the cancellation rules: what `reload` replaces.
    private let keyStore: Reloadable<KeyStore>
    private let intakes: Reloadable<Intake>
    private let policies: Reloadable<CancellationPolicy>
    /// The configuration the server started with, and the rules and keys of the last reload.
    private let loaded: NIOLockedValueBox<ServerConfiguration>
    private let logger: Logger
    private let listener = NIOLockedValueBox<(any Channel)?>(nil)
    private let metricsListener = NIOLockedValueBox<(any Channel)?>(nil)
    /// Counts and latencies of every call, eligibility rejects, dropped watches.
    public let metrics: ServerMetrics
    private let diagnostics: DiagnosticsService
    /// The server's store (by default the sharded SQLite store in the configuration's data
    /// directory), open while the server exists.
    public let storage: any StorePort
    private let delivery: NotificationDelivery
    /// Sends refund allocations to the payments port (docs/PAYMENTS.md).
    private let payments: PaymentDelivery
    /// Sends touchpoints their events (docs/EVENTS.md).
    private let webhooks: WebhookDelivery
    /// What each order channel and fulfilment source sent (Health, Stats, metrics).
    let sources: SourceHealthTracker
    /// The listener's TLS, when configured.
    private let tlsContext: NIOSSLContext?

    /// Opens the data directory's storage (creating it, and seeding sample data if configured, on
    /// first start) and prepares the methods.
    /// - Parameters:
    ///   - methods: further methods to serve besides the built-in ones.
    ///   - clock: the time of day for expiry, windows, backoff and records (tests pass a manual one).
    ///   - openStore: opens the store the server serves from, on one of its event loops; by
    ///     default the embedded SQLite store of `configuration.storage` in the data directory.
    public init(
        configuration: ServerConfiguration,
        keyStore: KeyStore,
        methods: [MethodDescriptor] = [],
        logger: Logger,
        clock: WallClock = .system,
        openStore: StoreOpener = PartialCancelServer.sqliteStore
    ) throws {
        try configuration.validate()
        self.tlsContext = try configuration.tls?.makeContext()
        self.configuration = configuration
        self.keyStore = Reloadable(keyStore)
        self.loaded = NIOLockedValueBox(configuration)
        self.logger = logger
        self.runtime = ServerRuntime(version: Self.version, limits: configuration.limits)
        let metrics = ServerMetrics(methods: Methods.all + methods.map(\.name))
        self.metrics = metrics
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.eventLoopThreads)
        do {
            // The store writes each event for the subscriptions that want it, beside its change.
            var opening = configuration
            opening.storage.eventRoutes = configuration.webhooks.routes
            self.storage = try openStore(opening, group.next(), logger, clock)
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
        let storage = self.storage
        self.delivery = NotificationDelivery(
            storage: storage,
            configuration: configuration.notifications,
            dataDirectory: configuration.dataDirectory,
            loop: group.next()
        )
        do {
            self.webhooks = try WebhookDelivery(
                storage: storage,
                configuration: configuration.webhooks,
                group: group,
                logger: logger
            )
            self.payments = try PaymentDelivery(
                storage: storage,
                configuration: configuration.payments,
                dataDirectory: configuration.dataDirectory,
                group: group,
                logger: logger
            )
        } catch {
            storage.close()
            try? group.syncShutdownGracefully()
            throw error
        }
        let intake = Intake(limits: configuration.intake)
        let fulfilmentIntake = FulfilmentIntake(limits: configuration.fulfilment)
        let sources = SourceHealthTracker(
            channels: intake.channels,
            fulfilmentSources: fulfilmentIntake.sources,
            configuration: configuration.sources,
            now: clock.nowMs
        )
        self.sources = sources
        var diagnostics = DiagnosticsService(
            runtime: runtime,
            maxPingDelayMs: configuration.limits.maxPingDelayMs,
            metrics: metrics,
            maxOutboxLagMs: configuration.limits.maxOutboxLagMs
        )
        diagnostics.sources = { sources.snapshot() }
        diagnostics.shards = { loop in storage.health(on: loop).map { $0.map(ViewMapping.view) } }
        diagnostics.watches = { storage.watchCount }
        diagnostics.unwritableShards = { storage.unwritableShards }
        self.diagnostics = diagnostics
        var registry = MethodRegistry(diagnostics.methods)
        // Mutating methods honour idempotency keys.
        let idempotency = Idempotency(
            storage: storage,
            retentionMs: Int64(configuration.idempotencyRetentionMinutes) * 60_000,
            staleAfterMs: Int64(configuration.limits.maxDeadlineMs) * 2,
            now: clock.nowMs
        )
        let intakes = Reloadable(intake)
        let policies = Reloadable(configuration.cancellation)
        self.intakes = intakes
        self.policies = policies
        let parser = IntakeParser(intakes: intakes, now: clock.nowMs)
        let fulfilment = FulfilmentService(
            storage: storage,
            intake: fulfilmentIntake,
            policies: policies,
            now: clock.nowMs,
            sources: sources
        )
        let services =
            OrderService(storage: storage, parser: parser, sources: sources, now: clock.nowMs).methods
            + fulfilment.methods
            + PaymentService(storage: storage, fallback: configuration.payments.fallback).methods
            + DeadLetterService(
                storage: storage,
                parser: parser,
                fulfilment: fulfilment,
                settings: configuration.deadLetters,
                maxFrameBytes: configuration.limits.maxFrameBytes
            ).methods
            + CancellationService(
                storage: storage,
                policies: policies,
                tokenTTLMs: Int64(configuration.cancellationTokenTTLSeconds) * 1000,
                now: clock.nowMs,
                tokenAttempts: TokenAttemptLimiter(
                    limit: configuration.limits.tokenFailuresPerCaller,
                    windowMs: Int64(configuration.limits.tokenFailureWindowMs)
                ),
                metrics: metrics
            ).methods
            + WatchService(
                storage: storage,
                bufferChanges: configuration.limits.watchBufferChanges,
                maxSkus: configuration.limits.maxWatchSkus,
                metrics: metrics
            ).methods
        for method in services {
            registry.register(Methods.spec(method.name)?.mutates == true ? idempotency.wrap(method) : method)
        }
        for method in methods { registry.register(method) }
        precondition(registry.missingFromTable.isEmpty, "no handler for \(registry.missingFromTable)")
        self.methods = registry
    }

    /// Seeds the sample stock and orders when this start created the data directory and the
    /// configuration asks for it. Returns the ids of the orders it ingested.
    @discardableResult
    public func seedSampleDataIfNew() async throws -> [String] {
        guard configuration.seedSampleData, storage.isNew else { return [] }
        return try await SampleData.seed(storage, on: group.next())
    }

    /// Runs one call in this process, without the network: the same method table, access check,
    /// decoding limits and handlers as a call on a connection, minus framing and sockets. For
    /// measuring the in-process limit of a flow's work, and for embedding. Failures carry the
    /// status a connection would have answered, as an `RPCError`.
    public func invoke(
        _ name: String,
        request: ByteBuffer,
        principal: Principal,
        metadata: Metadata = Metadata(),
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<ByteBuffer> {
        let method: MethodDescriptor
        switch methods.method(name, for: principal, metadata: metadata) {
        case .success(let found): method = found
        case .failure(let refusal): return eventLoop.makeFailedFuture(refusal)
        }
        let deadline = NIODeadline.now() + .milliseconds(Int64(configuration.limits.defaultDeadlineMs))
        let context = CallContext(
            callID: 0,
            method: name,
            principal: principal,
            metadata: metadata,
            deadline: deadline,
            eventLoop: eventLoop,
            decodingLimits: configuration.limits.decoding,
            logger: logger
        )
        return method.handler(context, request).flatMapErrorThrowing { error in
            let status = StatusMapping.status(for: error)
            throw RPCError(status.code, status.message, reasons: status.reasons)
        }
    }

    /// An event loop of the server's own group, for `invoke`.
    public var anyEventLoop: any EventLoop { group.next() }

    /// Binds the listener (once) and returns its address; `run()` then serves until shutdown.
    @discardableResult
    public func start() async throws -> SocketAddress {
        if let channel = listener.withLockedValue({ $0 }), let address = channel.localAddress { return address }
        let limits = configuration.limits
        let methods = self.methods
        let keyStore = self.keyStore
        let runtime = self.runtime
        let logger = self.logger
        let metrics = self.metrics
        let tlsContext = self.tlsContext
        let certificatePrincipals = configuration.tls?.certificatePrincipals ?? [:]
        // One budget for the partial frames of all connections together.
        let framing = limits.framing(budget: InboundBudget(limit: limits.maxInboundBufferedBytes))
        // Past the high mark a connection is unwritable: its handler stops reading (back-pressure).
        let writeMarks = ChannelOptions.Types.WriteBufferWaterMark(
            low: limits.maxOutboundBufferBytes / 2,
            high: limits.maxOutboundBufferBytes
        )
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelOption(.writeBufferWaterMark, value: writeMarks)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if limits.socketSendBufferBytes > 0 {
                        try channel.syncOptions?.setOption(
                            .socketOption(.so_sndbuf),
                            value: SocketOptionValue(limits.socketSendBufferBytes)
                        )
                    }
                    if let tlsContext {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tlsContext))
                    }
                    try channel.pipeline.syncOperations.addFramingHandlers(framing)
                    try channel.pipeline.syncOperations.addHandler(
                        ConnectionHandler(
                            methods: methods,
                            keyStore: keyStore,
                            limits: limits,
                            runtime: runtime,
                            metrics: metrics,
                            logger: logger,
                            certificatePrincipals: certificatePrincipals
                        )
                    )
                }
            }
            .bind(host: configuration.host, port: configuration.port)
            .get()
        listener.withLockedValue { $0 = channel }
        if let metricsPort = configuration.metricsPort {
            let diagnostics = self.diagnostics
            let storage = self.storage
            let sources = self.sources
            let pages = MetricsEndpoint.Pages(
                metrics: { loop in
                    storage.health(on: loop).map { shards in
                        metrics.render(
                            connections: runtime.openChannels.count,
                            watches: storage.watchCount,
                            shards: shards.map(ViewMapping.view),
                            sources: sources.snapshot()
                        )
                    }
                },
                health: { loop in diagnostics.health(on: loop) }
            )
            let endpoint: any Channel
            do {
                endpoint = try await MetricsEndpoint.bind(
                    host: configuration.metricsHost,
                    port: metricsPort,
                    group: group,
                    pages: pages
                )
            } catch {
                // No half-started server: the listener goes too.
                listener.withLockedValue { $0 = nil }
                try? await channel.close()
                throw error
            }
            metricsListener.withLockedValue { $0 = endpoint }
            logger.info(
                "metrics endpoint listening",
                metadata: ["address": "\(endpoint.localAddress.map { "\($0)" } ?? "?")"]
            )
        }
        delivery.start()
        payments.start()
        webhooks.start()
        let address = channel.localAddress!
        logger.info("listening", metadata: ["address": "\(address)"])
        return address
    }

    /// The bound address, once started.
    public var localAddress: SocketAddress? { listener.withLockedValue { $0?.localAddress } }

    /// The metrics endpoint's bound address, once started with one.
    public var metricsAddress: SocketAddress? { metricsListener.withLockedValue { $0?.localAddress } }

    /// Connections open now (admitted, not yet closed).
    public var openConnectionCount: Int { runtime.openChannels.count }

    public func run() async throws {
        try await start()
        let channel = listener.withLockedValue { $0 }!
        try await withGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onGracefulShutdown: {
            self.initiateShutdown()
        }
        await drainConnections()
        try? await metricsListener.withLockedValue { $0 }?.close()
        await delivery.stop()
        await payments.stop()
        await webhooks.stop()
        storage.close()
        try await group.shutdownGracefully()
        logger.info("stopped")
    }

    /// Replaces what can change while connections stay open — the API keys, the intake bounds and
    /// rules, the cancellation rules — with `configuration`'s (SIGHUP). Returns a line per change,
    /// and one per setting that differs but takes a restart (listening address, storage, TLS, …).
    @discardableResult
    public func reload(_ configuration: ServerConfiguration, keys: KeyStore) -> [String] {
        let before = loaded.withLockedValue { $0 }
        var report: [String] = []
        keyStore.replace(keys)
        if before.apiKeys != configuration.apiKeys {
            report.append("api keys: \(configuration.apiKeys.count) (were \(before.apiKeys.count))")
        }
        if before.intake != configuration.intake {
            intakes.replace(Intake(limits: configuration.intake))
            report.append("intake limits and rules replaced (\(configuration.intake.rules.count) rules)")
        }
        if before.cancellation != configuration.cancellation {
            policies.replace(configuration.cancellation)
            report.append("cancellation rules replaced (\(configuration.cancellation.rules.count) rules)")
        }
        var restart: [String] = []
        if before.host != configuration.host || before.port != configuration.port { restart.append("host and port") }
        if before.storage != configuration.storage || before.dataDirectory != configuration.dataDirectory {
            restart.append("storage")
        }
        if before.tls != configuration.tls { restart.append("tls") }
        if before.limits != configuration.limits { restart.append("limits") }
        if before.payments != configuration.payments || before.webhooks != configuration.webhooks {
            restart.append("payments and webhooks")
        }
        if before.notifications != configuration.notifications { restart.append("notifications") }
        if !restart.isEmpty { report.append("changed but kept until a restart: \(restart.joined(separator: ", "))") }
        loaded.withLockedValue { current in
            current.apiKeys = configuration.apiKeys
            current.intake = configuration.intake
            current.cancellation = configuration.cancellation
        }
        logger.notice(
            "configuration reloaded",
            metadata: ["changes": "\(report.isEmpty ? "none" : report.joined(separator: "; "))"]
        )
        return report
    }

    /// Begins a graceful shutdown: the listener closes and `run()` drains and returns.
    public func initiateShutdown() {
        logger.info("shutting down")
        _ = runtime.startDraining()
        listener.withLockedValue { $0 }?.close(promise: nil)
    }

    private func drainConnections() async {
        for channel in runtime.startDraining() {
            channel.pipeline.fireUserInboundEventTriggered(ServerEvent.drain)
        }
        let grace = TimeAmount.milliseconds(Int64(configuration.limits.shutdownGracePeriodMs))
        let runtime = self.runtime
        let logger = self.logger
        // An event loop keeps the grace period, not a task: the cut-off comes on time even while
        // the cooperative pool is busy.
        let cutOff = group.next().scheduleTask(in: grace) {
            let remaining = runtime.openChannels
            guard !remaining.isEmpty else { return }
            logger.warning("grace period over; closing connections", metadata: ["connections": "\(remaining.count)"])
            for channel in remaining { channel.close(promise: nil) }
        }
        await runtime.waitUntilNoConnections()
        cutOff.cancel()
    }
}

extension PartialCancelServer {
    /// Opens a server's store: from the configuration, on one of the server's event loops.
    public typealias StoreOpener =
        @Sendable (ServerConfiguration, any EventLoop, Logger, WallClock) throws -> any StorePort

    /// The embedded default: SQLite shards in the configuration's data directory.
    public static let sqliteStore: StoreOpener = { configuration, loop, logger, clock in
        try Storage.open(
            directory: configuration.dataDirectory,
            configuration: configuration.storage,
            eventLoop: loop,
            logger: logger,
            clock: clock
        )
    }
}

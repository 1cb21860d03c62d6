import NIOCore
import PartialCancelDomain
import PartialCancelStorage
import PartialCancelWire

/// Every bound the server enforces, with its default and the reason for it. All are settable in the
/// config file under `limits` (same names in snake_case) and are documented in docs/CONFIGURATION.md.
public struct ServerLimits: Sendable, Hashable {
    /// Largest frame accepted, in bytes (SPEC: 4 MiB). Checked on the length prefix, before buffering.
    public var maxFrameBytes: Int = 4 * 1024 * 1024
    /// Calls in flight on one connection; more get RESOURCE_EXHAUSTED. Bounds a connection's memory.
    public var maxCallsInFlightPerConnection: Int = 4096
    /// Open connections; more are refused with a GoAway (RESOURCE_EXHAUSTED) and closed.
    public var maxConnections: Int = 1024
    /// Time a new connection has to send Hello before it is closed.
    public var helloTimeoutMs: Int = 5_000
    /// Time a partly received frame may wait for its next byte before the connection is closed.
    public var frameStallTimeoutMs: Int = 10_000
    /// A connection with no calls in flight and no traffic for this long is closed (0: never).
    public var idleTimeoutMs: Int = 300_000
    /// Deadline of a call that names none.
    public var defaultDeadlineMs: Int = 30_000
    /// Longest deadline honoured; longer ones are shortened to it.
    public var maxDeadlineMs: Int = 300_000
    /// On shutdown, time in-flight calls get to finish before their connections are closed anyway.
    public var shutdownGracePeriodMs: Int = 10_000
    /// Longest string field accepted, in UTF-8 bytes.
    public var maxStringBytes: Int = 4096
    /// Most elements accepted in one repeated field of a request, checked before the message is
    /// unpacked: no request has more (lines per request are at most an order's 500 lines, SKUs per
    /// watch at most `maxWatchSkus`), so a larger count is only work.
    public var maxRepeatedCount: Int = 500
    /// Longest client name accepted in Hello, in UTF-8 bytes (it only labels logs).
    public var maxClientNameBytes: Int = 128
    /// Longest delay a Ping may ask for.
    public var maxPingDelayMs: Int = 10_000
    /// Wrong confirmation tokens one caller may send within `tokenFailureWindowMs` before its
    /// confirmations and declines are refused for the rest of the window (each request also locks
    /// itself after five wrong tokens).
    public var tokenFailuresPerCaller: Int = 20
    public var tokenFailureWindowMs: Int = 60_000
    /// Changes queued for one watch before its watcher counts as too slow and the watch ends
    /// (RESOURCE_EXHAUSTED, WATCH_BUFFER_FULL).
    public var watchBufferChanges: Int = 1024
    /// Readiness: the oldest undelivered cross-shard message may be at most this old.
    public var maxOutboxLagMs: Int = 30_000
    /// The kernel send buffer of each accepted connection (SO_SNDBUF); 0 leaves it to the
    /// kernel's autotuning, which lets a peer that stops reading park megabytes in the kernel.
    public var socketSendBufferBytes: Int = 0
    /// Outbound bytes one connection may have queued (replies and stream items not yet taken by
    /// the kernel) before the server stops reading from it: a client that sends calls and never
    /// reads the replies gets back-pressure instead of growing the server's memory. Calls already
    /// read when the bound is reached wait, and run once the client reads again.
    public var maxOutboundBufferBytes: Int = 256 * 1024
    /// A connection whose outbound queue stays over `maxOutboundBufferBytes` this long is closed
    /// (GoAway RESOURCE_EXHAUSTED `WRITE_STALLED`).
    public var writeStallTimeoutMs: Int = 30_000
    /// Largest frame accepted before Hello has authenticated the connection (a Hello is tiny).
    public var maxFrameBytesBeforeHello: Int = 16 * 1024
    /// Bytes of partial frames all connections together may hold; a read that would go past it
    /// closes its connection (GoAway RESOURCE_EXHAUSTED `INBOUND_BUDGET_EXHAUSTED`).
    public var maxInboundBufferedBytes: Int = 256 * 1024 * 1024
    /// Open connections from one peer address; more are refused.
    public var maxConnectionsPerPeer: Int = 256
    /// Authenticated connections of one principal; a further Hello is refused.
    public var maxConnectionsPerPrincipal: Int = 256
    /// Connection slots that only authenticated connections may hold: connections that have not
    /// (yet) authenticated may take at most `maxConnections - reservedAuthenticatedConnections`,
    /// and when they have, a new one takes the place of the oldest of them. (At least one slot
    /// stays open to them, whatever the reserve.)
    public var reservedAuthenticatedConnections: Int = 64
    /// Watches (server streams) open on one connection, and for one principal across connections.
    public var maxWatchesPerConnection: Int = 64
    public var maxWatchesPerPrincipal: Int = 1024
    /// SKUs one WatchStock may follow.
    public var maxWatchSkus: Int = 100
    /// Bytes of fields unknown to this server accepted in one message (newer clients may send
    /// some; megabytes of them are only work).
    public var maxUnknownFieldBytes: Int = 16 * 1024

    public init() {}

    func framing(budget: InboundBudget?) -> FramingConfiguration {
        FramingConfiguration(
            maxFrameBytes: maxFrameBytes,
            frameStallTimeout: .milliseconds(Int64(frameStallTimeoutMs)),
            decodingLimits: decoding,
            maxFrameBytesBeforeAuthentication: maxFrameBytesBeforeHello,
            inboundBudget: budget
        )
    }

    var decoding: DecodingLimits {
        DecodingLimits(
            maxStringBytes: maxStringBytes,
            maxRepeatedCount: maxRepeatedCount,
            maxUnknownFieldBytes: maxUnknownFieldBytes
        )
    }

    /// What the server announces in HelloReply.
    var announced: PartialCancelWire.AnnouncedLimits {
        PartialCancelWire.AnnouncedLimits(
            maxFrameBytes: UInt32(clamping: maxFrameBytes),
            maxCallsInFlight: UInt32(clamping: maxCallsInFlightPerConnection),
            defaultDeadlineMs: UInt32(clamping: defaultDeadlineMs),
            maxDeadlineMs: UInt32(clamping: maxDeadlineMs),
            idleTimeoutMs: UInt32(clamping: idleTimeoutMs)
        )
    }

    /// Every limit by its config-file name, for validation messages and docs.
    public func validate() throws(ConfigurationError) {
        let positive: [(String, Int)] = [
            ("max_frame_bytes", maxFrameBytes), ("max_calls_in_flight_per_connection", maxCallsInFlightPerConnection),
            ("max_connections", maxConnections), ("hello_timeout_ms", helloTimeoutMs),
            ("frame_stall_timeout_ms", frameStallTimeoutMs), ("default_deadline_ms", defaultDeadlineMs),
            ("max_deadline_ms", maxDeadlineMs), ("shutdown_grace_period_ms", shutdownGracePeriodMs),
            ("max_string_bytes", maxStringBytes), ("max_repeated_count", maxRepeatedCount),
            ("max_client_name_bytes", maxClientNameBytes), ("token_failures_per_caller", tokenFailuresPerCaller),
            ("token_failure_window_ms", tokenFailureWindowMs), ("watch_buffer_changes", watchBufferChanges),
            ("max_outbox_lag_ms", maxOutboxLagMs), ("max_outbound_buffer_bytes", maxOutboundBufferBytes),
            ("write_stall_timeout_ms", writeStallTimeoutMs), ("max_frame_bytes_before_hello", maxFrameBytesBeforeHello),
            ("max_inbound_buffered_bytes", maxInboundBufferedBytes),
            ("max_connections_per_peer", maxConnectionsPerPeer),
            ("max_connections_per_principal", maxConnectionsPerPrincipal),
            ("max_watches_per_connection", maxWatchesPerConnection),
            ("max_watches_per_principal", maxWatchesPerPrincipal), ("max_watch_skus", maxWatchSkus),
        ]
        for (name, value) in positive where value <= 0 {
            throw ConfigurationError("limits.\(name) must be greater than 0 (got \(value))")
        }
        if idleTimeoutMs < 0 {
            throw ConfigurationError("limits.idle_timeout_ms must be 0 (off) or more (got \(idleTimeoutMs))")
        }
        if socketSendBufferBytes < 0 {
            throw ConfigurationError(
                "limits.socket_send_buffer_bytes must be 0 (the kernel's default) or more (got \(socketSendBufferBytes))"
            )
        }
        if maxUnknownFieldBytes < 0 {
            throw ConfigurationError(
                "limits.max_unknown_field_bytes must not be negative (got \(maxUnknownFieldBytes))"
            )
        }
        if reservedAuthenticatedConnections < 0 {
            throw ConfigurationError(
                "limits.reserved_authenticated_connections must not be negative (got \(reservedAuthenticatedConnections))"
            )
        }
        if maxInboundBufferedBytes < maxFrameBytes {
            throw ConfigurationError(
                "limits.max_inbound_buffered_bytes (\(maxInboundBufferedBytes)) must be at least max_frame_bytes (\(maxFrameBytes)), or no large frame could arrive"
            )
        }
        if maxPingDelayMs < 0 {
            throw ConfigurationError("limits.max_ping_delay_ms must not be negative (got \(maxPingDelayMs))")
        }
        if maxFrameBytes > Int(Int32.max) {
            throw ConfigurationError("limits.max_frame_bytes must be at most \(Int32.max)")
        }
        if defaultDeadlineMs > maxDeadlineMs {
            throw ConfigurationError(
                "limits.default_deadline_ms (\(defaultDeadlineMs)) exceeds limits.max_deadline_ms (\(maxDeadlineMs))"
            )
        }
    }
}

/// A configuration that cannot be used, with a message that says which setting and why.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Everything the server needs to run.
public struct ServerConfiguration: Sendable {
    /// Address to bind. Loopback by default: exposing the server is a deliberate act.
    public var host: String = "127.0.0.1"
    /// Port to bind; 0 picks a free one.
    public var port: Int = 7447
    /// Where the server keeps its state.
    public var dataDirectory: String = "pcancel-data"
    /// Network event-loop threads. Half the cores by default: the other half runs the shard
    /// workers, and more busy threads than cores only adds scheduling delay to every call.
    public var eventLoopThreads: Int = max(1, System.coreCount / 2)
    public var limits = ServerLimits()
    /// Shards, durability and checkpoint policy.
    public var storage = StorageConfiguration()
    /// Intake bounds and the channel/tier rules.
    public var intake = IntakeLimits()
    /// Bounds on a batch of fulfilment events.
    public var fulfilment = FulfilmentLimits()
    /// When an order channel or fulfilment source counts as degraded.
    public var sources = SourceHealthConfiguration()
    /// Where refund allocations go: the local ledger by default, or a payment service.
    public var payments = PaymentConfiguration()
    /// Touchpoints' webhook subscriptions.
    public var webhooks = WebhookConfiguration()
    /// Refund policy, cancellation windows per channel and tier, excluded tender kinds.
    public var cancellation = CancellationPolicy()
    /// Email delivery: sink, retries, backoff.
    public var notifications = NotificationConfiguration()
    /// How long idempotency keys are remembered.
    public var idempotencyRetentionMinutes: Int = 1440
    /// How long a cancellation's confirmation token is valid (SPEC: 24 h).
    public var cancellationTokenTTLSeconds: Int = 86_400
    /// Seed sample stock and orders when the data directory is created (the embedded default).
    public var seedSampleData = true
    /// Accepted API keys, hashed. Empty means "use the data directory's development key".
    public var apiKeys: [APIKey] = []
    /// TLS on the listener (and client certificates); nil: plaintext TCP.
    public var tls: TLSSettings?
    /// The Prometheus text endpoint (`/metrics`, with `/live` and `/ready`), on its own port;
    /// nil: off (the default). 0 picks a free port.
    public var metricsPort: Int?
    /// Where the metrics endpoint listens: loopback unless deliberately changed.
    public var metricsHost: String = "127.0.0.1"

    // MARK: Dead letters — paging and excerpts (config `dead_letters`; kept apart from the settings above)

    /// How dead letters are listed and read.
    public var deadLetters = DeadLetterSettings()

    public init() {}

    public func validate() throws(ConfigurationError) {
        try limits.validate()
        if !(0...65535).contains(port) { throw ConfigurationError("port must be 0...65535 (got \(port))") }
        if let metricsPort, !(0...65535).contains(metricsPort) {
            throw ConfigurationError("metrics.port must be 0...65535 (got \(metricsPort))")
        }
        if eventLoopThreads < 1 {
            throw ConfigurationError("event_loop_threads must be at least 1 (got \(eventLoopThreads))")
        }
        if host.isEmpty { throw ConfigurationError("host must not be empty") }
        if !(1...256).contains(storage.shards) {
            throw ConfigurationError("storage.shards must be 1...256 (got \(storage.shards))")
        }
        if storage.checkpointPages < 1 { throw ConfigurationError("storage.checkpoint_pages must be at least 1") }
        if notifications.maxAttempts < 1 || notifications.backoffBaseMs < 1
            || notifications.backoffCapMs < notifications.backoffBaseMs
            || notifications.pollIntervalMs < 1 || notifications.smtpTimeoutMs < 1
        {
            throw ConfigurationError(
                "notifications: max_attempts, backoff_base_ms, poll_interval_ms and smtp_timeout_ms must be at least 1, and backoff_cap_ms at least backoff_base_ms"
            )
        }
        if idempotencyRetentionMinutes < 1 {
            throw ConfigurationError("idempotency_retention_minutes must be at least 1")
        }
        if cancellationTokenTTLSeconds < 1 {
            throw ConfigurationError("cancellation.token_ttl_seconds must be at least 1")
        }
        let intakeBounds: [(String, Int)] = [
            ("max_lines", intake.maxLines), ("max_components_per_bundle", intake.maxComponentsPerBundle),
            ("max_promotions", intake.maxPromotions), ("max_tenders", intake.maxTenders),
            ("max_quantity", Int(intake.maxQuantity)), ("max_amount", Int(intake.maxAmount)),
        ]
        for (name, value) in intakeBounds where value < 1 {
            throw ConfigurationError("intake.\(name) must be at least 1 (got \(value))")
        }
        // Keeps every sum of money inside Int64: 10^12 minor units per amount, 10^7 units per line.
        if intake.maxAmount > 1_000_000_000_000 || intake.maxQuantity > 10_000_000 {
            throw ConfigurationError(
                "intake.max_amount must be at most 1000000000000 and intake.max_quantity at most 10000000"
            )
        }
        // ---- Intake hardening: the placing-time bound ----
        if !(0...31_536_000_000).contains(intake.maxPlacedAtSkewMs) {
            throw ConfigurationError(
                "intake.max_placed_at_skew_ms must be 0...31536000000 (a year; got \(intake.maxPlacedAtSkewMs))"
            )
        }
        // ---- end of intake hardening ----
        try tls?.validate()
        if storage.backend == .postgres && storage.postgresURLs.isEmpty {
            throw ConfigurationError(
                "storage.backend postgres needs storage.postgres: one postgres:// URL per database"
            )
        }
        if storage.backend == .sqlite && !storage.postgresURLs.isEmpty {
            throw ConfigurationError(
                "storage.postgres is set, but storage.backend is sqlite; set storage.backend to postgres"
            )
        }
        if !(1...256).contains(storage.postgresConnections) {
            throw ConfigurationError(
                "storage.postgres_connections must be 1...256 (got \(storage.postgresConnections))"
            )
        }
        if storage.deliveryBatch < 1 { throw ConfigurationError("storage.delivery_batch must be at least 1") }
        if storage.cachedBodies < 0 { throw ConfigurationError("storage.cached_bodies must be 0 (no cache) or more") }
        if storage.groupCommitJobs < 1 {
            throw ConfigurationError("storage.group_commit_jobs must be at least 1 (1: no group commit)")
        }
        // Dead letters (a block of their own).
        try deadLetters.validate()
    }
}

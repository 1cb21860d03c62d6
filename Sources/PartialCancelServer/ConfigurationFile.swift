import Foundation
import PartialCancelDomain
import PartialCancelStorage
import PartialCancelWire

/// Reads a server configuration from a JSON file (format in docs/CONFIGURATION.md). Unknown keys and
/// wrong types are errors naming their path, so a typo never silently falls back to a default.
public enum ConfigurationFile {
    public static func load(
        path: String,
        over base: ServerConfiguration = ServerConfiguration()
    ) throws -> ServerConfiguration {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigurationError("cannot read config file \(path): \(error.localizedDescription)")
        }
        return try parse(data, over: base, source: path)
    }

    public static func parse(
        _ data: Data,
        over base: ServerConfiguration = ServerConfiguration(),
        source: String = "config"
    ) throws -> ServerConfiguration {
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw ConfigurationError("\(source) is not valid JSON: \(error.localizedDescription)")
        }
        var reader = try ObjectReader(json, path: "")
        var configuration = base
        try reader.string("host") { configuration.host = $0 }
        try reader.int("port") { configuration.port = $0 }
        try reader.string("data_dir") { configuration.dataDirectory = $0 }
        try reader.int("event_loop_threads") { configuration.eventLoopThreads = $0 }
        try reader.object("metrics") { metrics in
            try metrics.int("port") { configuration.metricsPort = $0 }
            try metrics.string("host") { configuration.metricsHost = $0 }
        }
        try reader.object("limits") { limits in
            try limits.int("max_frame_bytes") { configuration.limits.maxFrameBytes = $0 }
            try limits.int("max_calls_in_flight_per_connection") {
                configuration.limits.maxCallsInFlightPerConnection = $0
            }
            try limits.int("max_connections") { configuration.limits.maxConnections = $0 }
            try limits.int("hello_timeout_ms") { configuration.limits.helloTimeoutMs = $0 }
            try limits.int("frame_stall_timeout_ms") { configuration.limits.frameStallTimeoutMs = $0 }
            try limits.int("idle_timeout_ms") { configuration.limits.idleTimeoutMs = $0 }
            try limits.int("default_deadline_ms") { configuration.limits.defaultDeadlineMs = $0 }
            try limits.int("max_deadline_ms") { configuration.limits.maxDeadlineMs = $0 }
            try limits.int("shutdown_grace_period_ms") { configuration.limits.shutdownGracePeriodMs = $0 }
            try limits.int("max_string_bytes") { configuration.limits.maxStringBytes = $0 }
            try limits.int("max_repeated_count") { configuration.limits.maxRepeatedCount = $0 }
            try limits.int("max_client_name_bytes") { configuration.limits.maxClientNameBytes = $0 }
            try limits.int("max_ping_delay_ms") { configuration.limits.maxPingDelayMs = $0 }
            try limits.int("token_failures_per_caller") { configuration.limits.tokenFailuresPerCaller = $0 }
            try limits.int("token_failure_window_ms") { configuration.limits.tokenFailureWindowMs = $0 }
            try limits.int("watch_buffer_changes") { configuration.limits.watchBufferChanges = $0 }
            try limits.int("max_outbox_lag_ms") { configuration.limits.maxOutboxLagMs = $0 }
            try limits.int("socket_send_buffer_bytes") { configuration.limits.socketSendBufferBytes = $0 }
            try limits.int("max_outbound_buffer_bytes") { configuration.limits.maxOutboundBufferBytes = $0 }
            try limits.int("write_stall_timeout_ms") { configuration.limits.writeStallTimeoutMs = $0 }
            try limits.int("max_frame_bytes_before_hello") { configuration.limits.maxFrameBytesBeforeHello = $0 }
            try limits.int("max_inbound_buffered_bytes") { configuration.limits.maxInboundBufferedBytes = $0 }
            try limits.int("max_connections_per_peer") { configuration.limits.maxConnectionsPerPeer = $0 }
            try limits.int("max_connections_per_principal") { configuration.limits.maxConnectionsPerPrincipal = $0 }
            try limits.int("reserved_authenticated_connections") {
                configuration.limits.reservedAuthenticatedConnections = $0
            }
            try limits.int("max_watches_per_connection") { configuration.limits.maxWatchesPerConnection = $0 }
            try limits.int("max_watches_per_principal") { configuration.limits.maxWatchesPerPrincipal = $0 }
            try limits.int("max_watch_skus") { configuration.limits.maxWatchSkus = $0 }
            try limits.int("max_unknown_field_bytes") { configuration.limits.maxUnknownFieldBytes = $0 }
        }
        try reader.object("storage") { storage in
            try storage.int("shards") { configuration.storage.shards = $0 }
            try storage.string("synchronous") { value in
                guard let mode = Synchronous(rawValue: value.uppercased()) else {
                    throw ConfigurationError("storage.synchronous must be FULL or NORMAL (got '\(value)')")
                }
                configuration.storage.synchronous = mode
            }
            try storage.int("checkpoint_pages") { configuration.storage.checkpointPages = $0 }
            try storage.int("delivery_batch") { configuration.storage.deliveryBatch = $0 }
            try storage.int("group_commit_jobs") { configuration.storage.groupCommitJobs = $0 }
            try storage.int("cached_bodies") { configuration.storage.cachedBodies = $0 }

            // --- Tokens at rest (docs/STORAGE.md "Confirmation tokens at rest") ---
            try storage.string("token_key_file") { path in
                guard !path.isEmpty else {
                    throw ConfigurationError(
                        "storage.token_key_file must not be empty (omit it for the default beside the data directory)"
                    )
                }
                configuration.storage.tokenKeyFile = path
            }
            // --- end tokens at rest ---
            try storage.string("backend") { value in
                guard let backend = StorageBackend(rawValue: value.lowercased()) else {
                    throw ConfigurationError("storage.backend must be sqlite or postgres (got '\(value)')")
                }
                configuration.storage.backend = backend
            }
            try storage.array(
                "postgres",
                { index, _ in throw ConfigurationError("storage.postgres[\(index)] must be a postgres:// URL string") },
                strings: { _, url in configuration.storage.postgresURLs.append(url) }
            )
            try storage.int("postgres_connections") { configuration.storage.postgresConnections = $0 }
        }
        try reader.object("intake") { intake in
            try intake.int("max_lines") { configuration.intake.maxLines = $0 }
            try intake.int("max_components_per_bundle") { configuration.intake.maxComponentsPerBundle = $0 }
            try intake.int("max_promotions") { configuration.intake.maxPromotions = $0 }
            try intake.int("max_tenders") { configuration.intake.maxTenders = $0 }
            try intake.int("max_quantity") { configuration.intake.maxQuantity = Int64($0) }
            try intake.int("max_amount") { configuration.intake.maxAmount = Int64($0) }
            // ---- Intake hardening: the placing-time bound (docs/CONFIGURATION.md, intake) ----
            try intake.int("max_placed_at_skew_ms") { configuration.intake.maxPlacedAtSkewMs = Int64($0) }
            // ---- end of intake hardening ----
            try intake.array("rules") { _, rule in
                var channel = "*"
                var tier = "*"
                var maxTotal: Int?
                try rule.string("channel") { channel = $0 }
                try rule.string("tier") { tier = $0 }
                try rule.int("max_order_total") { maxTotal = $0 }
                try rule.finish()
                guard let maxTotal, maxTotal >= 0 else {
                    throw ConfigurationError("\(rule.path).max_order_total is required and must not be negative")
                }
                configuration.intake.rules.append(
                    IntakeRule(channel: channel, tier: tier, maxOrderTotal: Int64(maxTotal))
                )
            }
        }
        try reader.object("fulfilment") { fulfilment in
            try fulfilment.int("max_events_per_batch", in: 1...100_000) {
                configuration.fulfilment.maxEventsPerBatch = $0
            }
            try fulfilment.int("max_lines_per_shipment", in: 1...10_000) {
                configuration.fulfilment.maxLinesPerShipment = $0
            }
            try fulfilment.int("max_id_bytes", in: 8...1024) { configuration.fulfilment.maxIDBytes = $0 }
        }
        try reader.object("payments") { payments in
            let path = payments.path
            var adapter = "ledger"
            var ledgerPath: String?
            var url: String?
            var secret: String?
            try payments.string("adapter") { adapter = $0 }
            try payments.string("ledger_path") { ledgerPath = $0 }
            try payments.string("url") { url = $0 }
            try payments.string("secret") { secret = $0 }
            try payments.bool("deliver") { configuration.payments.deliver = $0 }
            try payments.string("fallback") { value in
                switch value {
                case "store_credit": configuration.payments.fallback = .storeCredit
                case "case": configuration.payments.fallback = .person
                default: throw ConfigurationError("\(path).fallback must be store_credit or case (got '\(value)')")
                }
            }
            try payments.int("timeout_ms", in: 100...600_000) { configuration.payments.timeoutMs = $0 }
            try payments.int("max_attempts", in: 1...1000) { configuration.payments.maxAttempts = $0 }
            try payments.int("backoff_base_ms", in: 1...3_600_000) { configuration.payments.backoffBaseMs = $0 }
            try payments.int("backoff_cap_ms", in: 1...86_400_000) { configuration.payments.backoffCapMs = $0 }
            try payments.int("poll_interval_ms", in: 10...60_000) { configuration.payments.pollIntervalMs = $0 }
            try payments.int("batch_size", in: 1...10_000) { configuration.payments.batchSize = $0 }
            switch adapter {
            case "ledger":
                configuration.payments.adapter = .ledger(path: ledgerPath)
            case "http":
                guard let url, url.hasPrefix("http://") || url.hasPrefix("https://") else {
                    throw ConfigurationError(
                        "\(path).url is required with adapter http: the payment service's http(s) URL"
                    )
                }
                guard let secret else {
                    throw ConfigurationError("\(path).secret is required with adapter http (whsec_ and base64)")
                }
                _ = try WebhookSigner(secret: secret)
                configuration.payments.adapter = .http(url: url, secret: secret)
            default:
                throw ConfigurationError("\(path).adapter must be ledger or http (got '\(adapter)')")
            }
        }
        try reader.object("webhooks") { webhooks in
            try webhooks.int("timeout_ms", in: 100...600_000) { configuration.webhooks.timeoutMs = $0 }
            try webhooks.int("max_attempts", in: 1...1000) { configuration.webhooks.maxAttempts = $0 }
            try webhooks.int("backoff_base_ms", in: 1...3_600_000) { configuration.webhooks.backoffBaseMs = $0 }
            try webhooks.int("backoff_cap_ms", in: 1...86_400_000) { configuration.webhooks.backoffCapMs = $0 }
            try webhooks.int("poll_interval_ms", in: 10...60_000) { configuration.webhooks.pollIntervalMs = $0 }
            try webhooks.int("batch_keys", in: 1...10_000) { configuration.webhooks.batchKeys = $0 }
            try webhooks.int("events_per_key", in: 1...10_000) { configuration.webhooks.eventsPerKey = $0 }
            try webhooks.int("retention_ms", in: 60_000...2_592_000_000) {
                configuration.webhooks.retentionMs = Int64($0)
            }
            try webhooks.array("subscriptions") { _, entry in
                let entryPath = entry.path
                var name: String?
                var url: String?
                var secret: String?
                var events: [String] = []
                try entry.string("name") { name = $0 }
                try entry.string("url") { url = $0 }
                try entry.string("secret") { secret = $0 }
                try entry.array(
                    "events",
                    { index, _ in throw ConfigurationError("\(entryPath).events[\(index)] must be a string") },
                    strings: { index, pattern in
                        guard TouchpointEvent.isValid(pattern: pattern) else {
                            throw ConfigurationError(
                                "\(entryPath).events[\(index)]: '\(pattern)' names no event; the types: \(TouchpointEvent.types.joined(separator: ", ")) (or TYPE.*, *)"
                            )
                        }
                        events.append(pattern)
                    }
                )
                try entry.finish()
                guard let name, Identifier.isValid(name) else {
                    throw ConfigurationError("\(entryPath).name is required: 1-64 of letters, digits, '.', '_' and '-'")
                }
                guard !configuration.webhooks.subscriptions.contains(where: { $0.name == name }) else {
                    throw ConfigurationError("\(entryPath): a second subscription named '\(name)'")
                }
                guard let url, url.hasPrefix("http://") || url.hasPrefix("https://") else {
                    throw ConfigurationError("\(entryPath).url is required: the touchpoint's http(s) URL")
                }
                guard let secret else {
                    throw ConfigurationError("\(entryPath).secret is required (whsec_ and base64)")
                }
                do { _ = try WebhookSigner(secret: secret) } catch {
                    throw ConfigurationError("\(entryPath).secret must be whsec_ and base64 (Standard Webhooks)")
                }
                guard !events.isEmpty else { throw ConfigurationError("\(entryPath).events names no event type") }
                configuration.webhooks.subscriptions.append(
                    WebhookSubscription(name: name, url: url, secret: secret, events: events)
                )
            }
        }
        try reader.object("sources") { sources in
            try sources.int("window_ms", in: 10_000...86_400_000) { configuration.sources.windowMs = Int64($0) }
            var rules: [SourceHealthRule] = []
            try sources.array("rules") { _, entry in
                var rule = SourceHealthRule()
                let path = entry.path
                try entry.string("source") { rule.source = $0 }
                try entry.int("max_silence_ms") { value in
                    guard value >= 1000 else {
                        throw ConfigurationError("\(path).max_silence_ms must be at least 1000")
                    }
                    rule.maxSilenceMs = Int64(value)
                }
                try entry.int("max_reject_percent", in: 0...100) { rule.maxRejectShare = Double($0) / 100 }
                try entry.int("min_events") { value in
                    guard value >= 1 else { throw ConfigurationError("\(path).min_events must be at least 1") }
                    rule.minEvents = value
                }
                try entry.finish()
                let known = Intake().channels + FulfilmentIntake().sources
                guard rule.source == "*" || known.contains(rule.source) else {
                    throw ConfigurationError(
                        "\(path).source '\(rule.source)' is no source; known: *, \(known.sorted().joined(separator: ", "))"
                    )
                }
                if rules.contains(where: { $0.source == rule.source }) {
                    throw ConfigurationError("\(path): a second rule for source '\(rule.source)'")
                }
                rules.append(rule)
            }
            // The default rule stays for sources without one of their own, unless a `*` rule replaces it.
            if !rules.isEmpty {
                configuration.sources.rules = rules + (rules.contains { $0.source == "*" } ? [] : [SourceHealthRule()])
            }
        }
        try reader.object("cancellation") { cancellation in
            let policyPath = cancellation.path
            func refundPolicy(_ value: String, _ path: String) throws -> RefundPolicy {
                guard let policy = RefundPolicy(rawValue: value) else {
                    throw ConfigurationError("\(path) must be proportional or reprice (got '\(value)')")
                }
                return policy
            }
            try cancellation.string("refund_policy") {
                configuration.cancellation.refundPolicy = try refundPolicy($0, policyPath + ".refund_policy")
            }
            try cancellation.int("token_ttl_seconds") { configuration.cancellationTokenTTLSeconds = $0 }
            try cancellation.array("ineligible_tenders") { index, _ in
                throw ConfigurationError("\(policyPath).ineligible_tenders[\(index)] must be a tender kind string")
            } strings: { index, value in
                guard let kind = TenderKind(rawValue: value.uppercased()) else {
                    throw ConfigurationError(
                        "\(policyPath).ineligible_tenders[\(index)]: '\(value)' is not one of \(TenderKind.allCases.map { $0.rawValue.lowercased() }.joined(separator: ", "))"
                    )
                }
                configuration.cancellation.ineligibleTenderKinds.insert(kind)
            }
            try cancellation.array("rules") { _, rule in
                var entry = CancellationPolicy.Rule()
                let rulePath = rule.path
                try rule.string("channel") { entry.channel = $0 }
                try rule.string("tier") { entry.tier = $0 }
                try rule.int("cancel_window_minutes") { minutes in
                    guard minutes >= 0 else {
                        throw ConfigurationError("\(rulePath).cancel_window_minutes must not be negative")
                    }
                    entry.cancelWindowMinutes = Int64(minutes)
                }
                try rule.string("refund_policy") {
                    entry.refundPolicy = try refundPolicy($0, rulePath + ".refund_policy")
                }
                try rule.finish()
                configuration.cancellation.rules.append(entry)
            }
        }
        try reader.object("notifications") { notifications in
            let path = notifications.path
            var sink: String?
            var maildir: String?
            var host = "127.0.0.1"
            var port = 25
            var helo = "localhost"
            try notifications.string("email_sink") { sink = $0 }
            try notifications.string("maildir") { maildir = $0 }
            try notifications.string("from") { configuration.notifications.from = $0 }
            try notifications.object("smtp") { smtp in
                try smtp.string("host") { host = $0 }
                try smtp.int("port") { port = $0 }
                try smtp.string("helo") { helo = $0 }
            }
            try notifications.int("max_attempts") { configuration.notifications.maxAttempts = $0 }
            try notifications.int("backoff_base_ms") { configuration.notifications.backoffBaseMs = $0 }
            try notifications.int("backoff_cap_ms") { configuration.notifications.backoffCapMs = $0 }
            try notifications.int("poll_interval_ms") { configuration.notifications.pollIntervalMs = $0 }
            try notifications.int("smtp_timeout_ms") { configuration.notifications.smtpTimeoutMs = $0 }
            switch sink {
            case nil, "maildir": configuration.notifications.sink = maildir.map { .maildir(directory: $0) }
            case "smtp":
                guard (1...65535).contains(port) else {
                    throw ConfigurationError("\(path).smtp.port must be 1...65535")
                }
                configuration.notifications.sink = .smtp(host: host, port: port, heloName: helo)
            default: throw ConfigurationError("\(path).email_sink must be maildir or smtp (got '\(sink!)')")
            }
        }
        // Dead letters: paging and excerpts (a block of their own).
        try reader.object("dead_letters") { letters in
            try letters.int("excerpt_bytes") { configuration.deadLetters.excerptBytes = $0 }
            try letters.int("page_size") { configuration.deadLetters.pageSize = $0 }
            try letters.int("max_page_size") { configuration.deadLetters.maxPageSize = $0 }
        }
        try reader.int("idempotency_retention_minutes") { configuration.idempotencyRetentionMinutes = $0 }
        try reader.bool("seed_sample_data") { configuration.seedSampleData = $0 }
        try reader.array("api_keys") { _, entry in
            let credential = try entry.credential()
            configuration.apiKeys.append(
                APIKey(name: credential.name, role: credential.role, sha256: credential.sha256)
            )
        }
        try reader.object("tls") { tls in
            var chain = ""
            var key = ""
            try tls.string("certificate_chain") { chain = $0 }
            try tls.string("private_key") { key = $0 }
            guard !chain.isEmpty, !key.isEmpty else {
                throw ConfigurationError("tls: certificate_chain and private_key are required")
            }
            var settings = TLSSettings(certificateChainFile: chain, privateKeyFile: key)
            try tls.string("client_ca") { settings.clientCAFile = $0 }
            try tls.bool("require_client_certificate") { settings.requireClientCertificate = $0 }
            try tls.array("client_certificates") { _, entry in
                let credential = try entry.credential()
                settings.clientCertificates.append(
                    TLSSettings.ClientCertificate(
                        name: credential.name,
                        role: credential.role,
                        sha256: credential.sha256
                    )
                )
            }
            configuration.tls = settings
        }
        try reader.finish()
        try configuration.validate()
        _ = try KeyStore(configuration.apiKeys)
        return configuration
    }
}

/// Walks one JSON object, remembering which keys were read so that the rest can be reported.
private struct ObjectReader {
    let object: [String: Any]
    let path: String
    private var seen: Set<String> = []

    init(_ value: Any, path: String) throws {
        guard let object = value as? [String: Any] else {
            throw ConfigurationError("\(path.isEmpty ? "config" : path) must be a JSON object")
        }
        self.object = object
        self.path = path
    }

    private func child(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private mutating func value(_ key: String) -> Any? {
        seen.insert(key)
        return object[key]
    }

    mutating func string(_ key: String, _ apply: (String) throws -> Void) throws {
        guard let value = value(key) else { return }
        guard let string = value as? String else { throw ConfigurationError("\(child(key)) must be a string") }
        try apply(string)
    }

    mutating func int(_ key: String, _ apply: (Int) throws -> Void) throws {
        guard let value = value(key) else { return }
        // "c" and "B" are the NSNumber types of a JSON true/false
        guard let number = value as? NSNumber, !["c", "B"].contains(String(cString: number.objCType)),
            let int = Int(exactly: number.doubleValue)
        else {
            throw ConfigurationError("\(child(key)) must be a whole number")
        }
        try apply(int)
    }

    /// A whole number within `range`, or an error naming the setting and the range.
    mutating func int(_ key: String, in range: ClosedRange<Int>, _ apply: (Int) throws -> Void) throws {
        let path = child(key)
        try int(key) { value in
            guard range.contains(value) else {
                throw ConfigurationError("\(path) must be \(range.lowerBound)...\(range.upperBound) (got \(value))")
            }
            try apply(value)
        }
    }

    mutating func bool(_ key: String, _ apply: (Bool) throws -> Void) throws {
        guard let value = value(key) else { return }
        guard let number = value as? NSNumber, ["c", "B"].contains(String(cString: number.objCType)) else {
            throw ConfigurationError("\(child(key)) must be true or false")
        }
        try apply(number.boolValue)
    }

    mutating func object(_ key: String, _ body: (inout ObjectReader) throws -> Void) throws {
        guard let value = value(key) else { return }
        var reader = try ObjectReader(value, path: child(key))
        try body(&reader)
        try reader.finish()
    }

    mutating func array(_ key: String, _ body: (Int, inout ObjectReader) throws -> Void) throws {
        try array(key, body, strings: nil)
    }

    /// An array of objects (each read by `body`) or, with `strings`, of strings.
    mutating func array(
        _ key: String,
        _ body: (Int, inout ObjectReader) throws -> Void,
        strings: ((Int, String) throws -> Void)?
    ) throws {
        guard let value = value(key) else { return }
        guard let array = value as? [Any] else { throw ConfigurationError("\(child(key)) must be an array") }
        for (index, element) in array.enumerated() {
            if let strings, let string = element as? String {
                try strings(index, string)
                continue
            }
            var reader = try ObjectReader(element, path: "\(child(key))[\(index)]")
            try body(index, &reader)
        }
    }

    /// A credential entry (an API key, or a client certificate): `name`, `role` and `sha256`, all
    /// required, nothing else.
    mutating func credential() throws -> (name: String, role: Role, sha256: String) {
        var name = ""
        var role: Role?
        var sha256 = ""
        let entryPath = path
        try string("name") { name = $0 }
        try string("role") { value in
            guard let parsed = Role(rawValue: value) else {
                throw ConfigurationError(
                    "\(entryPath).role: '\(value)' is not one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            role = parsed
        }
        try string("sha256") { sha256 = $0 }
        try finish()
        guard !name.isEmpty, let role, !sha256.isEmpty else {
            throw ConfigurationError("\(entryPath): name, role and sha256 are required")
        }
        return (name, role, sha256)
    }

    func finish() throws {
        let unknown = Set(object.keys).subtracting(seen).sorted()
        if let first = unknown.first {
            throw ConfigurationError("unknown setting \(child(first))")
        }
    }
}

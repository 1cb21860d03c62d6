import Foundation
import PartialCancelTestSupport
import PartialCancelWire
import Testing

@testable import PartialCancelServer

@Suite("Configuration and keys")
struct ConfigurationTests {
    @Test("a config file sets every limit by its documented name")
    func parsesLimits() throws {
        let json = """
            {"host": "127.0.0.2", "port": 9000, "data_dir": "/tmp/x", "event_loop_threads": 3,
             "limits": {"max_frame_bytes": 1000, "max_calls_in_flight_per_connection": 2, "max_connections": 3,
                        "hello_timeout_ms": 4, "frame_stall_timeout_ms": 5, "idle_timeout_ms": 0,
                        "default_deadline_ms": 7, "max_deadline_ms": 8, "shutdown_grace_period_ms": 9,
                        "max_string_bytes": 10, "max_repeated_count": 11, "max_ping_delay_ms": 12,
                        "max_client_name_bytes": 13, "watch_buffer_changes": 14, "max_outbox_lag_ms": 15,
                        "socket_send_buffer_bytes": 16},
             "metrics": {"port": 9001, "host": "127.0.0.3"},
             "api_keys": [{"name": "a", "role": "agent", "sha256": "\(APIKey.hash("k"))"}]}
            """
        let configuration = try ConfigurationFile.parse(Data(json.utf8))
        #expect(configuration.host == "127.0.0.2")
        #expect(configuration.port == 9000)
        #expect(configuration.dataDirectory == "/tmp/x")
        #expect(configuration.eventLoopThreads == 3)
        let limits = configuration.limits
        let values: [Int] = [
            limits.maxFrameBytes, limits.maxCallsInFlightPerConnection, limits.maxConnections, limits.helloTimeoutMs,
            limits.frameStallTimeoutMs, limits.idleTimeoutMs, limits.defaultDeadlineMs, limits.maxDeadlineMs,
            limits.shutdownGracePeriodMs, limits.maxStringBytes, limits.maxRepeatedCount, limits.maxPingDelayMs,
            limits.maxClientNameBytes, limits.watchBufferChanges, limits.maxOutboxLagMs, limits.socketSendBufferBytes,
        ]
        #expect(values == [1000, 2, 3, 4, 5, 0, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16])
        #expect(configuration.metricsPort == 9001 && configuration.metricsHost == "127.0.0.3")
        #expect(configuration.apiKeys == [APIKey(name: "a", role: .agent, key: "k")])
    }

    @Test("the memory, connection and watch bounds are set by their documented names")
    func parsesBounds() throws {
        let json = """
            {"limits": {"max_unknown_field_bytes": 1, "max_frame_bytes_before_hello": 2, "max_inbound_buffered_bytes": 4194304,
                        "max_outbound_buffer_bytes": 4, "write_stall_timeout_ms": 5, "max_connections_per_peer": 6,
                        "max_connections_per_principal": 7, "reserved_authenticated_connections": 8,
                        "max_watches_per_connection": 9, "max_watches_per_principal": 10, "max_watch_skus": 11}}
            """
        let limits = try ConfigurationFile.parse(Data(json.utf8)).limits
        let values = [
            limits.maxUnknownFieldBytes, limits.maxFrameBytesBeforeHello, limits.maxInboundBufferedBytes,
            limits.maxOutboundBufferBytes, limits.writeStallTimeoutMs, limits.maxConnectionsPerPeer,
            limits.maxConnectionsPerPrincipal, limits.reservedAuthenticatedConnections,
            limits.maxWatchesPerConnection, limits.maxWatchesPerPrincipal, limits.maxWatchSkus,
        ]
        #expect(values == [1, 2, 4_194_304, 4, 5, 6, 7, 8, 9, 10, 11])
    }

    @Test(
        "bad settings are refused, naming the setting",
        arguments: [
            (#"{"limts": {}}"#, "unknown setting limts"),
            (#"{"limits": {"max_frame_bytes": "big"}}"#, "limits.max_frame_bytes must be a whole number"),
            (#"{"limits": {"max_frame_bytes": true}}"#, "limits.max_frame_bytes must be a whole number"),
            (#"{"limits": {"max_connections": 0}}"#, "limits.max_connections must be greater than 0"),
            (
                #"{"limits": {"max_outbound_buffer_bytes": 0}}"#,
                "limits.max_outbound_buffer_bytes must be greater than 0"
            ),
            (
                #"{"limits": {"max_inbound_buffered_bytes": 1024}}"#,
                "limits.max_inbound_buffered_bytes (1024) must be at least max_frame_bytes"
            ),
            (#"{"limits": {"default_deadline_ms": 10, "max_deadline_ms": 5}}"#, "exceeds limits.max_deadline_ms"),
            (#"{"port": 70000}"#, "port must be 0...65535"),
            (
                #"{"api_keys": [{"name": "a", "role": "root", "sha256": "00"}]}"#,
                "api_keys[0].role: 'root' is not one of"
            ),
            (#"{"api_keys": [{"name": "a", "role": "agent", "sha256": "xyz"}]}"#, "sha256 must be 64 hex digits"),
            (#"{"api_keys": [{"name": "a", "role": "agent"}]}"#, "api_keys[0]: name, role and sha256 are required"),
            (#"[1]"#, "config must be a JSON object"),
            (#"{"#, "is not valid JSON"),
        ]
    )
    func refusesBadSettings(json: String, message: String) {
        do {
            _ = try ConfigurationFile.parse(Data(json.utf8))
            Issue.record("accepted \(json)")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }

    @Test("a key resolves to its principal; an empty key is anonymous; anything else is unknown")
    func keyStore() throws {
        let store = try KeyStore([
            APIKey(name: "svc", role: .service, key: "pck_1"), APIKey(name: "ops", role: .admin, key: "pck_2"),
        ])
        #expect(store.principal(for: "pck_1") == Principal(name: "svc", role: .service))
        #expect(store.principal(for: "pck_2") == Principal(name: "ops", role: .admin))
        #expect(store.principal(for: "") == .anonymous)
        #expect(store.principal(for: "pck_3") == nil)
        #expect(store.principal(for: "pck_1 ") == nil)
    }

    @Test("generated keys are 256-bit, prefixed and distinct")
    func generatedKeys() {
        let keys = (0..<100).map { _ in APIKey.generate() }
        #expect(Set(keys).count == 100)
        #expect(keys.allSatisfy { $0.hasPrefix("pck_") && $0.count == 4 + 64 })
        #expect(APIKey.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test("method access: anonymous, authenticated and role sets", arguments: Role.allCases)
    func access(role: Role) {
        let principal = Principal(name: "p", role: role)
        #expect(MethodAccess.anonymous.check(principal, method: "m") == nil)
        #expect(MethodAccess.authenticated.check(principal, method: "m") == nil)
        #expect(MethodAccess.authenticated.check(.anonymous, method: "m")?.code == .unauthenticated)
        #expect(MethodAccess.roles([role]).check(principal, method: "m") == nil)
        let others = Set(Role.allCases).subtracting([role])
        #expect(MethodAccess.roles(others).check(principal, method: "m")?.code == .permissionDenied)
    }

    @Test("the development key is created once and only its hash is trusted")
    func developmentKey() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pcancel-devkey-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try DevelopmentKey.ensure(dataDirectory: directory)
        let key = try #require(first.createdKey)
        let second = try DevelopmentKey.ensure(dataDirectory: directory)
        #expect(second.createdKey == nil)
        #expect(second.keys == first.keys)
        #expect(try KeyStore(second.keys).principal(for: key)?.role == .admin)
        let portalKey = try String(contentsOfFile: directory + "/dev-portal-key", encoding: .utf8).trimmingCharacters(
            in: .whitespacesAndNewlines
        )
        #expect(try KeyStore(second.keys).principal(for: portalKey)?.role == .portal)
    }
}

@Suite("Cancellation configuration")
struct CancellationConfigurationTests {
    @Test("the cancellation section sets the policy, windows and excluded tenders")
    func parses() throws {
        let json = """
            {"cancellation": {"refund_policy": "reprice", "ineligible_tenders": ["bnpl", "gift_card"],
                              "rules": [{"channel": "marketplace", "tier": "standard", "cancel_window_minutes": 30, "refund_policy": "proportional"}]}}
            """
        let policy = try ConfigurationFile.parse(Data(json.utf8)).cancellation
        #expect(policy.refundPolicy == .reprice)
        #expect(policy.ineligibleTenderKinds == [.bnpl, .giftCard])
        #expect(
            policy.rules == [
                .init(channel: "marketplace", tier: "standard", cancelWindowMinutes: 30, refundPolicy: .proportional)
            ]
        )
    }

    @Test("the fulfilment and sources sections set the batch bounds, the window and each source's rule")
    func fulfilmentAndSources() throws {
        let json = """
            {"fulfilment": {"max_events_per_batch": 50, "max_lines_per_shipment": 7, "max_id_bytes": 64},
             "sources": {"window_ms": 60000, "rules": [
                {"source": "warehouse", "max_silence_ms": 900000},
                {"source": "web", "max_reject_percent": 10, "min_events": 5}]}}
            """
        let configuration = try ConfigurationFile.parse(Data(json.utf8))
        #expect(configuration.fulfilment.maxEventsPerBatch == 50 && configuration.fulfilment.maxLinesPerShipment == 7)
        #expect(configuration.fulfilment.maxIDBytes == 64)
        #expect(configuration.sources.windowMs == 60_000)
        #expect(configuration.sources.rule(for: "warehouse").maxSilenceMs == 900_000)
        #expect(configuration.sources.rule(for: "web").maxRejectShare == 0.1)
        #expect(configuration.sources.rule(for: "web").minEvents == 5)
        // Without a rule of its own (and no `*` rule), a source keeps the defaults.
        #expect(configuration.sources.rule(for: "3pl") == SourceHealthRule())
    }

    @Test(
        "bad fulfilment and sources settings name the setting",
        arguments: [
            (#"{"fulfilment": {"max_events_per_batch": 0}}"#, "fulfilment.max_events_per_batch must be 1...100000"),
            (#"{"sources": {"window_ms": 5}}"#, "sources.window_ms must be 10000...86400000"),
            (
                #"{"sources": {"rules": [{"source": "warehose", "max_silence_ms": 60000}]}}"#,
                "sources.rules[0].source 'warehose' is no source; known: *, 3pl, callcenter"
            ),
            (
                #"{"sources": {"rules": [{"source": "web", "max_reject_percent": 150}]}}"#,
                "sources.rules[0].max_reject_percent must be 0...100"
            ),
            (
                #"{"sources": {"rules": [{"source": "web"}, {"source": "web"}]}}"#,
                "sources.rules[1]: a second rule for source 'web'"
            ),
        ]
    )
    func refusesSources(json: String, message: String) {
        do {
            _ = try ConfigurationFile.parse(Data(json.utf8))
            Issue.record("accepted \(json)")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }

    @Test(
        "bad cancellation settings name the setting",
        arguments: [
            (
                #"{"cancellation": {"refund_policy": "generous"}}"#,
                "cancellation.refund_policy must be proportional or reprice"
            ),
            (
                #"{"cancellation": {"ineligible_tenders": ["cheque"]}}"#,
                "cancellation.ineligible_tenders[0]: 'cheque' is not one of"
            ),
            (
                #"{"cancellation": {"rules": [{"cancel_window_minutes": -1}]}}"#,
                "cancellation.rules[0].cancel_window_minutes must not be negative"
            ),
            (#"{"cancellation": {"rules": [{"window": 5}]}}"#, "unknown setting cancellation.rules[0].window"),
        ]
    )
    func refuses(json: String, message: String) {
        do {
            _ = try ConfigurationFile.parse(Data(json.utf8))
            Issue.record("accepted \(json)")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }
}

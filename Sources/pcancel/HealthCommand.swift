import ArgumentParser
import PartialCancelClient
import PartialCancelWire

struct HealthCommand: ServerCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract:
            "Shows whether the server is serving and ready (needs no API key; with one, also its version, uptime, connections and shards).",
        discussion:
            "Exits 0 when the server is serving and ready, 6 when it is not (draining, or a shard cannot serve)."
    )

    @OptionGroup var local: ConnectionOptions
    @ParentCommand var root: PCancelCommand

    func run() async throws {
        try await connection.withClient { client in
            let health = try await client.health()
            // Anonymous callers get the status and readiness only (docs/PROTOCOL.md, Health).
            let detailed = client.server.role != "anonymous"
            // The node answering: the first of several --server addresses that could be reached.
            let address = "\(client.configuration.host):\(client.configuration.port)"
            if connection.json {
                var object: [String: Any] = [
                    "status": health.status.name,
                    "ready": health.ready,
                    "protocol_version": Int(health.protocolVersion),
                    "server": address,
                    "role": client.server.role,
                ]
                if detailed {
                    object["server_version"] = health.serverVersion
                    object["uptime_ms"] = health.uptimeMs
                    object["connections"] = Int(health.connections)
                    object["not_ready"] = health.notReady
                    object["shards"] = health.shards.map { ["index": Int($0.index), "open": $0.open] as [String: Any] }
                }
                Output.json(object)
            } else {
                let readiness = health.ready ? "ready" : "not ready"
                if detailed {
                    print(
                        "\(health.status.name)  \(readiness)  \(address)  version \(health.serverVersion)  protocol \(health.protocolVersion)  uptime \(String(format: "%.1f", Double(health.uptimeMs) / 1000)) s  connections \(health.connections)  shards \(health.shards.count)"
                    )
                    for cause in health.notReady { print("  not ready: \(cause)") }
                } else {
                    print(
                        "\(health.status.name)  \(readiness)  \(address)  protocol \(health.protocolVersion)  (version, connections and shards need an API key)"
                    )
                }
            }
            // Not serving, or serving but not ready (a shard closed, the outbox behind, draining).
            if health.status != .serving || !health.ready { throw ExitCode(6) }
        }
    }
}

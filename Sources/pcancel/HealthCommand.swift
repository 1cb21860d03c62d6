import ArgumentParser
import PartialCancelClient
import PartialCancelWire

struct HealthCommand: ServerCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Shows whether the server is serving (needs no API key).")

    @OptionGroup var local: ConnectionOptions
    @ParentCommand var root: PCancelCommand

    func run() async throws {
        try await connection.withClient { client in
            let health = try await client.health()
            if connection.json {
                Output.json([
                    "status": health.status.name,
                    "server_version": health.serverVersion,
                    "uptime_ms": health.uptimeMs,
                    "connections": Int(health.connections),
                    "protocol_version": Int(health.protocolVersion),
                    "server": connection.address,
                    "role": client.server.role,
                ])
            } else {
                print("\(health.status.name)  \(connection.address)  version \(health.serverVersion)  protocol \(health.protocolVersion)  uptime \(String(format: "%.1f", Double(health.uptimeMs) / 1000)) s  connections \(health.connections)")
            }
            if health.status != .serving { throw ExitCode(6) }
        }
    }
}

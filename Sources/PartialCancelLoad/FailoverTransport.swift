import NIOCore
import PartialCancelClient
import PartialCancelWire

/// A connection to one of several servers (nodes of one deployment) that moves to another when
/// its own is gone. Calls go to the current connection. A call that fails because the connection
/// closed drops it, and the next call connects to the first address that answers, starting after
/// the one that failed; calls that arrive meanwhile wait for that one connection attempt. A call
/// the server refused because it is shutting down (SHUTTING_DOWN: it did not take the call) is
/// sent once more, to the next server. Any other failed call is not repeated, because it may have
/// been carried out: its flow records the failure, and the run asks the servers afterwards how the
/// flow ended, as after any failure (docs/LOAD.md).
public actor FailoverTransport: FlowTransport {
    let configurations: [PartialCancelClient.Configuration]
    private var client: PartialCancelClient?
    private var connecting: Task<PartialCancelClient, any Error>?
    /// The address tried first at the next connection.
    private var preferred: Int
    /// Connections made: every one after the first is a move to another server (or back).
    public private(set) var connections = 0

    /// `preferred` is the index of the address to try first, so that transports spread over the servers.
    public init(_ configurations: [PartialCancelClient.Configuration], preferred: Int = 0) {
        precondition(!configurations.isEmpty, "a transport needs an address")
        self.configurations = configurations
        self.preferred = preferred % configurations.count
    }

    /// Connects now (to see at the start that some server answers).
    public func connect() async throws { _ = try await current() }

    public func close() async {
        let client = self.client
        self.client = nil
        await client?.close()
    }

    public func call<Request: WireMessage, Response: WireMessage>(
        _ method: String,
        _ request: Request,
        as: Response.Type,
        deadline: TimeAmount?,
        metadata: Metadata
    ) async throws -> Response {
        var refusedByShutdown = false
        while true {
            let client = try await current()
            do {
                return try await client.call(method, request, as: Response.self, deadline: deadline, metadata: metadata)
            } catch let error as ClientError where error.code == .unavailable {
                // Another call may have seen it first and connected elsewhere already.
                if self.client === client {
                    self.client = nil
                    preferred = (preferred + 1) % configurations.count
                    Task { await client.close() }
                }
                guard error.status.reasons.first?.code == ReasonCode.shuttingDown.rawValue, !refusedByShutdown else {
                    throw error
                }
                refusedByShutdown = true
            }
        }
    }

    private func current() async throws -> PartialCancelClient {
        if let client { return client }
        if let connecting { return try await connecting.value }
        let order = Array(configurations[preferred...] + configurations[..<preferred])
        let attempt = Task { try await PartialCancelClient.connect(anyOf: order) }
        connecting = attempt
        defer { connecting = nil }
        let connected = try await attempt.value
        let answering = connected.configuration
        if let index = configurations.firstIndex(where: { $0.host == answering.host && $0.port == answering.port }) {
            preferred = index
        }
        connections += 1
        client = connected
        return connected
    }
}

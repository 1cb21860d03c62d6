import NIOConcurrencyHelpers
import NIOCore
import PartialCancelWire

/// Server-wide state shared by all connections: the open connections (for the connection limit and
/// for shutdown) and whether the server is draining. Touched once per connection, never per call.
final class ServerRuntime: Sendable {
    enum Admission {
        case accepted
        case overLimit(Int)
        case draining
    }

    private struct State {
        var connections: [ObjectIdentifier: any Channel] = [:]
        var draining = false
        var emptyWaiters: [CheckedContinuation<Void, Never>] = []
    }

    let version: String
    let started = NIODeadline.now()
    private let maxConnections: Int
    private let state = NIOLockedValueBox(State())

    init(version: String, maxConnections: Int) {
        self.version = version
        self.maxConnections = maxConnections
    }

    func admit(_ channel: any Channel) -> Admission {
        state.withLockedValue { state in
            if state.draining { return .draining }
            if state.connections.count >= maxConnections { return .overLimit(maxConnections) }
            state.connections[ObjectIdentifier(channel)] = channel
            return .accepted
        }
    }

    func remove(_ channel: any Channel) {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLockedValue { state in
            state.connections[ObjectIdentifier(channel)] = nil
            guard state.connections.isEmpty else { return [] }
            defer { state.emptyWaiters = [] }
            return state.emptyWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Stops admitting connections and returns the open ones.
    func startDraining() -> [any Channel] {
        state.withLockedValue { state in
            state.draining = true
            return Array(state.connections.values)
        }
    }

    var openChannels: [any Channel] { state.withLockedValue { Array($0.connections.values) } }

    /// Returns once no connection is open.
    func waitUntilNoConnections() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLockedValue { state in
                if state.connections.isEmpty { return true }
                state.emptyWaiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    func health() -> HealthResponse {
        let (count, draining) = state.withLockedValue { ($0.connections.count, $0.draining) }
        let uptime = NIODeadline.now() - started
        return HealthResponse(status: draining ? .draining : .serving,
                              serverVersion: version,
                              uptimeMs: UInt64(max(0, uptime.nanoseconds / 1_000_000)),
                              connections: UInt32(clamping: count))
    }
}

/// Events the server sends into connection pipelines.
enum ServerEvent: Sendable {
    /// Finish the calls in flight, refuse new ones, close when none is left.
    case drain
}

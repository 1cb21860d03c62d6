import NIOConcurrencyHelpers
import NIOCore
import PartialCancelWire

/// Server-wide state shared by all connections: the open connections (for the connection limits
/// and for shutdown), the watches each principal holds, and whether the server is draining.
/// Touched when a connection opens, authenticates or closes and when a watch starts or ends,
/// never per unary call.
///
/// Connection slots (docs/CONFIGURATION.md): at most `max_connections` in all and
/// `max_connections_per_peer` from one address; connections that have not authenticated (before
/// Hello, or after an anonymous one) take at most `max_connections - reserved_authenticated_connections`,
/// and when they are full a new connection takes the place of the oldest of them, so that peers
/// that open connections and never say Hello cannot lock honest clients out (an honest client
/// authenticates within a round trip). An authenticated principal holds at most
/// `max_connections_per_principal`.
final class ServerRuntime: Sendable {
    enum Admission {
        /// Admitted; `evicted` is an unauthenticated connection that made room and must be closed.
        case accepted(evicted: (any Channel)?)
        case refused(Status)
        case draining
    }

    private struct Entry {
        var channel: any Channel
        var peer: String
        /// Set once the connection authenticated with a key or certificate.
        var principal: String?
        /// Admission order, to find the oldest unauthenticated connection.
        var order: UInt64
    }

    private struct State {
        var connections: [ObjectIdentifier: Entry] = [:]
        var perPeer: [String: Int] = [:]
        var perPrincipal: [String: Int] = [:]
        var unauthenticated = 0
        var nextOrder: UInt64 = 0
        var watches: [String: Int] = [:]
        var draining = false
        var emptyWaiters: [CheckedContinuation<Void, Never>] = []

        mutating func drop(_ id: ObjectIdentifier) {
            guard let entry = connections.removeValue(forKey: id) else { return }
            perPeer[entry.peer, default: 1] -= 1
            if perPeer[entry.peer] == 0 { perPeer[entry.peer] = nil }
            if let principal = entry.principal {
                perPrincipal[principal, default: 1] -= 1
                if perPrincipal[principal] == 0 { perPrincipal[principal] = nil }
            } else {
                unauthenticated -= 1
            }
        }
    }

    let version: String
    let started = NIODeadline.now()
    private let limits: ServerLimits
    private let state = NIOLockedValueBox(State())

    init(version: String, limits: ServerLimits) {
        self.version = version
        self.limits = limits
    }

    func admit(_ channel: any Channel) -> Admission {
        let peer = Self.peer(of: channel)
        let limits = self.limits
        return state.withLockedValue { state in
            if state.draining { return .draining }
            if state.perPeer[peer, default: 0] >= limits.maxConnectionsPerPeer {
                let limit = limits.maxConnectionsPerPeer
                return .refused(
                    Status(
                        .resourceExhausted,
                        "too many connections from \(peer) (limit \(limit))",
                        reasons: [Reason(.peerConnectionLimit, subject: "max_connections_per_peer", detail: "\(limit)")]
                    )
                )
            }
            var evicted: (any Channel)?
            let unauthenticatedSlots = max(1, limits.maxConnections - limits.reservedAuthenticatedConnections)
            if state.unauthenticated >= unauthenticatedSlots || state.connections.count >= limits.maxConnections {
                guard
                    let (id, oldest) = state.connections.filter({ $0.value.principal == nil }).min(by: {
                        $0.value.order < $1.value.order
                    })
                else {
                    let limit = limits.maxConnections
                    return .refused(
                        Status(
                            .resourceExhausted,
                            "too many connections (limit \(limit))",
                            reasons: [Reason(.connectionLimit, subject: "max_connections", detail: "\(limit)")]
                        )
                    )
                }
                state.drop(id)
                evicted = oldest.channel
            }
            state.nextOrder += 1
            state.connections[ObjectIdentifier(channel)] = Entry(
                channel: channel,
                peer: peer,
                principal: nil,
                order: state.nextOrder
            )
            state.perPeer[peer, default: 0] += 1
            state.unauthenticated += 1
            return .accepted(evicted: evicted)
        }
    }

    /// The connection authenticated as `principal` (an anonymous Hello keeps it unauthenticated).
    /// Returns the refusal when the principal already holds its share of connections.
    func authenticate(_ channel: any Channel, as principal: Principal) -> Status? {
        guard principal.role != nil else { return nil }
        let limit = limits.maxConnectionsPerPrincipal
        return state.withLockedValue { state in
            let id = ObjectIdentifier(channel)
            guard var entry = state.connections[id], entry.principal == nil else { return nil }
            if state.perPrincipal[principal.name, default: 0] >= limit {
                return Status(
                    .resourceExhausted,
                    "\(principal.name) already has \(limit) connections open",
                    reasons: [
                        Reason(.principalConnectionLimit, subject: "max_connections_per_principal", detail: "\(limit)")
                    ]
                )
            }
            entry.principal = principal.name
            state.connections[id] = entry
            state.unauthenticated -= 1
            state.perPrincipal[principal.name, default: 0] += 1
            return nil
        }
    }

    func remove(_ channel: any Channel) {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLockedValue { state in
            state.drop(ObjectIdentifier(channel))
            guard state.connections.isEmpty else { return [] }
            defer { state.emptyWaiters = [] }
            return state.emptyWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Takes one of the principal's watches; the refusal when it holds its limit already.
    func startWatch(for principal: Principal) -> Status? {
        let limit = limits.maxWatchesPerPrincipal
        return state.withLockedValue { state in
            guard state.watches[principal.name, default: 0] < limit else {
                return Status(
                    .resourceExhausted,
                    "\(principal.name) already has \(limit) watches open",
                    reasons: [Reason(.watchLimit, subject: "max_watches_per_principal", detail: "\(limit)")]
                )
            }
            state.watches[principal.name, default: 0] += 1
            return nil
        }
    }

    func endWatch(for principal: Principal) {
        state.withLockedValue { state in
            state.watches[principal.name, default: 1] -= 1
            if state.watches[principal.name]! <= 0 { state.watches[principal.name] = nil }
        }
    }

    /// Stops admitting connections and returns the open ones.
    func startDraining() -> [any Channel] {
        state.withLockedValue { state in
            state.draining = true
            return state.connections.values.map(\.channel)
        }
    }

    var openChannels: [any Channel] { state.withLockedValue { $0.connections.values.map(\.channel) } }

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
        return HealthResponse(
            status: draining ? .draining : .serving,
            serverVersion: version,
            uptimeMs: UInt64(max(0, uptime.nanoseconds / 1_000_000)),
            connections: UInt32(clamping: count),
            protocolVersion: PartialCancelWire.protocolVersion
        )
    }

    /// The address a connection comes from, without its port: the unit of `max_connections_per_peer`.
    static func peer(of channel: any Channel) -> String {
        guard let address = channel.remoteAddress else { return "?" }
        return address.ipAddress ?? "\(address)"
    }
}

/// Events the server sends into connection pipelines.
enum ServerEvent: Sendable {
    /// Finish the calls in flight, refuse new ones, close when none is left.
    case drain
    /// A newer unauthenticated connection needed this one's slot: close now.
    case evict
}

import NIOCore
import NIOEmbedded
import PartialCancelTestSupport
import Testing

@testable import PartialCancelServer
@testable import PartialCancelWire

/// Connection slots and watch slots: the server-wide bounds one peer or one principal must not
/// be able to take over.
@Suite("Server runtime: connection and watch slots")
struct ServerRuntimeTests {
    private func channel(from ip: String, port: Int = 9) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: ip, port: port)).wait()
        return channel
    }

    private func accepted(_ admission: ServerRuntime.Admission) -> Bool {
        if case .accepted = admission { return true }
        return false
    }

    private func evicted(_ admission: ServerRuntime.Admission) -> (any Channel)? {
        if case .accepted(let evicted) = admission { return evicted }
        return nil
    }

    private func refusalReason(_ admission: ServerRuntime.Admission) -> String? {
        if case .refused(let status) = admission { return status.reasons.first?.code }
        return nil
    }

    private static let agent = Principal(name: "agent-1", role: .agent)

    @Test("one peer address holds at most max_connections_per_peer connections; another peer is still admitted")
    func perPeer() throws {
        var limits = ServerLimits()
        limits.maxConnectionsPerPeer = 3
        let runtime = ServerRuntime(version: "test", limits: limits)
        for port in 1...3 { #expect(accepted(runtime.admit(try channel(from: "10.0.0.1", port: port)))) }
        #expect(refusalReason(runtime.admit(try channel(from: "10.0.0.1", port: 4))) == "PEER_CONNECTION_LIMIT")
        #expect(accepted(runtime.admit(try channel(from: "10.0.0.2"))))
    }

    @Test(
        "unauthenticated connections cannot use the reserve: the newest takes the place of the oldest, and authenticated ones always fit"
    )
    func reserve() throws {
        var limits = ServerLimits()
        limits.maxConnections = 10
        limits.reservedAuthenticatedConnections = 4
        limits.maxConnectionsPerPeer = 100
        let runtime = ServerRuntime(version: "test", limits: limits)
        var anonymous: [EmbeddedChannel] = []
        for port in 1...6 {
            let connection = try channel(from: "10.0.0.1", port: port)
            let admission = runtime.admit(connection)
            #expect(accepted(admission) && evicted(admission) == nil)
            anonymous.append(connection)
        }
        // The seventh unauthenticated connection evicts the oldest one.
        let honest = try channel(from: "10.0.0.9")
        let oldest = try #require(evicted(runtime.admit(honest)))
        #expect(oldest === anonymous[0])
        // Once it has said Hello it counts against the reserve, not the unauthenticated slots.
        #expect(runtime.authenticate(honest, as: Self.agent) == nil)
        // Four more authenticated clients fit beside the five unauthenticated ones (5 + 5 = 10)...
        for port in 1...4 {
            let next = try channel(from: "10.0.0.8", port: port)
            #expect(accepted(runtime.admit(next)))
            #expect(runtime.authenticate(next, as: Principal(name: "svc-\(port)", role: .service)) == nil)
        }
        #expect(runtime.openChannels.count == 10)
        // ...and with every slot taken, a newcomer still gets in in place of an unauthenticated one.
        #expect(evicted(runtime.admit(try channel(from: "10.0.0.7"))) != nil)
        #expect(runtime.openChannels.count == 10)
    }

    @Test("a full server of authenticated connections refuses with CONNECTION_LIMIT")
    func allAuthenticated() throws {
        var limits = ServerLimits()
        limits.maxConnections = 3
        limits.reservedAuthenticatedConnections = 1
        let runtime = ServerRuntime(version: "test", limits: limits)
        for port in 1...3 {
            let connection = try channel(from: "10.0.0.1", port: port)
            #expect(accepted(runtime.admit(connection)))
            #expect(runtime.authenticate(connection, as: Principal(name: "p\(port)", role: .service)) == nil)
        }
        #expect(refusalReason(runtime.admit(try channel(from: "10.0.0.2"))) == "CONNECTION_LIMIT")
    }

    @Test("one principal holds at most max_connections_per_principal authenticated connections")
    func perPrincipal() throws {
        var limits = ServerLimits()
        limits.maxConnectionsPerPrincipal = 2
        let runtime = ServerRuntime(version: "test", limits: limits)
        var refusals: [String?] = []
        for port in 1...3 {
            let connection = try channel(from: "10.0.0.1", port: port)
            #expect(accepted(runtime.admit(connection)))
            refusals.append(runtime.authenticate(connection, as: Self.agent)?.reasons.first?.code)
        }
        #expect(refusals == [nil, nil, "PRINCIPAL_CONNECTION_LIMIT"])
    }

    @Test("a closed connection gives its slots back")
    func removeFrees() throws {
        var limits = ServerLimits()
        limits.maxConnectionsPerPeer = 1
        limits.maxConnectionsPerPrincipal = 1
        let runtime = ServerRuntime(version: "test", limits: limits)
        let first = try channel(from: "10.0.0.1")
        #expect(accepted(runtime.admit(first)))
        #expect(runtime.authenticate(first, as: Self.agent) == nil)
        runtime.remove(first)
        let second = try channel(from: "10.0.0.1", port: 10)
        #expect(accepted(runtime.admit(second)))
        #expect(runtime.authenticate(second, as: Self.agent) == nil)
    }

    @Test("one principal holds at most max_watches_per_principal watches, across connections")
    func watchesPerPrincipal() throws {
        var limits = ServerLimits()
        limits.maxWatchesPerPrincipal = 2
        let runtime = ServerRuntime(version: "test", limits: limits)
        #expect(runtime.startWatch(for: Self.agent) == nil)
        #expect(runtime.startWatch(for: Self.agent) == nil)
        #expect(runtime.startWatch(for: Self.agent)?.reasons.first?.subject == "max_watches_per_principal")
        #expect(runtime.startWatch(for: Principal(name: "other", role: .agent)) == nil)
        runtime.endWatch(for: Self.agent)
        #expect(runtime.startWatch(for: Self.agent) == nil)
    }
}

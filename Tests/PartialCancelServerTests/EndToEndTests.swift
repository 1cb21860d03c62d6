import Foundation
import NIOCore
import PartialCancelClient
import PartialCancelServer
import PartialCancelTestSupport
import PartialCancelWire
import Testing

/// A real server on a real port, a real client.
@Suite("End to end")
struct EndToEndTests {
    @Test("1,000 concurrent calls on one connection are all answered, each with its own call id")
    func thousandConcurrentCalls() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for index in 0..<1000 {
                group.addTask {
                    // Every seventh call waits a little, so replies overtake each other.
                    let response = try await client.ping(
                        payload: ByteBuffer(string: "call-\(index)"),
                        delayMs: index % 7 == 0 ? 20 : 0
                    )
                    return (index, String(buffer: response.payload))
                }
            }
            var seen = Set<Int>()
            for try await (index, payload) in group {
                #expect(payload == "call-\(index)")
                seen.insert(index)
            }
            #expect(seen.count == 1000)
        }
        await client.close()
        try await server.stop()
    }

    @Test("Hello tells the client its role and the server's limits; Health needs no key")
    func helloAndHealth() async throws {
        let server = try await TestServer.start()
        let agent = try await server.client(key: TestServer.agentKey)
        #expect(agent.server.role == "agent")
        #expect(agent.server.limits.maxFrameBytes == 4 * 1024 * 1024)
        let anonymous = try await server.client(key: "")
        let health = try await anonymous.health()
        #expect(health.status == .serving)
        #expect(try await agent.health().connections == 2)
        await #expect(throws: ClientError.self) { _ = try await anonymous.ping() }
        await agent.close()
        await anonymous.close()
        try await server.stop()
    }

    @Test(
        "an anonymous Health answers the serving status and readiness only; any key also gets version, uptime, connections and shards"
    )
    func healthDetailsNeedAKey() async throws {
        let server = try await TestServer.start()
        let anonymous = try await server.client(key: "")
        let health = try await anonymous.health()
        #expect(health.status == .serving && health.ready)
        #expect(health.protocolVersion == PartialCancelWire.protocolVersion)
        #expect(health.serverVersion.isEmpty && health.uptimeMs == 0 && health.connections == 0)
        #expect(health.shards.isEmpty && health.notReady.isEmpty)
        for key in [TestServer.portalKey, TestServer.agentKey, TestServer.serviceKey, TestServer.adminKey] {
            let client = try await server.client(key: key)
            let full = try await client.health()
            #expect(full.status == .serving && full.ready, "\(key)")
            #expect(!full.serverVersion.isEmpty && full.connections >= 2, "\(key)")
            #expect(full.shards.map(\.index) == [0, 1] && full.shards.allSatisfy(\.open), "\(key)")
            await client.close()
        }
        await anonymous.close()
        try await server.stop()
    }

    @Test("a wrong key is refused at connect with UNAUTHENTICATED")
    func wrongKey() async throws {
        let server = try await TestServer.start()
        do {
            _ = try await server.client(key: "pck_nope")
            Issue.record("connected with a wrong key")
        } catch let error as ClientError {
            #expect(error.code == .unauthenticated)
        }
        try await server.stop()
    }

    @Test(
        "hostile frames get their status and a close, while another connection keeps being served",
        arguments: [
            ([0x00, 0x40, 0x00, 0x01] as [UInt8], StatusCode.resourceExhausted, "FRAME_TOO_LARGE"),  // max + 1
            ([0xFF, 0xFF, 0xFF, 0xFF], .resourceExhausted, "FRAME_TOO_LARGE"),
            ([0x00, 0x00, 0x00, 0x00], .invalidArgument, "FRAME_EMPTY"),
            ([0x00, 0x00, 0x00, 0x05, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], .invalidArgument, "ENVELOPE_MALFORMED"),
        ]
    )
    func hostileFrames(bytes: [UInt8], code: StatusCode, reason: String) async throws {
        let server = try await TestServer.start()
        let bystander = try await server.client(name: "bystander")
        let raw = try RawConnection(port: server.port)
        var hello = ByteBuffer()
        Envelope.hello(Hello(clientName: "hostile", apiKey: TestServer.adminKey)).encode(into: &hello, framed: true)
        raw.send(Array(buffer: hello))
        raw.send(bytes)
        var received = ByteBuffer(bytes: raw.readUntilClosed())
        var envelopes: [Envelope] = []
        var decoder = FrameDecoder(maximumFrameBytes: 1 << 20)
        while let frame = try decoder.decode(buffer: &received) { envelopes.append(try Envelope(decoding: frame)) }
        guard case .goAway(let status)? = envelopes.last else {
            Issue.record("expected a GoAway, got \(envelopes)")
            return
        }
        #expect(status.code == code)
        #expect(status.reasons.first?.code == reason)
        #expect(
            try await bystander.ping(payload: ByteBuffer(string: "still here")).payload
                == ByteBuffer(string: "still here")
        )
        await bystander.close()
        try await server.stop()
    }

    @Test("connections beyond the limit are refused with RESOURCE_EXHAUSTED; the others are served")
    func connectionLimit() async throws {
        let server = try await TestServer.start { $0.maxConnections = 2 }
        let first = try await server.client()
        let second = try await server.client()
        do {
            _ = try await server.client()
            Issue.record("a third connection was accepted")
        } catch let error as ClientError {
            #expect(error.code == .resourceExhausted)
            #expect(error.status.reasons.first?.code == "CONNECTION_LIMIT")
        }
        _ = try await first.ping()
        await second.close()
        // A freed slot can be used again (the server notices the close asynchronously).
        var third: PartialCancelClient?
        for _ in 0..<50 where third == nil {
            third = try? await server.client()
            if third == nil { try await Task.sleep(nanoseconds: 20_000_000) }
        }
        #expect(third != nil)
        await first.close()
        await third?.close()
        try await server.stop()
    }

    @Test("a client deadline shorter than the work ends the call with DEADLINE_EXCEEDED")
    func deadline() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        do {
            _ = try await client.ping(delayMs: 2000, deadline: .milliseconds(100))
            Issue.record("no deadline")
        } catch let error as ClientError {
            #expect(error.code == .deadlineExceeded)
        }
        await client.close()
        try await server.stop()
    }

    @Test("cancelling the awaiting task cancels the call on the server")
    func taskCancellation() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        let call = Task { try await client.ping(delayMs: 5000) }
        try await Task.sleep(nanoseconds: 50_000_000)
        call.cancel()
        do {
            _ = try await call.value
            Issue.record("the call was not cancelled")
        } catch let error as ClientError {
            #expect(error.code == .cancelled)
        }
        await client.close()
        try await server.stop()
    }

    @Test("graceful shutdown answers every call in flight, refuses new ones, and returns")
    func gracefulShutdown() async throws {
        let server = try await TestServer.start()
        let client = try await server.client()
        let calls = (0..<20).map { index in
            client.start(
                Methods.ping,
                request: PingRequest(payload: ByteBuffer(string: "\(index)"), delayMs: 300).encoded()
            ).response
        }
        // The server handles a connection's frames in order: once the pong is back, every call is in flight.
        try await client.pingFrame()
        server.server.initiateShutdown()
        for (index, call) in calls.enumerated() {
            #expect(try await PingResponse(decoding: call.get()).payload == ByteBuffer(string: "\(index)"))
        }
        try await server.task.value
        do {
            _ = try await client.ping()
            Issue.record("a call after shutdown succeeded")
        } catch let error as ClientError {
            #expect(error.code == .unavailable)
        }
        await client.close()
    }

    @Test("calls in flight when the grace period ends are cut off, and shutdown still returns")
    func gracePeriod() async throws {
        let server = try await TestServer.start {
            $0.shutdownGracePeriodMs = 200
            $0.maxPingDelayMs = 60_000
        }
        let client = try await server.client()
        let call = Task { try await client.ping(delayMs: 60_000) }
        try await Task.sleep(nanoseconds: 50_000_000)
        let started = ContinuousClock.now
        server.server.initiateShutdown()
        try await server.task.value
        // Long before the 60 s call would have ended by itself: a machine busy with the other tests
        // can hold the shutdown up for seconds, never for most of a minute.
        #expect(ContinuousClock.now - started < .seconds(30))
        await #expect(throws: ClientError.self) { _ = try await call.value }
        await client.close()
    }
}

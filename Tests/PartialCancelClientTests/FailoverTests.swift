import Foundation
import NIOCore
import PartialCancelClient
import PartialCancelTestSupport
import PartialCancelWire
import Testing

/// Several addresses of one deployment: the client takes the first that answers.
@Suite("Client failover")
struct FailoverTests {
    func configuration(port: Int) -> PartialCancelClient.Configuration {
        PartialCancelClient.Configuration(port: port, apiKey: TestServer.adminKey, clientName: "failover")
    }

    // A node that is gone: a loopback port bound, then closed (SMTPServer.freePort), nothing listens.
    @Test("a node that is gone is passed over for the next; none reachable is UNAVAILABLE naming the last")
    func failover() async throws {
        let gone = try SMTPServer.freePort()
        let server = try await TestServer.start { _ in }
        let client = try await PartialCancelClient.connect(anyOf: [
            configuration(port: gone), configuration(port: server.port),
        ])
        let pong = try await client.call(
            Methods.ping,
            PingRequest(payload: ByteBuffer(string: "hi")),
            as: PingResponse.self
        )
        #expect(pong.payload == ByteBuffer(string: "hi"))
        await client.close()
        try await server.stop()

        let alsoGone = try SMTPServer.freePort()
        do {
            _ = try await PartialCancelClient.connect(anyOf: [configuration(port: gone), configuration(port: alsoGone)])
            Issue.record("connected with no server listening")
        } catch let error as ClientError {
            #expect(error.code == .unavailable)
            #expect(error.status.reasons.first?.subject == "127.0.0.1:\(alsoGone)")
        }
    }
}

import Foundation
import NIOCore
import PartialCancelClient
import PartialCancelTestSupport
import PartialCancelWire
import Testing

/// Several addresses of one deployment: the client takes the first that answers.
@Suite("Client failover")
struct FailoverTests {
    /// A loopback port nothing listens on (bound, then closed).
    func closedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    func configuration(port: Int) -> PartialCancelClient.Configuration {
        PartialCancelClient.Configuration(port: port, apiKey: TestServer.adminKey, clientName: "failover")
    }

    @Test("a node that is gone is passed over for the next; none reachable is UNAVAILABLE naming the last")
    func failover() async throws {
        let gone = try closedPort()
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

        let alsoGone = try closedPort()
        do {
            _ = try await PartialCancelClient.connect(anyOf: [configuration(port: gone), configuration(port: alsoGone)])
            Issue.record("connected with no server listening")
        } catch let error as ClientError {
            #expect(error.code == .unavailable)
            #expect(error.status.reasons.first?.subject == "127.0.0.1:\(alsoGone)")
        }
    }
}

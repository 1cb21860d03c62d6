import Foundation
import PartialCancelClient
import PartialCancelTestSupport
import PartialCancelWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A port that speaks another protocol: the failure says which, instead of a frame length.
@Suite("Client pointed at the wrong port")
struct WrongPortTests {
    /// Listens on a loopback port and answers the first connection's first bytes with `reply`.
    static func answering(_ reply: [UInt8]) throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0, listen(fd, 1) == 0 else { throw ProcessFailure("cannot listen: errno \(errno)") }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        Thread.detachNewThread {
            let peer = accept(fd, nil, nil)
            var buffer = [UInt8](repeating: 0, count: 512)
            _ = read(peer, &buffer, buffer.count)
            _ = reply.withUnsafeBytes { write(peer, $0.baseAddress, $0.count) }
            close(peer)
            close(fd)
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    func failure(answering reply: [UInt8]) async throws -> ClientError {
        let port = try Self.answering(reply)
        do {
            let client = try await PartialCancelClient.connect(
                PartialCancelClient.Configuration(port: port, apiKey: "k", clientName: "wrong-port")
            )
            await client.close()
        } catch let error as ClientError {
            return error
        }
        throw ProcessFailure("connected to a port that does not speak the protocol")
    }

    @Test("an HTTP port is named as such")
    func http() async throws {
        let error = try await failure(answering: Array("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".utf8))
        #expect(error.code == .unavailable)
        #expect(error.status.message.contains("answered in HTTP"), "\(error.status.message)")
    }

    @Test("a TLS port says to connect with --tls")
    func tls() async throws {
        // A TLS alert record (handshake failure), what a TLS server sends to a plaintext hello.
        let error = try await failure(answering: [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28])
        #expect(error.status.message.contains("answered with TLS: connect with --tls"), "\(error.status.message)")
    }
}

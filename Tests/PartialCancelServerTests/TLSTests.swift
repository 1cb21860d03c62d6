import Foundation
import NIOCore
import PartialCancelClient
import PartialCancelServer
import PartialCancelTestSupport
import PartialCancelWire
import Testing

/// Certificates made at test time with the openssl command: a CA, a server certificate for
/// 127.0.0.1, and two client certificates signed by the CA.
struct TestCertificates {
    let directory: URL
    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    static func make() async throws -> TestCertificates {
        let certificates = TestCertificates(directory: try Paths.temporaryDirectory())
        try await certificates.generate()
        return certificates
    }

    private init(directory: URL) { self.directory = directory }

    private func generate() async throws {
        let script = """
            set -e
            ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
            openssl req -x509 $ec -keyout ca.key -out ca.pem -days 2 -subj "/CN=pcancel test CA" 2>/dev/null
            printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > server.ext
            for name in server agent stranger; do
              openssl req $ec -keyout $name.key -out $name.csr -subj "/CN=$name" 2>/dev/null
              extra=""; [ $name = server ] && extra="-extfile server.ext"
              openssl x509 -req -in $name.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $name.pem -days 2 $extra 2>/dev/null
            done
            openssl x509 -in agent.pem -outform der | sha256sum | cut -d' ' -f1 > agent.sha256
            """
        let result = try await runCommand(URL(fileURLWithPath: "/bin/sh"), ["-c", script], workingDirectory: directory)
        guard result.status == 0 else { throw ProcessFailure("openssl failed: \(result.error)") }
    }

    var agentFingerprint: String {
        (try? String(contentsOfFile: path("agent.sha256"), encoding: .utf8))?.trimmingCharacters(
            in: .whitespacesAndNewlines
        ) ?? ""
    }

    func client(
        port: Int,
        key: String = "",
        certificate: String? = nil,
        trusting ca: String? = nil
    ) async throws -> PartialCancelClient {
        try await PartialCancelClient.connect(
            .init(
                port: port,
                apiKey: key,
                clientName: "tls-test",
                connectTimeout: .seconds(3),
                tls: .init(
                    caFile: ca ?? path("ca.pem"),
                    certificateFile: certificate.map { path("\($0).pem") },
                    privateKeyFile: certificate.map { path("\($0).key") }
                )
            )
        )
    }
}

@Suite("TLS")
struct TLSTests {
    @Test("a client trusting the CA says Hello with its key and calls; plaintext and untrusting clients get nowhere")
    func serverTLS() async throws {
        let certificates = try await TestCertificates.make()
        defer { try? FileManager.default.removeItem(at: certificates.directory) }
        let server = try await TestServer.start { configuration in
            configuration.tls = TLSSettings(
                certificateChainFile: certificates.path("server.pem"),
                privateKeyFile: certificates.path("server.key")
            )
        }
        let client = try await certificates.client(port: server.port, key: TestServer.adminKey)
        #expect(client.server.role == "admin")
        #expect(try await client.ping().payload.readableBytes == 0)
        await client.close()

        // Plaintext against TLS: the handshake fails and the connection closes.
        await #expect(throws: ClientError.self) { _ = try await server.client(key: TestServer.adminKey) }
        // A client that does not trust the server's CA refuses the handshake.
        await #expect(throws: ClientError.self) {
            _ = try await certificates.client(
                port: server.port,
                key: TestServer.adminKey,
                trusting: certificates.path("agent.pem")
            )
        }
        try await server.stop()
    }

    @Test(
        "client certificates: a listed one authenticates without a key, with its role; an unlisted one is refused; when required, no certificate, no connection"
    )
    func mutualTLS() async throws {
        let certificates = try await TestCertificates.make()
        defer { try? FileManager.default.removeItem(at: certificates.directory) }
        func start(requiring: Bool) async throws -> TestServer {
            try await TestServer.start { configuration in
                var tls = TLSSettings(
                    certificateChainFile: certificates.path("server.pem"),
                    privateKeyFile: certificates.path("server.key")
                )
                tls.clientCAFile = certificates.path("ca.pem")
                tls.requireClientCertificate = requiring
                tls.clientCertificates = [
                    .init(name: "agent-tool", role: .agent, sha256: certificates.agentFingerprint)
                ]
                configuration.tls = tls
            }
        }
        let server = try await start(requiring: false)
        let agent = try await certificates.client(port: server.port, certificate: "agent")
        #expect(agent.server.role == "agent")
        _ = try await agent.call(Methods.getStock, GetStockRequest(sku: "MUG-01"), as: GetStockResponse.self)
        await #expect(throws: ClientError.self) {
            _ = try await agent.call(
                Methods.putStock,
                PutStockRequest(sku: "MUG-01", location: "WH-EAST", onHand: 1),
                as: PutStockResponse.self
            )
        }
        await agent.close()
        do {
            _ = try await certificates.client(port: server.port, certificate: "stranger")
            Issue.record("an unlisted certificate was accepted")
        } catch let error as ClientError {
            #expect(error.code == .unauthenticated && error.status.reasons.first?.code == "CERTIFICATE_UNKNOWN")
        }
        // Without a certificate, a key still works when certificates are optional.
        let keyed = try await certificates.client(port: server.port, key: TestServer.serviceKey)
        #expect(keyed.server.role == "service")
        await keyed.close()
        try await server.stop()

        let strict = try await start(requiring: true)
        await #expect(throws: ClientError.self) {
            _ = try await certificates.client(port: strict.port, key: TestServer.adminKey)
        }
        let listed = try await certificates.client(port: strict.port, certificate: "agent")
        #expect(listed.server.role == "agent")
        await listed.close()
        try await strict.stop()
    }

    @Test("a TLS configuration that cannot work is refused at start, naming the setting")
    func badConfiguration() async throws {
        var configuration = ServerConfiguration()
        configuration.tls = TLSSettings(
            certificateChainFile: "/nonexistent/server.pem",
            privateKeyFile: "/nonexistent/server.key"
        )
        configuration.dataDirectory = try Paths.temporaryDirectory().path
        #expect(throws: ConfigurationError.self) {
            _ = try PartialCancelServer(
                configuration: configuration,
                keyStore: try KeyStore(TestServer.keys),
                logger: .init(label: "t")
            )
        }
        var required = TLSSettings(certificateChainFile: "a", privateKeyFile: "b")
        required.requireClientCertificate = true
        configuration.tls = required
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
    }
}

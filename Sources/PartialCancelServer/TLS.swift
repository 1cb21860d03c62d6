import Crypto
import NIOCore
import NIOSSL

/// Optional TLS on the listener (docs/CONFIGURATION.md, `tls`), optionally with client
/// certificates: a certificate signed by the client CA and listed in `clientCertificates` (by the
/// SHA-256 of its DER bytes) authenticates a connection whose Hello carries no API key, with the
/// role listed for it.
public struct TLSSettings: Sendable, Hashable {
    /// PEM: the server's certificate, then any intermediates.
    public var certificateChainFile: String
    /// PEM: the server's private key.
    public var privateKeyFile: String
    /// PEM: the CA that signs client certificates. Set it to accept client certificates.
    public var clientCAFile: String?
    /// Refuse the TLS handshake of clients without a valid certificate.
    public var requireClientCertificate = false
    /// Client certificates and the principal each stands for.
    public var clientCertificates: [ClientCertificate] = []

    /// A listed client certificate has the shape of an API key entry: a name, a role, and a hex
    /// SHA-256 — here of the certificate's DER bytes (`openssl x509 -outform der | sha256sum`).
    public typealias ClientCertificate = APIKey

    public init(certificateChainFile: String, privateKeyFile: String) {
        self.certificateChainFile = certificateChainFile
        self.privateKeyFile = privateKeyFile
    }

    func validate() throws(ConfigurationError) {
        if clientCAFile == nil && (requireClientCertificate || !clientCertificates.isEmpty) {
            throw ConfigurationError(
                "tls.client_ca is required for tls.require_client_certificate and tls.client_certificates"
            )
        }
        for certificate in clientCertificates
        where certificate.sha256.count != 64 || !certificate.sha256.allSatisfy(\.isHexDigit) {
            throw ConfigurationError("tls.client_certificates: the sha256 of \(certificate.name) must be 64 hex digits")
        }
    }

    /// Loads the files; a missing or unreadable one is a configuration error naming it.
    func makeContext() throws(ConfigurationError) -> NIOSSLContext {
        func load<T>(_ what: String, _ path: String, _ body: () throws -> T) throws(ConfigurationError) -> T {
            do { return try body() } catch { throw ConfigurationError("tls.\(what): cannot load \(path): \(error)") }
        }
        let chain = try load("certificate_chain", certificateChainFile) {
            try NIOSSLCertificate.fromPEMFile(certificateChainFile)
        }
        guard !chain.isEmpty else {
            throw ConfigurationError("tls.certificate_chain: \(certificateChainFile) holds no certificate")
        }
        let key = try load("private_key", privateKeyFile) { try NIOSSLPrivateKey(file: privateKeyFile, format: .pem) }
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
        tls.minimumTLSVersion = .tlsv12
        if let clientCAFile {
            let roots = try load("client_ca", clientCAFile) { try NIOSSLCertificate.fromPEMFile(clientCAFile) }
            tls.trustRoots = .certificates(roots)
            tls.certificateVerification = requireClientCertificate ? .noHostnameVerification : .optionalVerification
        }
        do {
            return try NIOSSLContext(configuration: tls)
        } catch {
            throw ConfigurationError("tls: the certificate and key do not make a usable TLS context: \(error)")
        }
    }

    /// Principals by certificate fingerprint.
    var certificatePrincipals: [String: Principal] {
        Dictionary(
            clientCertificates.map { ($0.sha256, Principal(name: $0.name, role: $0.role)) },
            uniquingKeysWith: { first, _ in first }
        )
    }

    /// The hex SHA-256 of the verified client certificate of a TLS connection, if it presented one.
    static func clientCertificateFingerprint(_ pipeline: ChannelPipeline.SynchronousOperations) -> String? {
        guard let handler = try? pipeline.handler(type: NIOSSLServerHandler.self),
            let certificate = handler.peerCertificate, let der = try? certificate.toDERBytes()
        else { return nil }
        return Secrets.hex(Array(SHA256.hash(data: der)))
    }
}

import Foundation
import Logging
import NIOCore
import PartialCancelClient
import PartialCancelDomain
import PartialCancelPostgres
import PartialCancelServer
import PartialCancelWire

/// A real server on 127.0.0.1, port 0, run in-process until `stop()`.
public struct TestServer {
    public static let adminKey = "pck_e2e_admin"
    public static let agentKey = "pck_e2e_agent"
    public static let serviceKey = "pck_e2e_service"
    public static let portalKey = "pck_e2e_portal"
    public static let keys = [
        APIKey(name: "admin", role: .admin, key: adminKey), APIKey(name: "agent", role: .agent, key: agentKey),
        APIKey(name: "service", role: .service, key: serviceKey), APIKey(name: "portal", role: .portal, key: portalKey),
    ]

    public static let tokenKeyFile = FileManager.default.temporaryDirectory.appendingPathComponent(
        "pcancel-test-token-key"
    )
    .path

    public let server: PartialCancelServer
    public let port: Int
    public let task: Task<Void, any Error>

    public static func start(
        eventLoopThreads: Int = 2,
        _ configure: (inout ServerLimits) -> Void = { _ in }
    ) async throws -> TestServer {
        try await start(eventLoopThreads: eventLoopThreads, configuring: { configure(&$0.limits) })
    }

    public static func start(
        eventLoopThreads: Int = 2,
        dataDirectory: String? = nil,
        logger: Logger? = nil,
        clock: WallClock = .system,
        openStore: @escaping PartialCancelServer.StoreOpener = PartialCancelServer.sqliteStore,
        configuring configure: (inout ServerConfiguration) -> Void
    ) async throws -> TestServer {
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.eventLoopThreads = eventLoopThreads
        configuration.storage.shards = 2
        configuration.storage.synchronous = .normal
        configuration.dataDirectory =
            dataDirectory
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("pcancel-test-\(UUID())").path
        // One token key for every test server (created once, atomically), instead of one beside
        // each temporary data directory; a test that checks the default sets this to nil.
        configuration.storage.tokenKeyFile = TestServer.tokenKeyFile
        // Tests run side by side on a few cores, some of them heavy: a client's Hello may wait
        // seconds for a thread. The Hello timeout itself is tested on an embedded channel.
        configuration.limits.helloTimeoutMs = 30_000
        // Refund allocations stay PENDING unless a test is about them: their results would add
        // history entries at moments of their own to every test's trail.
        configuration.payments.deliver = false
        configure(&configuration)
        configuration.apiKeys = keys
        let logger =
            logger
            ?? {
                var quiet = Logger(label: "test-server")
                quiet.logLevel = .warning
                return quiet
            }()
        let server = try PartialCancelServer(
            configuration: configuration,
            keyStore: try KeyStore(keys),
            logger: logger,
            clock: clock,
            openStore: openStore
        )
        let address = try await server.start()
        let task = Task { try await server.run() }
        return TestServer(server: server, port: address.port!, task: task)
    }

    /// A node on PostgreSQL (`storage.backend` postgres) at `url`: several of them on one
    /// database serve the same orders.
    public static func startOnPostgres(
        _ urls: [String],
        logger: Logger? = nil,
        configuring configure: (inout ServerConfiguration) -> Void = { _ in }
    ) async throws -> TestServer {
        try await start(
            logger: logger,
            openStore: { configuration, loop, logger, clock in
                try PostgresStore.open(
                    storage: configuration.storage,
                    dataDirectory: configuration.dataDirectory,
                    eventLoop: loop,
                    logger: logger,
                    clock: clock
                )
            },
            configuring: { configuration in
                configuration.storage.backend = .postgres
                configuration.storage.postgresURLs = urls
                configure(&configuration)
            }
        )
    }

    public func client(key: String = adminKey, name: String = "e2e") async throws -> PartialCancelClient {
        try await PartialCancelClient.connect(
            PartialCancelClient.Configuration(port: port, apiKey: key, clientName: name)
        )
    }

    public func stop() async throws {
        server.initiateShutdown()
        try await task.value
    }
}

/// A blocking TCP socket connected to 127.0.0.1:`port`, optionally with a small kernel receive
/// buffer; the caller closes it. Throws (closing the socket) when it cannot connect.
public func connectToLoopback(port: Int, receiveBuffer: Int32? = nil) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw ProcessFailure("socket: errno \(errno)") }
    if var size = receiveBuffer {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard result == 0 else {
        let error = errno
        close(fd)
        throw ProcessFailure("connect to 127.0.0.1:\(port): errno \(error)")
    }
    return fd
}

/// A plain TCP socket for sending bytes no well-behaved client would send.
public final class RawConnection: @unchecked Sendable {  // used by one test at a time
    public let fd: Int32

    /// - Parameter receiveBuffer: a small kernel receive buffer, for a client that stops reading.
    public init(port: Int, receiveBuffer: Int32? = nil) throws {
        fd = try connectToLoopback(port: port, receiveBuffer: receiveBuffer)
        var timeout = timeval(tv_sec: 30, tv_usec: 0)  // generous: tests share a few cores with heavy neighbours
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    public func send(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { _ = Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Reads frames until `stop` accepts an envelope (returned with those before it), the peer
    /// closes or 30 s pass without data.
    public func readEnvelopes(until stop: (Envelope) -> Bool) throws -> [Envelope] {
        var envelopes: [Envelope] = []
        var decoder = FrameDecoder(maximumFrameBytes: 1 << 22)
        var buffer = ByteBuffer()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            while let frame = try decoder.decode(buffer: &buffer) {
                let envelope = try Envelope(decoding: frame)
                envelopes.append(envelope)
                if stop(envelope) { return envelopes }
            }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return envelopes }
            buffer.writeBytes(chunk[0..<n])
        }
    }

    /// Reads until the peer closes (or 30 s pass); returns everything received.
    public func readUntilClosed() -> [UInt8] {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            received += chunk[0..<n]
        }
        return received
    }
}

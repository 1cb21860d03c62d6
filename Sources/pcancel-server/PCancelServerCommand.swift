import ArgumentParser
import CMalloc
import Foundation
import Logging
import NIOCore
import PartialCancelPostgres
import PartialCancelServer
import PartialCancelStorage
import ServiceLifecycle

/// `pcancel-server`: argument parsing and wiring only.
@main
struct PCancelServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pcancel-server",
        abstract: "Serves partial cancellation of order lines over wire protocol v1.",
        discussion: """
            With no options it runs the embedded default: data in ./pcancel-data, 127.0.0.1:7447, and a \
            development API key (role admin) created on first start. Settings come from the defaults, then \
            the --config file, then these flags.
            """,
        version: PartialCancelServer.version
    )

    @Option(name: .long, help: "JSON configuration file (see docs/CONFIGURATION.md).")
    var config: String?

    @Option(name: .long, help: "Data directory (default ./pcancel-data).")
    var dataDir: String?

    @Option(name: .long, help: "Address to bind (default 127.0.0.1).")
    var host: String?

    @Option(name: .long, help: "Port to bind; 0 picks a free port and prints it (default 7447).")
    var port: Int?

    @Option(name: .long, help: "Network event-loop threads (default: half the cores, at least 1).")
    var eventLoopThreads: Int?

    @Option(name: .long, help: "Storage shards (default: number of cores); fixed when the data directory is created.")
    var shards: Int?

    @Option(name: .long, help: "SQLite synchronous mode: FULL (default) or NORMAL.")
    var synchronous: String?

    @Option(name: .long, help: "TLS: PEM file with the server's certificate chain (with --tls-key).")
    var tlsCert: String?

    @Option(name: .long, help: "TLS: PEM file with the server's private key.")
    var tlsKey: String?

    @Option(
        name: .long,
        help:
            "TLS: PEM file with the CA of client certificates (their roles come from the config file's tls.client_certificates)."
    )
    var tlsClientCa: String?

    @Flag(name: .long, help: "Do not seed sample stock and orders into a new data directory.")
    var noSampleData = false

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Option(name: .long, help: "Log format: text or json (one object per line).")
    var logFormat: String = "text"

    @Option(
        name: .long,
        help: "Serve Prometheus metrics (/metrics, /live, /ready) on this loopback port; 0 picks one (default: off)."
    )
    var metricsPort: Int?

    func run() async throws {
        MemoryTrimmer.keepLargeBuffersWarm()
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError(
                "--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        guard let format = PCancelLogHandler.Format(rawValue: logFormat) else {
            throw ValidationError("--log-format must be text or json")
        }
        LoggingSystem.bootstrap { label in PCancelLogHandler(label: label, format: format, level: level) }
        let logger = Logger(label: "pcancel-server")

        var configuration = try loadConfiguration()
        // Nothing is created (data directory, keys, sample data) for a server that cannot listen.
        for (what, host, port) in [("port", configuration.host, configuration.port)]
            + (configuration.metricsPort.map { [("metrics port", configuration.metricsHost, $0)] } ?? [])
        {
            if let taken = PortProbe.refusal(host: host, port: port, what: what) { throw ValidationError(taken) }
        }
        try DataDirectory.create(configuration.dataDirectory)
        let dataDirectory = URL(fileURLWithPath: configuration.dataDirectory).standardizedFileURL.path
        say("data directory: \(dataDirectory)")
        if configuration.apiKeys.isEmpty {
            let development = try DevelopmentKey.ensure(dataDirectory: configuration.dataDirectory)
            configuration.apiKeys = development.keys
            if let key = development.createdKey {
                say("created a development API key (role admin), shown this once: \(key)")
            }
            say(
                "development key file: \(URL(fileURLWithPath: development.keyFile).standardizedFileURL.path) (a portal key for trying the customer's side is beside it: \(DevelopmentKey.portalKeyFileName))"
            )
        }

        let server: PartialCancelServer
        do {
            server = try PartialCancelServer(
                configuration: configuration,
                keyStore: try KeyStore(configuration.apiKeys),
                logger: logger,
                openStore: configuration.storage.backend == .postgres
                    ? Self.postgresStore : PartialCancelServer.sqliteStore
            )
        } catch let error as StorageError {
            throw ValidationError("\(error)")
        } catch let error as DatabaseUnavailable {
            throw ValidationError("\(error); is PostgreSQL running at the address storage.postgres names?")
        }
        switch configuration.storage.backend {
        case .sqlite:
            say(
                "storage: \(configuration.storage.shards) shards, synchronous \(configuration.storage.synchronous.rawValue)"
            )
        case .postgres:
            say("storage: PostgreSQL, \(configuration.storage.postgresURLs.count) database(s)")
        }
        let seeded = try await server.seedSampleDataIfNew()
        if !seeded.isEmpty { say("seeded sample stock and orders: \(seeded.joined(separator: ", "))") }
        let address: SocketAddress
        do {
            address = try await server.start()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            // Taken between the probe and the bind.
            throw ValidationError(PortProbe.inUse(host: configuration.host, port: configuration.port, what: "port"))
        }
        if let tls = configuration.tls {
            let clients = tls.clientCAFile == nil ? "off" : tls.requireClientCertificate ? "required" : "optional"
            say("TLS on (certificate chain \(tls.certificateChainFile)); client certificates \(clients)")
        }
        if let metrics = server.metricsAddress {
            say("metrics on http://\(configuration.metricsHost):\(metrics.port ?? 0)/metrics (and /live, /ready)")
        }
        say(
            "pcancel-server \(PartialCancelServer.version) listening on \(configuration.host):\(address.port ?? configuration.port)"
        )

        // SIGHUP: the keys and rules again from the configuration, connections kept (docs/CONFIGURATION.md).
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        let command = self
        hangup.setEventHandler {
            do {
                var reloaded = try command.loadConfiguration()
                // No keys in the configuration: the development keys, as at start (the same files).
                if reloaded.apiKeys.isEmpty {
                    reloaded.apiKeys = try DevelopmentKey.ensure(dataDirectory: reloaded.dataDirectory).keys
                }
                let changes = server.reload(reloaded, keys: try KeyStore(reloaded.apiKeys))
                command.say(
                    "reloaded the configuration: " + (changes.isEmpty ? "no change" : changes.joined(separator: "; "))
                )
            } catch {
                logger.error("configuration not reloaded; the running one stays", metadata: ["error": "\(error)"])
                command.say("configuration not reloaded (the running one stays): \(error)")
            }
        }
        hangup.resume()
        defer { hangup.cancel() }

        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [server, MemoryTrimmer(server: server)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }

    /// The configuration file (if any) with the command line's settings over it, validated: at start,
    /// and again on SIGHUP.
    func loadConfiguration() throws -> ServerConfiguration {
        var configuration = ServerConfiguration()
        do {
            if let config { configuration = try ConfigurationFile.load(path: config) }
            if let dataDir { configuration.dataDirectory = dataDir }
            if let host { configuration.host = host }
            if let port { configuration.port = port }
            if let eventLoopThreads { configuration.eventLoopThreads = eventLoopThreads }
            if let shards { configuration.storage.shards = shards }
            if let synchronous {
                guard let mode = Synchronous(rawValue: synchronous.uppercased()) else {
                    throw ConfigurationError("--synchronous must be FULL or NORMAL")
                }
                configuration.storage.synchronous = mode
            }
            if noSampleData { configuration.seedSampleData = false }
            if let metricsPort { configuration.metricsPort = metricsPort }
            if tlsCert != nil || tlsKey != nil {
                guard let tlsCert, let tlsKey else { throw ConfigurationError("--tls-cert and --tls-key go together") }
                var tls = configuration.tls ?? TLSSettings(certificateChainFile: tlsCert, privateKeyFile: tlsKey)
                tls.certificateChainFile = tlsCert
                tls.privateKeyFile = tlsKey
                configuration.tls = tls
            }
            if let tlsClientCa {
                guard configuration.tls != nil else {
                    throw ConfigurationError(
                        "--tls-client-ca needs --tls-cert and --tls-key (or tls in the config file)"
                    )
                }
                configuration.tls?.clientCAFile = tlsClientCa
            }
            try configuration.validate()
        } catch {
            throw ValidationError("\(error)")
        }
        return configuration
    }

    /// Start-up lines go to stdout, flushed at once: scripts and tests wait for them.
    func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}

/// Gives freed memory back to the system after connections close. glibc keeps the free pages of
/// its heaps (one per thread arena) for reuse — which keeps large frame buffers cheap while
/// traffic lasts — but after a burst of connections that buffered a lot, the process would stay
/// near its peak. (Fixing glibc's mmap threshold instead made every large frame pay for fresh
/// pages, and an event loop's heavy requests twice as slow.) Every `interval` the trimmer looks at the number of open
/// connections and, when it has fallen since the last look (and once more on the look after),
/// asks glibc to release what is free (`malloc_trim`, a walk of the arenas: milliseconds, and only
/// after connections went away).
struct MemoryTrimmer: Service {
    let server: PartialCancelServer
    var interval: Duration = .seconds(2)

    /// Large frame buffers (up to `max_frame_bytes`) come from the heap and their pages stay
    /// mapped between frames: mapping fresh pages for every 4 MiB frame cost an event loop more
    /// than copying it. What this keeps is returned by the trimmer once connections close.
    static func keepLargeBuffersWarm() {
        _ = mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024)
        _ = mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024)
    }

    func run() async throws {
        try? await cancelWhenGracefulShutdown { [server, interval] in
            var previous = 0
            var settling = false
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                let open = server.openConnectionCount
                let fell = open < previous
                // Once more on the first look after the fall stopped: a closed connection's buffers
                // may be freed after it stopped counting as open.
                if fell || settling { _ = malloc_trim(0) }
                settling = fell
                previous = open
            }
        }
    }
}

extension PCancelServerCommand {
    /// The PostgreSQL backend (`storage.backend` postgres).
    static let postgresStore: PartialCancelServer.StoreOpener = { configuration, loop, logger, clock in
        try PostgresStore.open(
            storage: configuration.storage,
            dataDirectory: configuration.dataDirectory,
            eventLoop: loop,
            logger: logger,
            clock: clock
        )
    }
}

/// Whether a port can be listened on, asked before the server creates anything.
enum PortProbe {
    static func inUse(host: String, port: Int, what: String) -> String {
        "\(host):\(port) is already in use (the \(what)); another pcancel-server? (pcancel health --server \(host):\(port)) Stop it, or give another --port"
    }

    /// A message when `host:port` cannot be bound now (0, a free port, always can).
    static func refusal(host: String, port: Int, what: String) -> String? {
        guard port != 0 else { return nil }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &found) == 0, let info = found else {
            return "\(host) does not resolve to an address to listen on (the \(what))"
        }
        defer { freeaddrinfo(found) }
        let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var reuse: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            return errno == EADDRINUSE
                ? inUse(host: host, port: port, what: what)
                : "cannot listen on \(host):\(port) (the \(what)): \(String(cString: strerror(errno)))"
        }
        return nil
    }
}

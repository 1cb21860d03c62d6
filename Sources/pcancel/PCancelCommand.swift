import ArgumentParser
import Foundation
import NIOCore
import PartialCancelClient
import PartialCancelDomain
import PartialCancelWire

/// `pcancel`: the operators' and developers' command line.
@main
struct PCancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pcancel",
        abstract: "Diagnostics and operations for a pcancel server.",
        discussion: """
            Exit codes: 0 OK; 1 internal or unknown error; 2 invalid request (INVALID_ARGUMENT, \
            FAILED_PRECONDITION, OUT_OF_RANGE); 3 NOT_FOUND; 4 conflict (ALREADY_EXISTS, ABORTED); \
            5 access (UNAUTHENTICATED, PERMISSION_DENIED); 6 retry later (UNAVAILABLE, DEADLINE_EXCEEDED, \
            RESOURCE_EXHAUSTED, CANCELLED); 64 bad command-line usage.
            """,
        version: pcancelVersion,
        subcommands: [
            HealthCommand.self, PingCommand.self, OrderCommand.self, FulfilmentCommand.self, StockCommand.self,
            DeadLetterCommand.self,
            ValidateCommand.self, RequestCommand.self, ConfirmCommand.self, DeclineCommand.self, WithdrawCommand.self,
            ReleaseCommand.self, CancellationCommand.self, NotificationsCommand.self, WatchCommand.self,
            RefundCommand.self, StatsCommand.self, SourcesCommand.self, KeyCommand.self,
        ]
    )

    /// Connection options given before the subcommand (`pcancel --server H:P health`).
    @OptionGroup var connection: ConnectionOptions
}

/// A subcommand that talks to a server: connection options are accepted before or after its name.
protocol ServerCommand: AsyncParsableCommand {
    var local: ConnectionOptions { get }
    var root: PCancelCommand { get }
}

extension ServerCommand {
    /// The options after the subcommand's name win over those before it.
    var connection: ConnectionOptions { local.merged(over: root.connection) }
}

/// Options every command that talks to a server shares.
struct ConnectionOptions: ParsableArguments {
    static let defaultServer = "127.0.0.1:7447"
    static let defaultTimeout = 30.0

    @Option(
        name: .long,
        help:
            "Server address as HOST:PORT (default \(defaultServer)); several, comma-separated, are nodes of one deployment, tried in order."
    )
    var server: String?

    @Option(
        name: .long,
        help: "API key (default: $PCANCEL_API_KEY, then --api-key-file, then ./pcancel-data/dev-api-key if present)."
    )
    var apiKey: String?

    @Option(name: .long, help: "File holding the API key.")
    var apiKeyFile: String?

    @Option(name: .long, help: "Deadline of each call, in seconds (default \(Int(defaultTimeout))).")
    var timeout: Double?

    @Flag(name: .long, help: "Print one JSON object on stdout instead of text.")
    var json = false

    @Flag(name: .long, help: "Connect over TLS (trusting the system's roots unless --tls-ca is given).")
    var tls = false

    @Option(name: .long, help: "TLS: PEM file of the CA that signed the server's certificate (implies --tls).")
    var tlsCa: String?

    @Option(
        name: .long,
        help: "TLS: PEM client certificate, for servers that map certificates to roles (with --tls-key)."
    )
    var tlsCert: String?

    @Option(name: .long, help: "TLS: PEM private key of --tls-cert.")
    var tlsKey: String?

    var address: String { server ?? Self.defaultServer }
    var deadlineSeconds: Double { timeout ?? Self.defaultTimeout }

    func merged(over outer: ConnectionOptions) -> ConnectionOptions {
        var merged = self
        merged.server = server ?? outer.server
        merged.apiKey = apiKey ?? outer.apiKey
        merged.apiKeyFile = apiKeyFile ?? outer.apiKeyFile
        merged.timeout = timeout ?? outer.timeout
        merged.json = json || outer.json
        merged.tls = tls || outer.tls
        merged.tlsCa = tlsCa ?? outer.tlsCa
        merged.tlsCert = tlsCert ?? outer.tlsCert
        merged.tlsKey = tlsKey ?? outer.tlsKey
        return merged
    }

    /// The key to send: flag, environment, key file, then the embedded default's development key.
    func resolvedAPIKey() throws -> String {
        do {
            return try APIKeySource.resolve(
                given: apiKey,
                environment: "PCANCEL_API_KEY",
                keyFile: apiKeyFile,
                defaultFile: "pcancel-data/dev-api-key"
            ) ?? ""
        } catch {
            throw ValidationError("cannot read --api-key-file \(apiKeyFile ?? "")")
        }
    }

    /// One configuration per `--server` address, in the order given.
    func clientConfigurations() throws -> [PartialCancelClient.Configuration] {
        try address.split(separator: ",", omittingEmptySubsequences: false).map {
            try clientConfiguration(String($0).trimmingCharacters(in: .whitespaces))
        }
    }

    func clientConfiguration(_ address: String) throws -> PartialCancelClient.Configuration {
        guard let (host, port) = PartialCancelClient.Configuration.parseAddress(address) else {
            throw ValidationError("--server must be HOST:PORT (or several, comma-separated), got '\(address)'")
        }
        let timeout = deadlineSeconds
        guard timeout > 0, timeout <= 3600 else { throw ValidationError("--timeout must be in (0, 3600] seconds") }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        let useTLS = tls || tlsCa != nil || tlsCert != nil
        return PartialCancelClient.Configuration(
            host: host,
            port: port,
            apiKey: try resolvedAPIKey(),
            clientName: "pcancel-cli",
            defaultDeadline: .nanoseconds(Int64(timeout * 1e9)),
            tls: useTLS ? .init(caFile: tlsCa, certificateFile: tlsCert, privateKeyFile: tlsKey) : nil
        )
    }

    /// Connects, runs `body`, closes; failures are printed and turned into the exit code of their status.
    func withClient(_ body: (PartialCancelClient) async throws -> Void) async throws {
        do {
            let client = try await PartialCancelClient.connect(anyOf: try clientConfigurations())
            do {
                try await body(client)
            } catch {
                await client.close()
                throw error
            }
            await client.close()
        } catch let error as ClientError {
            Output.failure(error.status, json: json, keyOrigin: keyOrigin)
            throw ExitCode(ExitCodes.code(for: error.status.code))
        }
    }

    /// Where the key sent came from, for the hint of a refused or missing key.
    var keyOrigin: String? {
        APIKeySource.origin(
            given: apiKey,
            environment: "PCANCEL_API_KEY",
            keyFile: apiKeyFile,
            defaultFile: "pcancel-data/dev-api-key"
        )
    }
}

import Foundation
import Logging
import NIOCore
import PartialCancelStorage
import PostgresNIO

/// Where one PostgreSQL database is: parsed from `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`.
public struct PostgresAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String

    public init(url: String) throws {
        guard let components = URLComponents(string: url),
            components.scheme == "postgres" || components.scheme == "postgresql",
            let host = components.host, !host.isEmpty
        else {
            throw StorageError(
                code: 0,
                "storage.postgres: \(Self.redacted(url)) is not a postgres://USER@HOST:PORT/DATABASE URL"
            )
        }
        self.host = host
        self.port = components.port ?? 5432
        self.user = components.user ?? "postgres"
        self.password = components.password
        let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        self.database = path.isEmpty ? self.user : path
    }

    /// The address without its password, for logs and errors.
    public var description: String { "\(host):\(port)/\(database)" }

    static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? url
    }
}

/// One database of the store: its connection pool, and its place in the shard map. Every call
/// runs in a transaction of its own (READ COMMITTED, with the row locks the call needs); a
/// serialization failure or deadlock runs the whole transaction again, which is safe because
/// the decisions it carries out are pure.
final class PostgresDatabase: Sendable {
    let index: Int
    let address: PostgresAddress
    let client: PostgresClient
    let logger: Logger
    /// Retries of a transaction that lost a serialization race or a deadlock.
    static let maxRetries = 8
    private let running: Task<Void, Never>

    /// `database 0 (127.0.0.1:5432/pcancel)`: how errors and health name it.
    var name: String { "database \(index) (\(address))" }

    init(index: Int, address: PostgresAddress, connections: Int, logger: Logger) {
        self.index = index
        self.address = address
        self.logger = logger
        var configuration = PostgresClient.Configuration(
            host: address.host,
            port: address.port,
            username: address.user,
            password: address.password,
            database: address.database,
            tls: .disable
        )
        configuration.options.maximumConnections = connections
        configuration.options.minimumConnections = 0
        configuration.options.connectTimeout = .seconds(5)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.running = Task { await client.run() }
    }

    func close() { running.cancel() }

    /// A connection of its own, outside the pool (migrations at open). Blocks.
    func connectDirectly(on loop: any EventLoop) throws -> PostgresConnection {
        let configuration = PostgresConnection.Configuration(
            host: address.host,
            port: address.port,
            username: address.user,
            password: address.password,
            database: address.database,
            tls: .disable
        )
        do {
            return try PostgresConnection.connect(on: loop, configuration: configuration, id: 0, logger: logger).wait()
        } catch {
            throw unavailable(error)
        }
    }

    /// Runs `body` in one transaction and commits it; rolls back and rethrows what `body` threw.
    func transaction<T: Sendable>(_ body: (Transaction) async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            do {
                return try await client.withConnection { connection in
                    let transaction = Transaction(connection: connection, logger: logger)
                    try await transaction.run("BEGIN")
                    do {
                        let result = try await body(transaction)
                        try await transaction.run("COMMIT")
                        return result
                    } catch {
                        _ = try? await transaction.run("ROLLBACK")
                        throw error
                    }
                }
            } catch let error as PSQLError where Self.isRetryable(error) && attempt < Self.maxRetries {
                attempt += 1
                try await Task.sleep(nanoseconds: UInt64.random(in: 1...(1 << min(attempt, 6))) * 500_000)
            } catch {
                throw translated(error)
            }
        }
    }

    /// Runs one statement outside an explicit transaction.
    func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        do {
            return try await client.withConnection { connection in
                try await Transaction(connection: connection, logger: logger).rows(query)
            }
        } catch {
            throw translated(error)
        }
    }

    /// A serialization failure (40001) or a deadlock (40P01): the transaction may run again.
    static func isRetryable(_ error: PSQLError) -> Bool {
        guard error.code == .server, let state = error.serverInfo?[.sqlState] else { return false }
        return state == "40001" || state == "40P01"
    }

    /// What the services see: an unreachable database or a lost connection becomes
    /// `DatabaseUnavailable`; a failed statement, a `StorageError` naming the database and the
    /// server's message (a broken constraint is a bug, never a state to work with).
    func translated(_ error: any Error) -> any Error {
        guard let error = error as? PSQLError else {
            if error is CancellationError { return DatabaseUnavailable(database: name, "the call was cancelled") }
            return error
        }
        switch error.code {
        case .server:
            let state = error.serverInfo?[.sqlState] ?? ""
            let message = error.serverInfo?[.message] ?? "\(error)"
            // 57P01..57P03: the server is shutting down or starting; 08xxx: connection exceptions.
            if state.hasPrefix("57P") || state.hasPrefix("08") {
                return DatabaseUnavailable(database: name, "\(state) \(message)")
            }
            return StorageError(code: 0, "\(name): \(state) \(message)")
        default:
            return unavailable(error)
        }
    }

    func unavailable(_ error: any Error) -> DatabaseUnavailable {
        if let error = error as? PSQLError {
            let cause = error.underlying.map { "\($0)" } ?? ""
            return DatabaseUnavailable(database: name, "\(error.code)\(cause.isEmpty ? "" : ": \(cause)")")
        }
        return DatabaseUnavailable(database: name, "\(error)")
    }
}

/// A connection inside one transaction (or one statement).
struct Transaction {
    let connection: PostgresConnection
    let logger: Logger

    func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        var rows: [PostgresRow] = []
        for try await row in try await connection.query(query, logger: logger) { rows.append(row) }
        return rows
    }

    /// The first row, if any.
    func first(_ query: PostgresQuery) async throws -> PostgresRow? { try await rows(query).first }

    func run(_ query: PostgresQuery) async throws { _ = try await rows(query) }

    /// Runs a statement and says how many rows it changed (by its RETURNING rows).
    func changed(_ query: PostgresQuery) async throws -> Int { try await rows(query).count }
}

/// bytea in and out.
extension Array where Element == UInt8 {
    var bytea: ByteBuffer { ByteBuffer(bytes: self) }
    init(bytea buffer: ByteBuffer) { self = Array(buffer.readableBytesView) }
}

import ArgumentParser
import Foundation
import Logging
import NIOPosix
import PartialCancelDomain
import PartialCancelPostgres
import PartialCancelStorage

/// `pcancel-audit`: checks a stopped server's data directory against SPEC section 12.
@main
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pcancel-audit",
        abstract:
            "Checks a data directory, or PostgreSQL databases (with no server running on them), for lost or doubled money and stock.",
        discussion: """
            Opens the shards or databases (delivering any cross-shard messages a crash left behind, as a server start \
            would), \
            then checks: no refund issued twice; each confirmed request has exactly its quoted refund; per order \
            Σ refunds = refunded and original total = total + refunded; every acknowledged refund (--acks) present \
            unchanged; every outbox message delivered and applied once; reserved = Σ open reservations; on-hand \
            as set (--on-hand). Exit 0 when nothing is broken, 1 otherwise.
            """,
        version: pcancelVersion
    )

    @Option(name: .long, help: "The data directory (SQLite).") var dataDir: String?
    @Option(
        name: .long,
        help:
            "PostgreSQL instead: the URL of each database, in the shard map's order (repeatable; storage.postgres of the nodes' config)."
    ) var postgres: [String] = []
    @Option(name: .long, help: "File of acknowledged confirmations, one 'CANCELLATION_ID REFUND_ID AMOUNT' per line.")
    var acks: String?
    @Option(
        name: .long,
        help: "SKU_PREFIX=N: every pool whose sku starts with SKU_PREFIX must hold N on hand (repeatable)."
    ) var onHand: [String] = []
    @Flag(name: .long, help: "Print one JSON object.") var json = false

    func validate() throws {
        guard (dataDir == nil) != postgres.isEmpty else {
            throw ValidationError("give --data-dir (SQLite) or --postgres URL (PostgreSQL), one of them")
        }
    }

    func run() async throws {
        var expectedOnHand: [String: Int64] = [:]
        for item in onHand {
            let parts = item.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let value = Int64(parts[1]) else {
                throw ValidationError("--on-hand must be SKU_PREFIX=N, got '\(item)'")
            }
            expectedOnHand[String(parts[0])] = value
        }
        var acknowledged: [AcknowledgedRefund] = []
        if let acks {
            guard let text = try? String(contentsOfFile: acks, encoding: .utf8) else {
                throw ValidationError("cannot read --acks \(acks)")
            }
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: " ")
                // A line cut short by a kill is not an acknowledgement the client finished recording.
                guard fields.count == 3, let amount = Int64(fields[2]) else { continue }
                acknowledged.append(
                    AcknowledgedRefund(cancellationID: String(fields[0]), refundID: String(fields[1]), amount: amount)
                )
            }
        }
        var logger = Logger(label: "pcancel-audit")
        logger.logLevel = .warning
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let report: AuditReport
        if let dataDir {
            guard let shards = try Storage.recordedShardCount(directory: dataDir) else {
                throw ValidationError("\(dataDir) is not a pcancel data directory (no \(Storage.metaFileName))")
            }
            var configuration = StorageConfiguration()
            configuration.shards = shards
            let storage = try Storage.open(
                directory: dataDir,
                configuration: configuration,
                eventLoop: loop,
                logger: logger
            )
            defer { storage.close() }
            try await storage.waitForDelivery(on: loop).get()
            report = try await storage.audit(acknowledged: acknowledged, onHand: expectedOnHand, on: loop).get()
        } else {
            // No token is read: an ephemeral sealer, and no key file touched.
            let store = try PostgresStore.open(
                configuration: PostgresStoreConfiguration(urls: postgres),
                sealer: .ephemeral(),
                eventLoop: loop,
                logger: logger
            )
            defer { store.close() }
            try await store.waitForDelivery(on: loop).get()
            report = try await store.audit(acknowledged: acknowledged, onHand: expectedOnHand, on: loop).get()
        }
        if json {
            let object: [String: Any] = [
                "orders": report.orders, "requests": report.requests, "refunds": report.refunds,
                "acknowledged": report.acknowledged, "outbox_messages": report.outboxMessages,
                "pools": report.pools, "violations": report.violations,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(
                "orders=\(report.orders) requests=\(report.requests) refunds=\(report.refunds) acknowledged=\(report.acknowledged) outbox=\(report.outboxMessages) pools=\(report.pools) violations=\(report.violations.count)"
            )
            for violation in report.violations.prefix(50) { print("violation: \(violation)") }
        }
        if !report.violations.isEmpty { throw ExitCode(1) }
    }
}

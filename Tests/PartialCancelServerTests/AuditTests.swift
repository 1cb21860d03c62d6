import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOPosix
import PartialCancelClient
import PartialCancelLoad
import PartialCancelStorage
import PartialCancelTestSupport
import PartialCancelWire
import Testing

/// The crash harness's judge: a clean data directory passes, and each kind of damage is named.
@Suite("Audit of a data directory", .serialized)
struct AuditTests {
    /// Runs 30 checked flows on a real server, stops it, and returns its data directory and the acknowledged refunds.
    func populated() async throws -> (directory: String, acks: [AcknowledgedRefund]) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pcancel-audit-\(UUID())").path
        let server = try await TestServer.start(dataDirectory: directory) { _ in }
        let acks = NIOLockedValueBox<[AcknowledgedRefund]>([])
        var options = LoadOptions(prefix: "LDAUDIT")
        options.flows = 30
        options.onHand = 500
        options.acknowledge = { id, refund in
            acks.withLockedValue {
                $0.append(AcknowledgedRefund(cancellationID: id, refundID: refund.refundID, amount: refund.amount))
            }
        }
        let agent = try await server.client(key: TestServer.adminKey)
        let portal = try await server.client(key: TestServer.portalKey)
        let result = try await LoadRun(options: options, agents: [agent], portals: [portal]).run()
        #expect(result.succeeded)
        await agent.close()
        await portal.close()
        try await server.stop()
        return (directory, acks.withLockedValue { $0 })
    }

    func audit(_ directory: String, acks: [AcknowledgedRefund]) async throws -> AuditReport {
        var configuration = StorageConfiguration()
        configuration.shards = try #require(try Storage.recordedShardCount(directory: directory))
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let storage = try Storage.open(
            directory: directory,
            configuration: configuration,
            eventLoop: loop,
            logger: Logger(label: "audit")
        )
        defer { storage.close() }
        try await storage.waitForDelivery(on: loop).get()
        return try await storage.audit(acknowledged: acks, onHand: ["LDAUDIT": 500], on: loop).get()
    }

    /// Runs SQL on one shard file with Python's sqlite3 (a client that is not ours).
    func tamper(_ directory: String, shard: Int, _ sql: String) async throws {
        let result = try await runCommand(
            URL(fileURLWithPath: "/usr/bin/env"),
            [
                "python3", "-c",
                "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()",
                "\(directory)/shard-\(shard).sqlite", sql,
            ]
        )
        #expect(result.status == 0, "\(result.error)")
    }

    @Test("a clean run passes; forged acknowledgements, lost refunds, lost applications and wrong stock are each named")
    func detects() async throws {
        let (directory, acks) = try await populated()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(acks.count == 26)  // 30 flows of the default mix: 3 are ineligible, 1 overtaken by the warehouse
        let clean = try await audit(directory, acks: acks)
        #expect(clean.violations.isEmpty, "\(clean.violations)")
        #expect(clean.acknowledged == 26 && clean.refunds == 26 && clean.orders == 30 && clean.outboxMessages > 0)

        var forged = acks
        forged[0].amount += 1
        forged.append(AcknowledgedRefund(cancellationID: "web-NOPE/c1", refundID: "rf_x", amount: 1))
        let forgedReport = try await audit(directory, acks: forged)
        #expect(forgedReport.violations.count == 2)
        #expect(forgedReport.violations.contains { $0.contains("web-NOPE/c1") && $0.contains("missing") })

        for shard in 0..<2 {
            try await tamper(
                directory,
                shard: shard,
                """
                DELETE FROM refunds WHERE rowid = (SELECT MIN(rowid) FROM refunds);
                DELETE FROM applied_messages;
                UPDATE stock SET reserved = reserved + 1, on_hand = 7 WHERE rowid = (SELECT MIN(rowid) FROM stock);
                DELETE FROM order_history WHERE seq = 2 AND order_id = (SELECT MIN(order_id) FROM order_history WHERE seq = 3);
                """
            )
        }
        let damaged = try await audit(directory, acks: acks).violations
        #expect(damaged.contains { $0.contains("without a refund") })
        #expect(damaged.contains { $0.contains("acknowledged confirmation") && $0.contains("missing") })
        #expect(damaged.contains { $0.contains("refunds add to") })
        #expect(damaged.contains { $0.contains("never applied") })
        #expect(damaged.contains { $0.hasPrefix("stock ") && $0.contains("orders hold") })
        #expect(damaged.contains { $0.contains("on hand 7") })
        // The changed pool no longer matches its last recorded change; a removed entry leaves a gap.
        #expect(damaged.contains { $0.contains("its last recorded change says") })
        #expect(damaged.contains { $0.contains("not numbered without a gap") && !$0.hasPrefix("stock history") })
    }
}

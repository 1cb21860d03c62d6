import ArgumentParser
import Foundation
import NIOCore
import PartialCancelClient
import PartialCancelDomain
import PartialCancelWire

struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Follows an order or stock live, as changes commit.",
        discussion: """
            Prints each committed change as it happens, with its sequence number. When the connection \
            drops, the server restarts or the watch falls behind, it reconnects and resumes after the \
            last sequence number printed: nothing is missed or repeated. Stop with Ctrl-C.
            """,
        subcommands: [Order.self, Stock.self]
    )

    struct Order: ServerCommand {
        static let configuration = CommandConfiguration(
            abstract: "Follows one order: status, lines, refunds, cancellation requests."
        )
        @OptionGroup var local: ConnectionOptions
        @ParentCommand var root: PCancelCommand
        @OptionGroup var order: OrderArguments
        @Option(name: .long, help: "Resume after this history sequence number (default: start now, with a snapshot).")
        var after: Int64 = 0
        @Option(name: .long, help: "Stop after this many changes (snapshots not counted).") var count: Int?

        func run() async throws {
            var last = after
            var seen = 0
            let json = connection.json
            try await Resuming.run(connection) { client in
                let items = client.stream(
                    Methods.watchOrder,
                    WatchOrderRequest(orderID: order.id, afterSeq: last),
                    as: OrderChange.self,
                    metadata: order.metadata
                )
                for try await change in items {
                    WatchText.print(change, json: json)
                    last = change.seq
                    if change.entry != nil { seen += 1 }
                    if let count, seen >= count { return true }
                }
                return false
            }
        }
    }

    struct Stock: ServerCommand {
        static let configuration = CommandConfiguration(abstract: "Follows the availability of skus, every location.")
        @OptionGroup var local: ConnectionOptions
        @ParentCommand var root: PCancelCommand
        @Argument(help: "Skus to follow.") var skus: [String]
        @Option(name: .long, help: "Stop after this many changes (snapshots not counted).") var count: Int?

        func validate() throws {
            guard !skus.isEmpty else { throw ValidationError("name at least one sku") }
        }

        func run() async throws {
            var last: [String: Int64] = [:]
            var seen = 0
            let json = connection.json
            try await Resuming.run(connection) { client in
                let cursors = skus.map { StockCursor(sku: $0, afterSeq: last[$0] ?? 0) }
                for try await update in client.stream(
                    Methods.watchStock,
                    WatchStockRequest(skus: cursors),
                    as: StockUpdate.self
                ) {
                    WatchText.print(update, json: json)
                    last[update.sku] = update.seq
                    if update.cause != "SNAPSHOT" { seen += 1 }
                    if let count, seen >= count { return true }
                }
                return false
            }
        }
    }
}

/// Runs a watch, and runs it again (resuming) when it ends for a reason worth retrying: the
/// connection dropped, the server drained, or the watcher fell behind.
enum Resuming {
    /// `body` returns true when done; false or a retryable error reconnects after a pause. A
    /// server that cannot be reached at the start is an error, not something to wait for.
    static func run(_ connection: ConnectionOptions, _ body: (PartialCancelClient) async throws -> Bool) async throws {
        var pause: UInt64 = 200_000_000
        var connectedOnce = false
        while true {
            do {
                let client: PartialCancelClient
                do {
                    client = try await PartialCancelClient.connect(anyOf: try connection.clientConfigurations())
                } catch let error as ClientError where !connectedOnce {
                    Output.failure(error.status, json: connection.json)
                    throw ExitCode(ExitCodes.code(for: error.status.code))
                }
                connectedOnce = true
                let done: Bool
                do {
                    done = try await body(client)
                } catch {
                    await client.close()
                    throw error
                }
                await client.close()
                if done { return }
                pause = 200_000_000
            } catch let error as ClientError where [.unavailable, .resourceExhausted].contains(error.status.code) {
                FileHandle.standardError.write(
                    Data("watch interrupted (\(error.status.code.name): \(error.status.message)); resuming\n".utf8)
                )
                try await Task.sleep(nanoseconds: pause)
                pause = min(pause * 2, 5_000_000_000)
            } catch let error as ClientError {
                Output.failure(error.status, json: connection.json)
                throw ExitCode(ExitCodes.code(for: error.status.code))
            }
        }
    }
}

enum WatchText {
    static func print(_ change: OrderChange, json: Bool) {
        if json {
            var object: [String: Any] = ["order_id": change.orderID, "seq": change.seq]
            if let entry = change.entry { object["entry"] = OrderJSON.history(entry) }
            if let order = change.order { object["order"] = OrderJSON.order(order) }
            Output.json(object)
        } else {
            if let entry = change.entry {
                Swift.print("#\(entry.seq) \(HistoryText.timestamp(entry.atMs)) \(HistoryText.line(entry))")
            } else {
                Swift.print("watching \(change.orderID) from #\(change.seq)")
            }
            if let order = change.order {
                let t = order.totals
                let lines = order.lines.filter { $0.parentLineID.isEmpty }.map {
                    "\($0.id) \($0.quantity - $0.cancelledQuantity)/\($0.quantity)"
                }
                Swift.print(
                    "    order \(order.status)  total \(Currency.format(t.total, code: order.currency))  refunded \(Currency.format(t.refunded, code: order.currency))  version \(order.version)  lines \(lines.joined(separator: ", "))"
                )
            }
        }
        flush()
    }

    static func print(_ update: StockUpdate, json: Bool) {
        if json {
            Output.json([
                "sku": update.sku, "seq": update.seq, "at_ms": update.atMs, "location": update.location,
                "on_hand": update.onHand,
                "reserved": update.reserved, "available": update.available, "cause": update.cause,
                "reference": update.reference,
            ])
        } else {
            let reference = update.reference.isEmpty ? "" : "  (\(update.reference))"
            Swift.print(
                "#\(update.seq) \(HistoryText.timestamp(update.atMs)) \(update.sku) @ \(update.location)  on hand \(update.onHand)  reserved \(update.reserved)  available \(update.available)  \(update.cause)\(reference)"
            )
        }
        flush()
    }

    /// Each change is printed the moment it arrives, also into a pipe.
    static func flush() {
        fflush(nil)  // every output stream: stdout is a C global Swift 6 will not touch
    }
}

/// History entries in words: `EVENT subject: from → to by actor (detail)`.
enum HistoryText {
    /// An entry's time, UTC, to the millisecond: the one time format the CLI prints (RFC 3339).
    static func timestamp(_ ms: Int64) -> String { RFC3339.format(ms) }

    static func line(_ h: HistoryEntryView) -> String {
        var text = "\(h.event) \(h.subject)"
        if !h.fromState.isEmpty || !h.toState.isEmpty {
            text += ": " + (h.fromState.isEmpty ? money(h.toState) : "\(money(h.fromState)) → \(money(h.toState))")
        }
        text += " by \(h.actor)"
        if !h.detail.isEmpty { text += " (\(money(h.detail)))" }
        return text
    }

    /// The history keeps amounts in minor units (`6421 USD`, for machines and the audit); a person
    /// reads them as everywhere else in the CLI: `64.21 USD`.
    static func money(_ text: String) -> String {
        text.replacing(/(?<minor>-?\d+) (?<code>[A-Z]{3})\b/) { match in
            let code = String(match.output.code)
            guard Currency.minorUnits[code] != nil, let minor = Int64(match.output.minor) else {
                return String(match.output.0)
            }
            return "\(Currency.format(minor, code: code)) \(code)"
        }
    }
}

struct StatsCommand: ServerCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Shows the server's live figures: calls, latencies, statuses, rejects, queues, backlogs."
    )
    @OptionGroup var local: ConnectionOptions
    @ParentCommand var root: PCancelCommand
    @Flag(name: .long, help: "Refresh the table every --interval seconds until interrupted.") var watch = false
    @Option(name: .long, help: "Seconds between refreshes with --watch.") var interval: Double = 2

    func validate() throws {
        guard interval >= 0.1, interval <= 3600 else { throw ValidationError("--interval must be 0.1...3600 seconds") }
    }

    func run() async throws {
        try await connection.withClient { client in
            repeat {
                let stats = try await client.call(Methods.stats, StatsRequest(), as: StatsResponse.self)
                if connection.json {
                    Output.json(StatsText.json(stats))
                } else {
                    if watch { Swift.print("\u{1B}[2J\u{1B}[H", terminator: "") }
                    StatsText.print(stats)
                }
                WatchText.flush()
                if watch { try await Task.sleep(nanoseconds: UInt64(interval * 1e9)) }
            } while watch
        }
    }
}

enum StatsText {
    static func print(_ s: StatsResponse) {
        Swift.print(
            "uptime \(s.uptimeMs / 1000) s  connections \(s.connections)  watches \(s.watches) (dropped \(s.watchesDropped))  stock messages in flight \(s.stockMessagesInFlight)"
        )
        Swift.print("")
        Swift.print("METHOD                     CALLS  MEAN ms   P50 ms   P90 ms   P99 ms   MAX ms  STATUSES")
        for m in s.methods {
            let name = String(m.method.split(separator: "/").last ?? Substring(m.method))
            let statuses = m.statuses.map { "\($0.code)\($0.reason.isEmpty ? "" : "/\($0.reason)") \($0.count)" }
                .joined(separator: ", ")
            Swift.print(
                "\(name.padding(toLength: 24, withPad: " ", startingAt: 0)) \(String(m.calls).leftPad(7)) \(ms(m.meanMs)) \(ms(m.p50Ms)) \(ms(m.p90Ms)) \(ms(m.p99Ms)) \(ms(m.maxMs))  \(statuses)"
            )
        }
        if !s.eligibilityRejects.isEmpty {
            Swift.print("")
            Swift.print("ELIGIBILITY REJECTS (reason × channel)")
            for r in s.eligibilityRejects {
                Swift.print(
                    "  \(r.reason.padding(toLength: 28, withPad: " ", startingAt: 0)) \(r.channel.padding(toLength: 12, withPad: " ", startingAt: 0)) \(r.count)"
                )
            }
        }
        Swift.print("")
        Swift.print("SHARD  QUEUE  OUTBOX  OLDEST_MS  DEAD_LETTERS  EMAILS  OLDEST_MS  ORDERS")
        for shard in s.shards {
            Swift.print(
                "\(String(shard.index).leftPad(5)) \(String(shard.queueDepth).leftPad(6)) \(String(shard.outboxBacklog).leftPad(7)) \(String(shard.outboxOldestAgeMs).leftPad(10)) \(String(shard.deadLetters).leftPad(13)) \(String(shard.emailBacklog).leftPad(7)) \(String(shard.emailOldestAgeMs).leftPad(10)) \(String(shard.orders).leftPad(7))"
            )
        }
    }

    private static func ms(_ value: Double) -> String { String(format: "%8.2f", value) }

    static func json(_ s: StatsResponse) -> [String: Any] {
        [
            "uptime_ms": s.uptimeMs, "connections": s.connections, "watches": s.watches,
            "watches_dropped": s.watchesDropped,
            "stock_messages_in_flight": s.stockMessagesInFlight,
            "methods": s.methods.map { m in
                [
                    "method": m.method, "calls": m.calls, "mean_ms": m.meanMs, "p50_ms": m.p50Ms, "p90_ms": m.p90Ms,
                    "p99_ms": m.p99Ms, "max_ms": m.maxMs,
                    "statuses": m.statuses.map { ["code": $0.code, "reason": $0.reason, "count": $0.count] },
                ] as [String: Any]
            },
            "eligibility_rejects": s.eligibilityRejects.map {
                ["reason": $0.reason, "channel": $0.channel, "count": $0.count]
            },
            "shards": s.shards.map { shard in
                [
                    "index": shard.index, "open": shard.open, "queue_depth": shard.queueDepth,
                    "outbox_backlog": shard.outboxBacklog,
                    "outbox_oldest_age_ms": shard.outboxOldestAgeMs, "dead_letters": shard.deadLetters,
                    "email_backlog": shard.emailBacklog,
                    "email_oldest_age_ms": shard.emailOldestAgeMs, "orders": shard.orders,
                ] as [String: Any]
            },
        ]
    }
}

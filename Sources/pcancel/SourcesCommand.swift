import ArgumentParser
import Foundation
import PartialCancelClient
import PartialCancelWire

struct SourcesCommand: ServerCommand {
    static let configuration = CommandConfiguration(
        commandName: "sources",
        abstract: "Shows each order channel and fulfilment source: state, last event, counts, rates and lag.",
        discussion: """
            A source is DEGRADED when it has been silent longer than its configured gap or rejects more than \
            its configured share (config sources.rules, docs/CONFIGURATION.md); the reasons follow the table. \
            Counts are since the server started; rates, the reject share and the lag over its window. \
            Exits 1 when any source is degraded.
            """
    )
    @OptionGroup var local: ConnectionOptions
    @ParentCommand var root: PCancelCommand

    func run() async throws {
        try await connection.withClient { client in
            let sources = try await client.call(Methods.stats, StatsRequest(), as: StatsResponse.self).sources
            if connection.json {
                Output.json(["sources": sources.map(Self.json)])
            } else {
                Self.print(sources, nowMs: Int64(Date().timeIntervalSince1970 * 1000))
            }
            if sources.contains(where: { $0.state == "DEGRADED" }) { throw ExitCode(1) }
        }
    }

    /// The table's columns: heading, width, and whether the values align right.
    static let columns: [(String, Int, Bool)] = [
        ("SOURCE", 11, false), ("KIND", 10, false), ("STATE", 8, false), ("LAST ACCEPTED", 13, true),
        ("ACCEPTED", 8, true), ("REJECTED", 8, true), ("RETRIES", 7, true), ("ACC/MIN", 7, true),
        ("REJ/MIN", 7, true), ("REJECTED %", 10, true), ("LAG MEAN", 8, true), ("LAG MAX", 8, true),
    ]

    static func row(_ values: [String]) -> String {
        zip(columns, values).map { column, value in
            column.2
                ? value.leftPad(column.1)
                : value.padding(toLength: max(column.1, value.count), withPad: " ", startingAt: 0)
        }.joined(separator: "  ")
    }

    static func print(_ sources: [SourceHealthView], nowMs: Int64) {
        let window = sources.first.map { "\($0.windowMs / 1000) s" } ?? ""
        Swift.print(row(columns.map(\.0)) + "   (rates, share and lag over the last \(window))")
        for source in sources {
            let last = source.lastAcceptedMs == 0 ? "never" : "\(duration(max(0, nowMs - source.lastAcceptedMs))) ago"
            Swift.print(
                row([
                    source.name, source.kind, source.state, last, String(source.accepted), String(source.rejected),
                    String(source.retries), String(format: "%.1f", source.acceptedPerMinute),
                    String(format: "%.1f", source.rejectedPerMinute), String(format: "%.1f", source.rejectShare * 100),
                    duration(source.lagMeanMs), duration(source.lagMaxMs),
                ])
            )
        }
        for source in sources where !source.reasons.isEmpty {
            for reason in source.reasons { Swift.print("\(source.name): \(reason)") }
        }
    }

    /// A duration as a person reads it: `850 ms`, `4.2 s`, `12 min`, `3 h`, `14 d`.
    static func duration(_ ms: Int64) -> String {
        switch ms {
        case ..<1000: "\(ms) ms"
        case ..<60_000: String(format: "%.1f s", Double(ms) / 1000)
        case ..<3_600_000: "\(ms / 60_000) min"
        case ..<86_400_000: "\(ms / 3_600_000) h"
        default: "\(ms / 86_400_000) d"
        }
    }

    static func json(_ source: SourceHealthView) -> [String: Any] {
        [
            "name": source.name, "kind": source.kind, "state": source.state, "reasons": source.reasons,
            "last_accepted_ms": source.lastAcceptedMs, "accepted": source.accepted, "rejected": source.rejected,
            "retries": source.retries, "dead_letters": source.deadLetters,
            "accepted_per_minute": source.acceptedPerMinute, "rejected_per_minute": source.rejectedPerMinute,
            "reject_share": source.rejectShare, "lag_mean_ms": source.lagMeanMs, "lag_max_ms": source.lagMaxMs,
            "window_ms": source.windowMs,
        ]
    }
}

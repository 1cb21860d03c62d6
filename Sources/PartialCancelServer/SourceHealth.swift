import NIOConcurrencyHelpers
import PartialCancelDomain
import PartialCancelWire

/// When one source (an order channel or a fulfilment source) counts as DEGRADED (config
/// `sources.rules`, docs/CONFIGURATION.md).
public struct SourceHealthRule: Sendable, Hashable {
    /// The source it is for; `*` for every source without a rule of its own.
    public var source: String
    /// Longer than this without an accepted event (or, before the first, since the server started)
    /// is DEGRADED; nil: silence never is.
    public var maxSilenceMs: Int64?
    /// A larger share of rejected events in the window is DEGRADED...
    public var maxRejectShare: Double
    /// ...once the window holds at least this many events.
    public var minEvents: Int

    public init(source: String = "*", maxSilenceMs: Int64? = nil, maxRejectShare: Double = 0.5, minEvents: Int = 20) {
        self.source = source
        self.maxSilenceMs = maxSilenceMs
        self.maxRejectShare = maxRejectShare
        self.minEvents = minEvents
    }
}

/// Source health settings: the window that rates, shares and lag are counted over, and the rules.
public struct SourceHealthConfiguration: Sendable, Hashable {
    public var windowMs: Int64 = 300_000
    public var rules: [SourceHealthRule] = [SourceHealthRule()]

    public init() {}

    /// The rule for `source`: its own, else the `*` one, else the defaults.
    func rule(for source: String) -> SourceHealthRule {
        rules.first { $0.source == source } ?? rules.first { $0.source == "*" } ?? SourceHealthRule()
    }
}

/// Per source, what arrived and how it went (docs/FULFILMENT.md, "Source health"): counts since
/// the server started, and rates, the reject share and the lag over a sliding window of buckets.
/// Kept in memory, per server: several nodes each report what reached them. The sources are fixed at
/// start (the channels and the fulfilment sources), so callers cannot grow the table.
final class SourceHealthTracker: Sendable {
    enum Kind: String, Sendable {
        case channel
        case fulfilment
    }

    /// One event's outcome.
    enum Outcome: Sendable {
        /// Accepted, with its lag (arrival minus the event's own time), when the event has a time.
        case accepted(lagMs: Int64?)
        /// Sent again: the same order or event id as one stored before.
        case retry
        /// Refused and kept as a dead letter.
        case rejected
    }

    private struct Bucket {
        var startMs: Int64 = 0
        var accepted = 0
        var rejected = 0
        var lagSum: Int64 = 0
        var lagCount = 0
        var lagMax: Int64 = 0
    }

    private struct Source {
        var kind: Kind
        var lastAcceptedMs: Int64?
        var accepted: UInt64 = 0
        var rejected: UInt64 = 0
        var retries: UInt64 = 0
        var deadLetters: UInt64 = 0
        var buckets: [Bucket]
    }

    static let bucketCount = 30

    private let configuration: SourceHealthConfiguration
    private let now: @Sendable () -> Int64
    private let startedMs: Int64
    private let sources: NIOLockedValueBox<[String: Source]>

    init(
        channels: [String],
        fulfilmentSources: [String],
        configuration: SourceHealthConfiguration,
        now: @escaping @Sendable () -> Int64
    ) {
        self.configuration = configuration
        self.now = now
        startedMs = now()
        var sources: [String: Source] = [:]
        let empty = Array(repeating: Bucket(), count: Self.bucketCount)
        for name in channels { sources[name] = Source(kind: .channel, buckets: empty) }
        for name in fulfilmentSources { sources[name] = Source(kind: .fulfilment, buckets: empty) }
        self.sources = NIOLockedValueBox(sources)
    }

    private var bucketMs: Int64 { max(1, configuration.windowMs / Int64(Self.bucketCount)) }

    /// Counts `outcome` for `source` (a name the server does not know is not counted).
    func record(_ source: String, _ outcome: Outcome, count: Int = 1) {
        guard count > 0 else { return }
        let nowMs = now()
        let width = bucketMs
        sources.withLockedValue { sources in
            guard var entry = sources[source] else { return }
            let start = nowMs - nowMs % width
            let slot = Int((nowMs / width) % Int64(Self.bucketCount))
            if entry.buckets[slot].startMs != start { entry.buckets[slot] = Bucket(startMs: start) }
            switch outcome {
            case .accepted(let lag):
                entry.accepted += UInt64(count)
                entry.lastAcceptedMs = nowMs
                entry.buckets[slot].accepted += count
                if let lag {
                    let lag = max(0, lag)
                    entry.buckets[slot].lagSum += lag * Int64(count)
                    entry.buckets[slot].lagCount += count
                    entry.buckets[slot].lagMax = max(entry.buckets[slot].lagMax, lag)
                }
            case .retry:
                entry.retries += UInt64(count)
            case .rejected:
                entry.rejected += UInt64(count)
                entry.deadLetters += UInt64(count)
                entry.buckets[slot].rejected += count
            }
            sources[source] = entry
        }
    }

    /// Every source's figures now, by name, with its state and the reasons it is degraded.
    func snapshot() -> [SourceHealthView] {
        let nowMs = now()
        let width = bucketMs
        let windowMs = configuration.windowMs
        let oldest = nowMs - nowMs % width - width * Int64(Self.bucketCount - 1)
        return sources.withLockedValue { $0 }.sorted { $0.key < $1.key }.map { name, source in
            let live = source.buckets.filter { $0.startMs >= oldest && $0.startMs <= nowMs }
            let accepted = live.map(\.accepted).reduce(0, +)
            let rejected = live.map(\.rejected).reduce(0, +)
            let lagCount = live.map(\.lagCount).reduce(0, +)
            let share = accepted + rejected == 0 ? 0 : Double(rejected) / Double(accepted + rejected)
            let minutes = Double(windowMs) / 60_000
            let rule = configuration.rule(for: name)
            var reasons: [String] = []
            if let maxSilence = rule.maxSilenceMs {
                let silentMs = nowMs - (source.lastAcceptedMs ?? startedMs)
                if silentMs > maxSilence {
                    let since = source.lastAcceptedMs == nil ? "since the server started" : "for \(silentMs / 1000) s"
                    reasons.append("no accepted event \(since) (max_silence_ms \(maxSilence))")
                }
            }
            if accepted + rejected >= rule.minEvents && share > rule.maxRejectShare {
                reasons.append(
                    "rejected \(Self.percent(share)) of \(accepted + rejected) events in the last \(windowMs / 1000) s (max_reject_share \(Self.percent(rule.maxRejectShare)))"
                )
            }
            return SourceHealthView(
                name: name,
                kind: source.kind.rawValue,
                state: reasons.isEmpty ? "OK" : "DEGRADED",
                reasons: reasons,
                lastAcceptedMs: source.lastAcceptedMs ?? 0,
                accepted: source.accepted,
                rejected: source.rejected,
                retries: source.retries,
                deadLetters: source.deadLetters,
                acceptedPerMinute: Double(accepted) / minutes,
                rejectedPerMinute: Double(rejected) / minutes,
                rejectShare: share,
                lagMeanMs: lagCount == 0 ? 0 : live.map(\.lagSum).reduce(0, +) / Int64(lagCount),
                lagMaxMs: live.map(\.lagMax).max() ?? 0,
                windowMs: windowMs
            )
        }
    }

    static func percent(_ share: Double) -> String {
        let tenths = Int((share * 1000).rounded())
        return tenths % 10 == 0 ? "\(tenths / 10) %" : "\(tenths / 10).\(tenths % 10) %"
    }
}

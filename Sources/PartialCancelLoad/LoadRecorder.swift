import Histogram
import NIOConcurrencyHelpers
import NIOCore
import PartialCancelWire

/// Latencies in microseconds, up to 10 minutes, 3 significant digits.
public typealias LatencyHistogram = Histogram<UInt64>

extension Histogram where Count == UInt64 {
    static func latency() -> Histogram<UInt64> {
        Histogram(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
    }
}

/// Everything a run measures, shared by all flows behind one lock (a few records per RPC).
public final class LoadRecorder: Sendable {
    public struct Snapshot: Sendable {
        public var rpc: [String: LatencyHistogram] = [:]
        public var processing = LatencyHistogram.latency()
        public var flow = LatencyHistogram.latency()
        public var flowsStarted = 0
        public var flowsCompleted = 0
        public var completedByScenario: [Scenario: Int] = [:]
        public var flowsFailed = 0
        /// `METHOD STATUS REASON` → count.
        public var errors: [String: Int] = [:]
        /// Kind of check → count.
        public var mismatches: [String: Int] = [:]
        /// The first few mismatches and failures in words, for the report.
        public var examples: [String] = []
        public var mismatchCount: Int { mismatches.values.reduce(0, +) }
    }

    static let maxExamples = 10
    private let state = NIOLockedValueBox(Snapshot())

    public init() {}

    public func snapshot() -> Snapshot { state.withLockedValue { $0 } }

    func rpc(_ method: String, since start: NIODeadline) {
        let micros = Self.micros(since: start)
        state.withLockedValue { _ = $0.rpc[method, default: .latency()].record(micros) }
    }

    /// A latency measured elsewhere, under `name` in the RPC table.
    func record(_ name: String, _ duration: TimeAmount) {
        let micros = UInt64(max(0, duration.nanoseconds / 1000))
        state.withLockedValue { _ = $0.rpc[name, default: .latency()].record(micros) }
    }

    func started() { state.withLockedValue { $0.flowsStarted += 1 } }

    func completed(_ scenario: Scenario, processing: TimeAmount, flow: TimeAmount) {
        state.withLockedValue {
            $0.flowsCompleted += 1
            $0.completedByScenario[scenario, default: 0] += 1
            _ = $0.processing.record(Self.micros(processing))
            _ = $0.flow.record(Self.micros(flow))
        }
    }

    func failed(_ method: String, _ status: Status, flow: String) {
        let reason = status.reasons.first?.code ?? "-"
        state.withLockedValue {
            $0.flowsFailed += 1
            $0.errors["\(Self.shortName(method)) \(status.code.name) \(reason)", default: 0] += 1
            if $0.examples.count < Self.maxExamples {
                $0.examples.append("\(flow): \(Self.shortName(method)) failed: \(status.code.name) \(status.message)")
            }
        }
    }

    /// A flow that stopped at a failed check (the mismatch itself is recorded separately).
    func abandoned() { state.withLockedValue { $0.flowsFailed += 1 } }

    func mismatch(_ kind: String, _ detail: String, flow: String) {
        state.withLockedValue {
            $0.mismatches[kind, default: 0] += 1
            if $0.examples.count < Self.maxExamples { $0.examples.append("\(flow): \(kind): \(detail)") }
        }
    }

    static func shortName(_ method: String) -> String {
        method.split(separator: "/").last.map(String.init) ?? method
    }

    static func micros(since start: NIODeadline) -> UInt64 { micros(NIODeadline.now() - start) }
    static func micros(_ amount: TimeAmount) -> UInt64 { UInt64(max(0, amount.nanoseconds / 1000)) }
}

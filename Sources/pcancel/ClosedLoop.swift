import Foundation
import Histogram
import NIOCore
import PartialCancelClient
import PartialCancelWire

/// A closed loop on one connection: `concurrency` lanes, each starting its next call from the
/// completion of its previous one, on the connection's event loop (no task or thread hop per call).
final class ClosedLoop {
    /// The method and request bytes of call number `index`.
    typealias Call = @Sendable (Int) -> (String, ByteBuffer)

    struct Summary: Sendable {
        var ok = 0
        var failed = 0
        var errors: [String: Int] = [:]
        var firstFailure: Status?
        var elapsedSeconds = 0.0
        var latencyMicros = Histogram<UInt64>(
            highestTrackableValue: 600_000_000,
            numberOfSignificantValueDigits: .three
        )
        var throughput: Double { elapsedSeconds > 0 ? Double(ok + failed) / elapsedSeconds : 0 }

        /// Prints counts, throughput and latency percentiles, as text or as one JSON object with `fields` added.
        func report(title: String, json: Bool, fields: [String: Any]) {
            let h = latencyMicros
            let percentiles: [(String, Double)] = [("p50", 50), ("p90", 90), ("p99", 99), ("p99_9", 99.9)]
            if json {
                var latency: [String: Any] = ["max": h.maxRecorded, "mean": (h.mean * 10).rounded() / 10]
                for (name, p) in percentiles { latency[name] = h.valueAtPercentile(p) }
                var object = fields
                object["count"] = ok + failed
                object["ok"] = ok
                object["failed"] = failed
                object["errors"] = errors.map { ["code": $0.key, "count": $0.value] }
                object["elapsed_s"] = elapsedSeconds
                object["throughput_rps"] = (throughput * 10).rounded() / 10
                object["latency_us"] = latency
                Output.json(object)
            } else {
                print("\(title): \(ok) ok, \(failed) failed in \(String(format: "%.3f", elapsedSeconds)) s")
                print(String(format: "throughput %.0f calls/s", throughput))
                let line = percentiles.map { "\($0.0) \(h.valueAtPercentile($0.1))" }.joined(separator: "  ")
                print("latency µs: \(line)  max \(h.maxRecorded)  mean \(String(format: "%.1f", h.mean))")
                for (code, n) in errors.sorted(by: { $0.key < $1.key }) { print("errors \(code): \(n)") }
            }
        }
    }

    private let client: PartialCancelClient
    private let call: Call
    private let deadline: TimeAmount
    private let count: Int
    private let stopAt: NIODeadline?
    private var started = 0
    private var finished = 0
    private var summary = Summary()
    private let begin = NIODeadline.now()
    private let done: EventLoopPromise<Summary>

    private init(client: PartialCancelClient, count: Int, duration: Double?, deadline: TimeAmount, call: @escaping Call)
    {
        self.client = client
        self.call = call
        self.count = count
        self.deadline = deadline
        self.stopAt = duration.map { NIODeadline.now() + .nanoseconds(Int64($0 * 1e9)) }
        self.done = client.eventLoop.makePromise()
    }

    static func run(
        client: PartialCancelClient,
        count: Int,
        duration: Double? = nil,
        concurrency: Int,
        deadline: TimeAmount,
        call: @escaping Call
    ) async throws -> Summary {
        try await client.eventLoop.flatSubmit {
            let loop = ClosedLoop(client: client, count: count, duration: duration, deadline: deadline, call: call)
            for _ in 0..<min(concurrency, count) { loop.startNext() }
            return loop.done.futureResult
        }.get()
    }

    private var mayStart: Bool { started < count && (stopAt.map { NIODeadline.now() < $0 } ?? true) }

    private func startNext() {
        guard mayStart else { return }
        let (method, request) = call(started)
        started += 1
        let sent = NIODeadline.now()
        let (_, response) = client.start(method, request: request, deadline: deadline)
        let bound = NIOLoopBound(self, eventLoop: client.eventLoop)
        response.whenComplete { result in
            bound.value.complete(result, sent: sent)
        }
    }

    private func complete(_ result: Result<ByteBuffer, any Error>, sent: NIODeadline) {
        let now = NIODeadline.now()
        _ = summary.latencyMicros.record(UInt64(max(0, (now - sent).nanoseconds / 1000)))
        switch result {
        case .success:
            summary.ok += 1
        case .failure(let error):
            summary.failed += 1
            let status = (error as? ClientError)?.status ?? Status(.unknown, "\(error)")
            summary.errors[status.code.name, default: 0] += 1
            if summary.firstFailure == nil { summary.firstFailure = status }
        }
        finished += 1
        if mayStart {
            startNext()
        } else if finished == started {
            summary.elapsedSeconds = Double((now - begin).nanoseconds) / 1e9
            done.succeed(summary)
        }
    }
}

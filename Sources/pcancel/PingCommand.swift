import ArgumentParser
import Foundation
import Histogram
import NIOCore
import PartialCancelClient
import PartialCancelWire

struct PingCommand: ServerCommand {
    static let configuration = CommandConfiguration(
        commandName: "ping",
        abstract: "Measures round trips of the Ping method on one connection.",
        discussion: "Keeps --concurrency calls in flight (closed loop) until --count calls have been answered or --duration seconds have passed, then prints throughput and latency percentiles.")

    @OptionGroup var local: ConnectionOptions
    @ParentCommand var root: PCancelCommand

    @Option(name: .long, help: "Calls to make (default 1, or unbounded with --duration).")
    var count: Int?

    @Option(name: .long, help: "Stop starting calls after this many seconds.")
    var duration: Double?

    @Option(name: .long, help: "Calls kept in flight at once on the connection.")
    var concurrency: Int = 1

    @Option(name: .long, help: "Payload bytes per request (echoed back).")
    var size: Int = 50

    @Option(name: .long, help: "Seconds of calls made and not measured before the measured ones.")
    var warmup: Double = 0

    func validate() throws {
        guard (count ?? 1) >= 1 else { throw ValidationError("--count must be at least 1") }
        guard (duration ?? 1) > 0 else { throw ValidationError("--duration must be positive") }
        guard (1...100_000).contains(concurrency) else { throw ValidationError("--concurrency must be 1...100000") }
        guard (0...1_048_576).contains(size) else { throw ValidationError("--size must be 0...1048576 bytes") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
    }

    func run() async throws {
        try await connection.withClient { client in
            let request = PingRequest(payload: ByteBuffer(repeating: 0x61, count: size)).encoded()
            if warmup > 0 {
                _ = try await PingLoop.run(client: client, request: request, count: .max, duration: warmup, concurrency: concurrency, deadline: deadline)
            }
            let summary = try await PingLoop.run(client: client, request: request, count: callLimit, duration: duration,
                                                 concurrency: concurrency, deadline: deadline)
            // Nothing got through: report it as that status alone (and exit with its code).
            if let failure = summary.firstFailure, summary.ok == 0 { throw ClientError(failure) }
            report(summary)
            if summary.failed > 0 { throw ExitCode(1) }
        }
    }

    private var callLimit: Int { count ?? (duration == nil ? 1 : .max) }

    private var deadline: TimeAmount { .nanoseconds(Int64(connection.deadlineSeconds * 1e9)) }

    private func report(_ summary: PingLoop.Summary) {
        let h = summary.latencyMicros
        let percentiles: [(String, Double)] = [("p50", 50), ("p90", 90), ("p99", 99), ("p99_9", 99.9)]
        if connection.json {
            var latency: [String: Any] = ["max": h.maxRecorded, "mean": (h.mean * 10).rounded() / 10]
            for (name, p) in percentiles { latency[name] = h.valueAtPercentile(p) }
            Output.json([
                "server": connection.address, "count": summary.ok + summary.failed, "concurrency": concurrency, "payload_bytes": size,
                "ok": summary.ok, "failed": summary.failed,
                "errors": summary.errors.map { ["code": $0.key, "count": $0.value] },
                "elapsed_s": summary.elapsedSeconds, "throughput_rps": (summary.throughput * 10).rounded() / 10,
                "latency_us": latency,
            ])
        } else {
            print("ping \(connection.address): \(summary.ok) ok, \(summary.failed) failed in \(String(format: "%.3f", summary.elapsedSeconds)) s, concurrency \(concurrency), payload \(size) B")
            print(String(format: "throughput %.0f calls/s", summary.throughput))
            let line = percentiles.map { "\($0.0) \(h.valueAtPercentile($0.1))" }.joined(separator: "  ")
            print("latency µs: \(line)  max \(h.maxRecorded)  mean \(String(format: "%.1f", h.mean))")
            for (code, n) in summary.errors.sorted(by: { $0.key < $1.key }) { print("errors \(code): \(n)") }
        }
    }
}

/// A closed loop on one connection: `concurrency` lanes, each starting its next call from the
/// completion of its previous one, on the connection's event loop (no task or thread hop per call).
final class PingLoop {
    struct Summary: Sendable {
        var ok = 0
        var failed = 0
        var errors: [String: Int] = [:]
        var firstFailure: Status?
        var elapsedSeconds = 0.0
        var latencyMicros = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
        var throughput: Double { elapsedSeconds > 0 ? Double(ok + failed) / elapsedSeconds : 0 }
    }

    private let client: PartialCancelClient
    private let request: ByteBuffer
    private let deadline: TimeAmount
    private let count: Int
    private let stopAt: NIODeadline?
    private var started = 0
    private var finished = 0
    private var summary = Summary()
    private let begin = NIODeadline.now()
    private let done: EventLoopPromise<Summary>

    private init(client: PartialCancelClient, request: ByteBuffer, count: Int, duration: Double?, deadline: TimeAmount) {
        self.client = client
        self.request = request
        self.count = count
        self.stopAt = duration.map { NIODeadline.now() + .nanoseconds(Int64($0 * 1e9)) }
        self.deadline = deadline
        self.done = client.eventLoop.makePromise()
    }

    static func run(client: PartialCancelClient, request: ByteBuffer, count: Int, duration: Double? = nil, concurrency: Int,
                    deadline: TimeAmount) async throws -> Summary {
        try await client.eventLoop.flatSubmit {
            let loop = PingLoop(client: client, request: request, count: count, duration: duration, deadline: deadline)
            for _ in 0..<min(concurrency, count) { loop.startNext() }
            return loop.done.futureResult
        }.get()
    }

    private var mayStart: Bool { started < count && (stopAt.map { NIODeadline.now() < $0 } ?? true) }

    private func startNext() {
        guard mayStart else { return }
        started += 1
        let sent = NIODeadline.now()
        let (_, response) = client.start(Methods.ping, request: request, deadline: deadline)
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

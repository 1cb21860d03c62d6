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
        discussion:
            "Keeps --concurrency calls in flight (closed loop) until --count calls have been answered or --duration seconds have passed, then prints throughput and latency percentiles."
    )

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
            let call: ClosedLoop.Call = { _ in (Methods.ping, request) }
            if warmup > 0 {
                _ = try await ClosedLoop.run(
                    client: client,
                    count: .max,
                    duration: warmup,
                    concurrency: concurrency,
                    deadline: deadline,
                    call: call
                )
            }
            let summary = try await ClosedLoop.run(
                client: client,
                count: callLimit,
                duration: duration,
                concurrency: concurrency,
                deadline: deadline,
                call: call
            )
            // Nothing got through: report it as that status alone (and exit with its code).
            if let failure = summary.firstFailure, summary.ok == 0 { throw ClientError(failure) }
            report(summary)
            if summary.failed > 0 { throw ExitCode(1) }
        }
    }

    private var callLimit: Int { count ?? (duration == nil ? 1 : .max) }

    private var deadline: TimeAmount { .nanoseconds(Int64(connection.deadlineSeconds * 1e9)) }

    private func report(_ summary: ClosedLoop.Summary) {
        summary.report(
            title: "ping \(connection.address)",
            json: connection.json,
            fields: ["server": connection.address, "concurrency": concurrency, "payload_bytes": size]
        )
    }
}

import Foundation
import NIOConcurrencyHelpers
import NIOCore
import PartialCancelClient
import PartialCancelWire

/// An asynchronous payment service for load runs (docs/PAYMENTS.md): it takes each refund
/// allocation the server sends with 202 and leaves the result to the run, which records it through
/// `RecordRefundResult` while the flows go on. Every twentieth allocation fails ("card expired");
/// the server's fallback then sends store credit for it, which succeeds.
public final class AsyncPaymentService: Sendable {
    public struct Counts: Sendable, Hashable {
        /// Allocations taken (each id counted once), and taken again.
        public var taken = 0
        public var takenAgain = 0
        public var succeeded = 0
        public var failed = 0
        /// Results the server refused or that could not be sent.
        public var errors = 0
        public var firstError = ""
    }

    private struct State {
        var counts = Counts()
        var seen = Set<String>()
        var queue: [(id: String, method: String)] = []
        var lastArrival = NIODeadline.now()
    }

    private let state = NIOLockedValueBox(State())
    private let server = LoopbackHTTPServer()
    private let recording = NIOLockedValueBox<Task<Void, Never>?>(nil)

    public init() {}

    /// Listens on 127.0.0.1 and a free port; returns the URL to configure as `payments.url`.
    public func start() async throws -> String {
        let port = try await server.start { [self] _, _, body in
            guard let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
                let id = object["allocation_id"] as? String
            else { return .badRequest }
            let method = object["method"] as? String ?? ""
            state.withLockedValue { state in
                state.lastArrival = .now()
                guard state.seen.insert(id).inserted else {
                    state.counts.takenAgain += 1
                    return
                }
                state.counts.taken += 1
                state.queue.append((id, method))
            }
            return .accepted
        }
        return "http://127.0.0.1:\(port)/payments"
    }

    /// Records results for what was taken, through `transport`, until `finish`.
    public func startRecording(through transport: any FlowTransport, deadline: TimeAmount) {
        let task = Task { [self] in
            var index = 0
            while !Task.isCancelled {
                let batch = state.withLockedValue { state -> [(id: String, method: String)] in
                    defer { state.queue.removeAll() }
                    return state.queue
                }
                if batch.isEmpty {
                    try? await Task.sleep(nanoseconds: 10_000_000)
                    continue
                }
                for allocation in batch {
                    index += 1
                    // Store credit is the retailer's own to give: it never fails here.
                    let fails = allocation.method != "STORE_CREDIT" && index % 20 == 0
                    await record(allocation.id, fails: fails, through: transport, deadline: deadline)
                }
            }
        }
        recording.withLockedValue { $0 = task }
    }

    private func record(_ id: String, fails: Bool, through transport: any FlowTransport, deadline: TimeAmount) async {
        do {
            _ = try await transport.call(
                Methods.recordRefundResult,
                RecordRefundResultRequest(
                    allocationID: id,
                    result: fails ? "FAILED" : "SUCCEEDED",
                    reason: fails ? "card expired" : ""
                ),
                as: RecordRefundResultResponse.self,
                deadline: deadline,
                metadata: Metadata()
            )
            state.withLockedValue { state in
                if fails { state.counts.failed += 1 } else { state.counts.succeeded += 1 }
            }
        } catch {
            state.withLockedValue { state in
                state.counts.errors += 1
                if state.counts.firstError.isEmpty { state.counts.firstError = "\(id): \(error)" }
            }
        }
    }

    /// Waits until no allocation has come for `quiet` and every one taken has its result (or
    /// `limit` has passed), then stops; returns the counts.
    public func finish(quiet: TimeAmount = .seconds(1), limit: TimeAmount = .seconds(30)) async -> Counts {
        let giveUp = NIODeadline.now() + limit
        while NIODeadline.now() < giveUp {
            let (last, counts) = state.withLockedValue { ($0.lastArrival, $0.counts) }
            let settled = counts.succeeded + counts.failed + counts.errors == counts.taken
            if settled && NIODeadline.now() - last >= quiet { break }
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
        recording.withLockedValue { $0 }?.cancel()
        await recording.withLockedValue { $0 }?.value
        await server.stop()
        return state.withLockedValue { $0.counts }
    }
}

import NIOConcurrencyHelpers
import NIOCore

/// A touchpoint for load runs: an HTTP server on loopback that takes webhook events (docs/EVENTS.md)
/// at `/hooks/SUBSCRIPTION`, answers 200, and counts them: per subscription and key (the order or
/// sku in the event's `webhook-id`, `KEY/SEQ`) each event must come after the key's last one; one
/// that does not is a repeat or out of order. Signatures are not checked here (the tests do that
/// with the reference library); counting must cost the run little.
public final class WebhookCounter: Sendable {
    public struct Counts: Sendable, Hashable {
        public var received = 0
        /// Events whose seq was not above their key's last one: delivered again, or out of order.
        public var behind = 0
        public var keys = 0
    }

    private struct State {
        var counts = Counts()
        var lastSeq: [String: Int64] = [:]
        var lastArrival = NIODeadline.now()
    }

    private let state = NIOLockedValueBox(State())
    private let server = LoopbackHTTPServer()

    public init() {}

    /// Listens on 127.0.0.1 and a free port; returns the port.
    public func start() async throws -> Int {
        try await server.start { [self] path, headers, _ in
            record(path: path, webhookID: headers.first(name: "webhook-id") ?? "")
            return .ok
        }
    }

    public func stop() async { await server.stop() }

    public var counts: Counts { state.withLockedValue { $0.counts } }

    /// Waits until nothing has arrived for `quiet`, or `limit` has passed.
    public func waitUntilQuiet(quiet: TimeAmount = .seconds(1), limit: TimeAmount = .seconds(30)) async -> Counts {
        let giveUp = NIODeadline.now() + limit
        while NIODeadline.now() < giveUp {
            let last = state.withLockedValue { $0.lastArrival }
            if NIODeadline.now() - last >= quiet { break }
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
        return counts
    }

    private func record(path: String, webhookID: String) {
        let subscription = path.split(separator: "/").last.map(String.init) ?? ""
        guard let slash = webhookID.lastIndex(of: "/"), let seq = Int64(webhookID[webhookID.index(after: slash)...])
        else { return }
        let key = subscription + " " + webhookID[..<slash]
        state.withLockedValue { state in
            state.counts.received += 1
            state.lastArrival = .now()
            if let last = state.lastSeq[key] {
                if seq <= last { state.counts.behind += 1 } else { state.lastSeq[key] = seq }
            } else {
                state.lastSeq[key] = seq
                state.counts.keys += 1
            }
        }
    }
}

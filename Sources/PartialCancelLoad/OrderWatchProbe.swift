import NIOConcurrencyHelpers
import NIOCore
import PartialCancelClient
import PartialCancelWire

/// Watches one flow's order while the flow runs (`pcancel-load --watch`): every history entry
/// must arrive, numbered without a gap after the snapshot, and the time from sending the
/// confirmation to the watcher receiving its CANCELLATION_CONFIRMED entry is the push latency.
final class OrderWatchProbe: Sendable {
    /// Its latency's name in the report's RPC table.
    static let pushName = "WatchOrder push"

    struct Arrival: Sendable {
        var seq: Int64
        var event: String
        var at: NIODeadline
    }

    private let arrivals = NIOLockedValueBox<(snapshot: Int64?, entries: [Arrival], ended: String?)>((nil, [], nil))
    private let task: Task<Void, Never>

    init(client: PartialCancelClient, orderID: String) {
        let arrivals = self.arrivals
        let stream = client.stream(Methods.watchOrder, WatchOrderRequest(orderID: orderID), as: OrderChange.self)
        task = Task {
            do {
                for try await change in stream {
                    let now = NIODeadline.now()
                    arrivals.withLockedValue { state in
                        if let entry = change.entry {
                            state.entries.append(Arrival(seq: change.seq, event: entry.event, at: now))
                        } else {
                            state.snapshot = change.seq
                        }
                    }
                }
                arrivals.withLockedValue { $0.ended = "ended" }
            } catch {
                arrivals.withLockedValue { $0.ended = "\(error)" }
            }
        }
    }

    /// Waits until the watch has started (its snapshot arrived), up to `timeout`.
    func started(timeout: TimeAmount) async -> Bool {
        await wait(timeout: timeout) { $0.snapshot != nil }
    }

    /// Waits for `event`; then returns the entries after the snapshot, or nil at the timeout.
    func entries(through event: String, timeout: TimeAmount) async -> (snapshot: Int64, entries: [Arrival])? {
        guard await wait(timeout: timeout, { state in state.entries.contains { $0.event == event } }) else { return nil }
        return arrivals.withLockedValue { ($0.snapshot ?? 0, $0.entries) }
    }

    func stop() {
        task.cancel()
    }

    /// Why the stream ended early, if it did.
    var ended: String? { arrivals.withLockedValue { $0.ended } }

    private func wait(timeout: TimeAmount, _ done: ((snapshot: Int64?, entries: [Arrival], ended: String?)) -> Bool) async -> Bool {
        let giveUp = NIODeadline.now() + timeout
        var pause: UInt64 = 200_000
        while NIODeadline.now() < giveUp {
            let state = arrivals.withLockedValue { $0 }
            if done(state) { return true }
            if state.ended != nil { return false }
            try? await Task.sleep(nanoseconds: pause)
            pause = min(pause * 2, 5_000_000)
        }
        return false
    }
}

import NIOConcurrencyHelpers
import NIOCore
import PartialCancelClient
import PartialCancelWire

/// Watches one flow's order while the flow runs (`pcancel-load --watch`): every history entry
/// must arrive, numbered without a gap after the snapshot, and the time from sending the
/// confirmation to the watcher receiving its CANCELLATION_CONFIRMED entry is the push latency.
/// Waiting costs nothing while it waits: each arrival checks the waiters (no polling).
final class OrderWatchProbe: Sendable {
    /// Its latency's name in the report's RPC table.
    static let pushName = "WatchOrder push"

    struct Arrival: Sendable {
        var seq: Int64
        var event: String
        var at: NIODeadline
    }

    struct Seen: Sendable {
        var snapshot: Int64?
        var entries: [Arrival] = []
        var ended: String?
    }

    private struct Waiter {
        var id: Int
        var done: @Sendable (Seen) -> Bool
        var continuation: CheckedContinuation<Bool, Never>
        /// Answers false at the timeout; cancelled when an arrival answers first.
        var timeout: Task<Void, Never>
    }

    private let state = NIOLockedValueBox<(seen: Seen, waiters: [Waiter], nextWaiter: Int)>((Seen(), [], 0))
    private let task: Task<Void, Never>

    init(client: PartialCancelClient, orderID: String) {
        let stream = client.stream(Methods.watchOrder, WatchOrderRequest(orderID: orderID), as: OrderChange.self)
        let state = self.state
        task = Task {
            do {
                for try await change in stream {
                    let now = NIODeadline.now()
                    Self.update(state) { seen in
                        if let entry = change.entry {
                            seen.entries.append(Arrival(seq: change.seq, event: entry.event, at: now))
                        } else {
                            seen.snapshot = change.seq
                        }
                    }
                }
                Self.update(state) { $0.ended = "the watch ended" }
            } catch {
                Self.update(state) { $0.ended = "\(error)" }
            }
        }
    }

    /// Waits until the watch has started (its snapshot arrived), up to `timeout`.
    func started(timeout: TimeAmount) async -> Bool {
        await wait(timeout: timeout) { $0.snapshot != nil }
    }

    /// Waits for `event`; then returns the entries after the snapshot, or nil at the timeout.
    func entries(through event: String, timeout: TimeAmount) async -> (snapshot: Int64, entries: [Arrival])? {
        guard await wait(timeout: timeout, { seen in seen.entries.contains { $0.event == event } }) else { return nil }
        return state.withLockedValue { ($0.seen.snapshot ?? 0, $0.seen.entries) }
    }

    func stop() {
        task.cancel()
    }

    /// Why the stream ended early, if it did.
    var ended: String? { state.withLockedValue { $0.seen.ended } }

    /// Applies an arrival and resumes the waiters it satisfies (or all, once the stream ended).
    private static func update(
        _ state: NIOLockedValueBox<(seen: Seen, waiters: [Waiter], nextWaiter: Int)>,
        _ change: (inout Seen) -> Void
    ) {
        let ready: [(CheckedContinuation<Bool, Never>, Bool)] = state.withLockedValue { state in
            change(&state.seen)
            let seen = state.seen
            let resumed = state.waiters.filter { $0.done(seen) || seen.ended != nil }
            state.waiters.removeAll { waiter in resumed.contains { $0.id == waiter.id } }
            for waiter in resumed { waiter.timeout.cancel() }
            return resumed.map { ($0.continuation, $0.done(seen)) }
        }
        for (continuation, result) in ready { continuation.resume(returning: result) }
    }

    private func wait(timeout: TimeAmount, _ done: @escaping @Sendable (Seen) -> Bool) async -> Bool {
        let state = self.state
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let waiting: Bool = state.withLockedValue { locked in
                if done(locked.seen) || locked.seen.ended != nil { return false }
                locked.nextWaiter += 1
                let id = locked.nextWaiter
                let expiry = Task {
                    guard (try? await Task.sleep(nanoseconds: UInt64(max(0, timeout.nanoseconds)))) != nil else {
                        return
                    }  // answered
                    let expired = state.withLockedValue { state -> Waiter? in
                        guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                        return state.waiters.remove(at: index)
                    }
                    expired?.continuation.resume(returning: false)
                }
                locked.waiters.append(Waiter(id: id, done: done, continuation: continuation, timeout: expiry))
                return true
            }
            if !waiting { continuation.resume(returning: done(state.withLockedValue { $0.seen })) }
        }
    }
}

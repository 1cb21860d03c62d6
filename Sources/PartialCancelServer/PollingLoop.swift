import NIOConcurrencyHelpers
import NIOCore

/// Runs an outbox's delivery pass every interval, one pass at a time (a slow receiver must not pile
/// passes up); `stop` waits for the pass in flight, so that no store call completes after the
/// server shut its event loops.
final class PollingLoop: Sendable {
    private let loop: any EventLoop
    private let task = NIOLockedValueBox<RepeatedTask?>(nil)
    private let running = NIOLockedValueBox<Task<Void, Never>?>(nil)

    init(loop: any EventLoop) { self.loop = loop }

    func start(every interval: TimeAmount, _ pass: @escaping @Sendable () async -> Void) {
        task.withLockedValue {
            $0 = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] _ in
                running.withLockedValue { current in
                    guard current == nil else { return }
                    current = Task { [self] in
                        await pass()
                        running.withLockedValue { $0 = nil }
                    }
                }
            }
        }
    }

    func stop() async {
        task.withLockedValue { $0?.cancel() }
        // A pass that began before the cancel has stored its task once the loop has moved on.
        try? await loop.submit {}.get()
        if let pass = running.withLockedValue({ $0 }) { await pass.value }
    }
}

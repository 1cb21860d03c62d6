import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the server and its storage read the time of day, in Unix milliseconds: request expiry,
/// the wrong-token window, email backoff, idempotency retention, history and record times. The
/// server is given one (`.system` unless a test or an embedder says otherwise), so that time-driven
/// behaviour is tested by moving a `ManualClock` instead of sleeping. (Timers that only bound
/// waiting — deadlines, stall and idle timeouts — run on the event loops' monotonic time.)
public struct WallClock: Sendable {
    private let read: @Sendable () -> Int64

    public init(_ read: @escaping @Sendable () -> Int64) { self.read = read }

    /// Now, in Unix milliseconds.
    public func nowMs() -> Int64 { read() }

    /// The system's real-time clock.
    public static let system = WallClock {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}

/// A clock that moves only when told: for tests of expiry, windows and backoff.
public final class ManualClock: Sendable {
    private let ms: Mutex<Int64>

    /// Starts at `startMs`, by default the real time now (so that orders placed "now" stay
    /// within their windows), and stays there until advanced.
    public init(startMs: Int64 = WallClock.system.nowMs()) { ms = Mutex(startMs) }

    public var nowMs: Int64 { ms.withLock { $0 } }

    /// Moves the time forward by `milliseconds` (not backward: real clocks used here do not either).
    public func advance(byMs milliseconds: Int64) {
        precondition(milliseconds >= 0, "a manual clock only moves forward")
        ms.withLock { $0 += milliseconds }
    }

    /// This clock as the server and storage read it.
    public var clock: WallClock { WallClock { [self] in nowMs } }
}

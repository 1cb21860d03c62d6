import NIOCore
import NIOPosix
import PartialCancelDomain
import PartialCancelStorage

/// Turns a channel's payload into an order, or into what a dead letter records about it: for
/// IngestOrder and for re-driving a dead letter alike.
///
/// Payloads too large to parse in a moment are parsed on a thread pool, off the event loops: a
/// 4 MB JSON payload takes milliseconds, and every other connection of its loop would wait.
struct IntakeParser: Sendable {
    /// The channels' bounds and rules, as SIGHUP last loaded them.
    let intakes: Reloadable<Intake>
    var intake: Intake { intakes.current }
    /// The clock intake bounds an order's placing time by (Unix milliseconds).
    var now: @Sendable () -> Int64 = WallClock.system.nowMs
    var pool: NIOThreadPool = .singleton

    /// Payloads up to this size are parsed on the event loop (microseconds: cheaper than the hop).
    static let inlineParseBytes = 16 * 1024

    enum Parsed: Sendable {
        case order(Order)
        /// Refused, with what the dead letter records about the payload.
        case refused(DomainError, priority: Int64, key: String)
    }

    func parse(channel: String, payload: [UInt8], on eventLoop: any EventLoop) -> EventLoopFuture<Parsed> {
        let intake = self.intake
        let nowMs = now()
        let work: @Sendable () -> Parsed = {
            switch Result(catching: { () throws(DomainError) in
                try intake.order(channel: channel, payload: payload, nowMs: nowMs)
            }) {
            case .success(let order):
                return .order(order)
            case .failure(let error):
                return .refused(
                    error,
                    priority: intake.priority(channel: channel, payload: payload),
                    key: intake.externalKey(channel: channel, payload: payload) ?? "\(channel)-unknown"
                )
            }
        }
        guard payload.count > Self.inlineParseBytes else { return eventLoop.makeSucceededFuture(work()) }
        return pool.runIfActive(eventLoop: eventLoop, work)
    }
}

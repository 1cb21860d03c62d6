import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import PartialCancelWire
import Testing

@Suite("Earliest-deadline timer")
struct EarliestDeadlineTimerTests {
    @Test("one timer, moved only earlier; a later or endless deadline changes nothing; cancel and fired reset it")
    func earliestOnly() {
        let loop = EmbeddedEventLoop()
        let fired = NIOLockedValueBox<[Int64]>([])
        var timer = EarliestDeadlineTimer()
        var made = 0
        func arm(_ ms: Int64) {
            timer.arm(at: ms == .max ? .distantFuture : .uptimeNanoseconds(UInt64(ms) * 1_000_000)) { due in
                made += 1
                return loop.scheduleTask(deadline: due) { fired.withLockedValue { $0.append(ms) } }
            }
        }
        arm(10)
        arm(20)  // later: the 10 ms timer stays
        arm(.max)  // no deadline: nothing to schedule
        arm(5)  // earlier: the timer moves
        #expect(made == 2)
        loop.advanceTime(to: .uptimeNanoseconds(30_000_000))
        #expect(fired.withLockedValue { $0 } == [5])  // the 10 ms timer was cancelled
        timer.fired()
        arm(40)
        timer.cancel()
        loop.advanceTime(to: .uptimeNanoseconds(50_000_000))
        #expect(fired.withLockedValue { $0 } == [5] && made == 3)
    }
}

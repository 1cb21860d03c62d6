import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// One shard's thread. It owns the shard's `ShardStore` (and so its SQLite connection) and runs the
/// jobs submitted to it one after another; nothing else ever touches that store. Event loops hand
/// work over with `submit` and get a future back, completed on their own loop, so they never block
/// on SQLite.
///
/// `@unchecked Sendable`: `store` is used only on the worker thread (inside `run`), and `jobs` and
/// `stopping` only while holding `condition`.
final class ShardWorker: @unchecked Sendable {
    typealias Job = (ShardStore) -> Void

    let index: Int
    private let store: ShardStore
    private let condition = ConditionLock<Int>(value: 0)  // 1: jobs are waiting or stop was asked
    private var jobs: [Job] = []
    private var stopping = false
    private let finished = DispatchSemaphore(value: 0)
    private let depth = NIOLockedValueBox(0)

    init(index: Int, store: ShardStore) {
        self.index = index
        self.store = store
        let thread = Thread { [self] in self.run() }
        thread.name = "pcancel-shard-\(index)"
        thread.start()
    }

    /// Jobs waiting or running.
    var queueDepth: Int { depth.withLockedValue { $0 } }

    /// Runs `work` on the shard's thread; the future completes on `eventLoop`.
    func submit<T: Sendable>(on eventLoop: any EventLoop, _ work: @escaping @Sendable (ShardStore) throws -> T) -> EventLoopFuture<T> {
        let promise = eventLoop.makePromise(of: T.self)
        let accepted = enqueue { store in
            do {
                promise.succeed(try work(store))
            } catch {
                promise.fail(error)
            }
        }
        if !accepted { promise.fail(StorageError(code: 0, "shard \(index) is stopped")) }
        return promise.futureResult
    }

    private func enqueue(_ job: @escaping Job) -> Bool {
        condition.lock()
        guard !stopping else {
            condition.unlock(withValue: 1)
            return false
        }
        jobs.append(job)
        depth.withLockedValue { $0 += 1 }
        condition.unlock(withValue: 1)
        return true
    }

    /// Finishes the jobs already queued, then stops the thread and closes the store.
    func stop() {
        condition.lock()
        stopping = true
        condition.unlock(withValue: 1)
        finished.wait()
    }

    private func run() {
        while true {
            condition.lock(whenValue: 1)
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            let stop = stopping && batch.isEmpty
            // Once stopping, the value stays 1: no later enqueue will raise it again, and the next
            // pass must find the (then empty) queue and leave.
            condition.unlock(withValue: stopping ? 1 : 0)
            if stop { break }
            for job in batch {
                job(store)
                depth.withLockedValue { $0 -= 1 }
            }
            if queueDepth == 0 { store.idle() }
        }
        store.close()
        finished.signal()
    }
}

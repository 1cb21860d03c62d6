import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// One shard's thread. It owns the shard's `ShardStore` (and so its SQLite connection) and runs the
/// jobs submitted to it one after another; nothing else ever touches that store. Event loops hand
/// work over with `submit` and get a future back, completed on their own loop, so they never block
/// on SQLite.
///
/// Group commit: the jobs waiting when the thread looks (up to `maxGroup`) run in one transaction,
/// each under its own savepoint, so one commit (one WAL sync under FULL) covers them all, and a job
/// that fails rolls back alone. Every job's future completes only after that commit: no caller
/// hears of a change that could still be lost, and if the commit fails, every job in the group
/// fails with it.
///
/// Durability per group: under `synchronous=FULL`, a group commits with FULL (a WAL sync) if any of
/// its jobs is durable, and with NORMAL if all are bookkeeping submitted with `durable: false`
/// (marking outbox messages or emails done: lost on a power failure, they are redone, and redoing
/// them is harmless). A later FULL commit syncs the earlier NORMAL ones with it, so commit order
/// is kept.
///
/// `@unchecked Sendable`: `store` is used only on the worker thread (inside `run`), and `jobs` and
/// `stopping` only while holding `condition`.
final class ShardWorker: @unchecked Sendable {
    /// Runs inside the group's transaction; returns what to do once the group's commit is known
    /// (its error, or nil when it committed).
    typealias Job = (ShardStore) -> (_ commitError: (any Error)?) -> Void

    let index: Int
    private let store: ShardStore
    private let condition = ConditionLock<Int>(value: 0)  // 1: jobs are waiting or stop was asked
    private var jobs: [(durable: Bool, job: Job)] = []
    private var stopping = false
    private let finished = DispatchSemaphore(value: 0)
    private let depth = NIOLockedValueBox(0)
    private let maxGroup: Int

    init(index: Int, store: ShardStore, maxGroup: Int) {
        self.index = index
        self.store = store
        self.maxGroup = max(1, maxGroup)
        let thread = Thread { [self] in self.run() }
        thread.name = "pcancel-shard-\(index)"
        thread.start()
    }

    private let commits = NIOLockedValueBox((groups: 0, jobs: 0))

    /// Group commits made and the jobs they covered, since the worker started.
    var commitCounts: (groups: Int, jobs: Int) { commits.withLockedValue { $0 } }

    /// Jobs waiting or running.
    var queueDepth: Int { depth.withLockedValue { $0 } }

    /// Runs `work` on the shard's thread; the future completes on `eventLoop`.
    func submit<T: Sendable>(
        on eventLoop: any EventLoop,
        durable: Bool = true,
        _ work: @escaping @Sendable (ShardStore) throws -> T
    ) -> EventLoopFuture<T> {
        let promise = eventLoop.makePromise(of: T.self)
        let accepted = enqueue(durable: durable) { store in
            do {
                let value = try store.transaction { try work(store) }
                return { commitError in
                    if let commitError { promise.fail(commitError) } else { promise.succeed(value) }
                }
            } catch {
                return { _ in promise.fail(error) }
            }
        }
        if !accepted { promise.fail(StorageError(code: 0, "shard \(index) is stopped")) }
        return promise.futureResult
    }

    private func enqueue(durable: Bool, _ job: @escaping Job) -> Bool {
        condition.lock()
        guard !stopping else {
            condition.unlock(withValue: 1)
            return false
        }
        jobs.append((durable, job))
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
            var start = 0
            while start < batch.count {
                let group = batch[start..<min(start + maxGroup, batch.count)]
                start = group.endIndex
                var finishers: [((any Error)?) -> Void] = []
                finishers.reserveCapacity(group.count)
                var commitError: (any Error)?
                store.commitDurably(group.contains { $0.durable })
                do {
                    try store.transaction {
                        for job in group { finishers.append(job.job(store)) }
                    }
                } catch {
                    commitError = error
                }
                if commitError == nil {
                    commits.withLockedValue {
                        $0.groups += 1
                        $0.jobs += finishers.count
                    }
                }
                for finish in finishers { finish(commitError) }
                // Jobs the failed group never reached (its BEGIN failed): each on its own, so that
                // every caller gets an answer.
                for job in group.dropFirst(finishers.count) { job.job(store)(nil) }
                depth.withLockedValue { $0 -= group.count }
            }
            if queueDepth == 0 { store.idle() }
        }
        store.close()
        finished.signal()
    }
}

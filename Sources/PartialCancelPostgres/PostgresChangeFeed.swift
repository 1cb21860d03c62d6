import Foundation
import Logging
import NIOConcurrencyHelpers
import PartialCancelStorage
import PostgresNIO

/// Watches across nodes. The history tables are the feed: an order's history and a sku's stock
/// history are numbered per key in commit order (under the row locks of their writers). A
/// transaction that appends to them also sends `NOTIFY pcancel_changes, 'o:ORDER'` (or `s:SKU`),
/// which PostgreSQL delivers at commit, in commit order, to every node listening; a rolled-back
/// change notifies nobody. A node wakes the watchers of that key on a notification: it reads the
/// entries after the lowest position its watchers of the key have reached and hands each watcher
/// those after its own. The database is the only source, so a lost notification costs latency,
/// not an entry: every (re)connection of a listener reads every watched key again.
final class PostgresChangeFeed: Sendable {
    static let channel = "pcancel_changes"

    static func payload(_ key: WatchKey) -> String {
        switch key {
        case .order(let id): "o:" + id
        case .sku(let sku): "s:" + sku
        }
    }

    static func key(_ payload: String) -> WatchKey? {
        if payload.hasPrefix("o:") { return .order(String(payload.dropFirst(2))) }
        if payload.hasPrefix("s:") { return .sku(String(payload.dropFirst(2))) }
        return nil
    }

    /// Reads a key's committed changes after a position, oldest first.
    typealias Reader = @Sendable (WatchKey, Int64) async throws -> [ChangeEvent]

    private struct Watcher {
        var subscriber: any ChangeSubscriber
        /// The last position this watcher has been handed.
        var cursor: Int64
    }

    private struct KeyState {
        var watchers: [ObjectIdentifier: Watcher] = [:]
        var reading = false
        var again = false
    }

    private let databases: [PostgresDatabase]
    private let logger: Logger
    private let keys = NIOLockedValueBox([WatchKey: KeyState]())
    private let reader = NIOLockedValueBox<Reader?>(nil)
    private let listeners = NIOLockedValueBox([Task<Void, Never>]())

    init(databases: [PostgresDatabase], logger: Logger) {
        self.databases = databases
        self.logger = logger
    }

    /// Listens on every database: one connection each, re-established after a failure.
    func start(reading: @escaping Reader) {
        reader.withLockedValue { $0 = reading }
        let tasks = databases.map { database in
            Task { [weak self] in
                var delay: UInt64 = 100_000_000
                while !Task.isCancelled {
                    do {
                        try await database.client.withConnection { connection in
                            try await connection.listen(on: Self.channel) { notifications in
                                // Listening now: whatever committed while it was not is read again.
                                self?.wakeAll()
                                delay = 100_000_000
                                for try await notification in notifications {
                                    if let key = Self.key(notification.payload) { self?.wake(key) }
                                }
                            }
                        }
                    } catch {
                        if Task.isCancelled { return }
                        self?.logger.warning(
                            "change listener lost its connection; reconnecting",
                            metadata: ["database": "\(database.name)", "error": "\(error)"]
                        )
                    }
                    try? await Task.sleep(nanoseconds: delay)
                    delay = min(delay * 2, 5_000_000_000)
                }
            }
        }
        listeners.withLockedValue { $0 = tasks }
    }

    func stop() {
        for task in listeners.withLockedValue({ $0 }) { task.cancel() }
    }

    /// Adds a watcher that has been handed everything up to `cursor`, then reads what may have
    /// committed since.
    func add(_ subscriber: any ChangeSubscriber, for key: WatchKey, cursor: Int64) {
        keys.withLockedValue {
            $0[key, default: KeyState()].watchers[ObjectIdentifier(subscriber)] = Watcher(
                subscriber: subscriber,
                cursor: cursor
            )
        }
        wake(key)
    }

    func remove(_ subscriber: any ChangeSubscriber, for keys: [WatchKey]) {
        self.keys.withLockedValue { states in
            for key in keys {
                states[key]?.watchers[ObjectIdentifier(subscriber)] = nil
                if states[key]?.watchers.isEmpty == true && states[key]?.reading == false { states[key] = nil }
            }
        }
    }

    var count: Int { keys.withLockedValue { $0.values.reduce(0) { $0 + $1.watchers.count } } }

    private func wakeAll() {
        for key in keys.withLockedValue({ Array($0.keys) }) { wake(key) }
    }

    /// Reads and hands out the key's new changes; one reader per key at a time, and a wake that
    /// arrives meanwhile makes it read once more.
    func wake(_ key: WatchKey) {
        let start = keys.withLockedValue { states -> Int64? in
            guard var state = states[key], !state.watchers.isEmpty else { return nil }
            if state.reading {
                state.again = true
                states[key] = state
                return nil
            }
            state.reading = true
            state.again = false
            states[key] = state
            return state.watchers.values.map(\.cursor).min()
        }
        guard var from = start, let read = reader.withLockedValue({ $0 }) else { return }
        Task {
            while true {
                var events: [ChangeEvent] = []
                do {
                    events = try await read(key, from)
                } catch {
                    logger.warning("watch read failed", metadata: ["key": "\(key)", "error": "\(error)"])
                }
                // Handed out outside the lock (a subscriber may call back into the feed), while
                // this reader still holds the key, so that no later read overtakes them.
                var handed: [(any ChangeSubscriber, [ChangeEvent])] = []
                var behind = false
                keys.withLockedValue { states in
                    guard var state = states[key] else { return }
                    for (id, var watcher) in state.watchers {
                        // Watchers that joined behind this read's start wait for the next read.
                        guard watcher.cursor >= from else {
                            behind = true
                            continue
                        }
                        let new = events.filter { $0.seq > watcher.cursor }
                        guard let last = new.last else { continue }
                        handed.append((watcher.subscriber, new))
                        watcher.cursor = last.seq
                        state.watchers[id] = watcher
                    }
                    states[key] = state
                }
                for (subscriber, new) in handed {
                    for event in new { subscriber.offer(event) }
                }
                let next = keys.withLockedValue { states -> Int64? in
                    guard var state = states[key] else { return nil }
                    if (state.again || behind) && !state.watchers.isEmpty {
                        state.again = false
                        states[key] = state
                        return state.watchers.values.map(\.cursor).min()
                    }
                    state.reading = false
                    states[key] = state.watchers.isEmpty ? nil : state
                    return nil
                }
                guard let next else { return }
                from = next
            }
        }
    }
}

/// Decoded bodies by id, so that a shard does not decode the same order or request on every call.
///
/// It mirrors the shard's transactions: values written inside a transaction (or savepoint) sit in
/// that level's layer and reach the committed map only when the outermost transaction commits; a
/// rollback drops its layer. So the cache never holds a value the database does not, and it needs
/// no invalidation: the shard's worker is the only writer of its database.
///
/// The committed map is bounded (`capacity` entries, oldest inserted first out). Used only on the
/// shard's thread.
final class BodyCache<Value> {
    private let capacity: Int
    private var committed: [String: Value] = [:]
    /// Ids in the order they entered `committed`, from `head`.
    private var arrivals: [String] = []
    private var head = 0
    private var layers: [[String: Value]] = []

    init(capacity: Int) {
        self.capacity = max(0, capacity)
    }

    var count: Int { committed.count }

    func value(_ id: String) -> Value? {
        for layer in layers.reversed() {
            if let value = layer[id] { return value }
        }
        return committed[id]
    }

    /// A value just written: visible at once, kept only if its transaction commits.
    func wrote(_ id: String, _ value: Value) {
        if layers.isEmpty { keep(id, value) } else { layers[layers.count - 1][id] = value }
    }

    /// A value just read from the database outside any write of it in an open transaction: the
    /// committed state.
    func read(_ id: String, _ value: Value) {
        guard !layers.contains(where: { $0[id] != nil }) else { return }
        keep(id, value)
    }

    func begin() { layers.append([:]) }

    func commit() {
        let top = layers.removeLast()
        if layers.isEmpty {
            for (id, value) in top { keep(id, value) }
        } else {
            layers[layers.count - 1].merge(top) { _, newer in newer }
        }
    }

    func rollback() { layers.removeLast() }

    private func keep(_ id: String, _ value: Value) {
        guard capacity > 0 else { return }
        if committed.updateValue(value, forKey: id) == nil { arrivals.append(id) }
        while committed.count > capacity {
            committed[arrivals[head]] = nil
            head += 1
        }
        if head > capacity {
            arrivals.removeFirst(head)
            head = 0
        }
    }
}

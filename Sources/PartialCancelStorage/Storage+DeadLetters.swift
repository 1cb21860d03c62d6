import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PartialCancelDomain

// Storage: Dead letters.
extension Storage {
    /// Records a dead letter in the shard of `key` (an order id when known).
    public func addDeadLetter(
        key: String,
        kind: String,
        priority: Int64,
        reason: String,
        detail: String,
        subject: String,
        payload: [UInt8],
        on loop: any EventLoop
    ) -> EventLoopFuture<String> {
        on(router.shard(forOrder: key), loop) { store in
            try store.transaction {
                try store.addDeadLetter(
                    kind: kind,
                    priority: priority,
                    reason: reason,
                    detail: detail,
                    subject: subject,
                    payload: payload
                )
            }
        }
    }

    /// A page of open dead letters of every shard after `position` (nil: the first page), highest
    /// priority first, then oldest; each carries the first `excerptBytes` of its payload. `more`
    /// says whether letters follow the page.
    public func deadLetters(
        limit: Int,
        after position: DeadLetterPosition? = nil,
        excerptBytes: Int = 512,
        on loop: any EventLoop
    ) -> EventLoopFuture<(letters: [DeadLetter], more: Bool)> {
        // Each shard's first limit + 1: the page's letters are among them, and one more says whether any follow.
        let perShard = workers.indices.map { index in
            on(index, loop) { try $0.openDeadLetters(limit: limit + 1, after: position, excerptBytes: excerptBytes) }
        }
        return EventLoopFuture.whenAllSucceed(perShard, on: loop).map { lists in
            let sorted = lists.joined().sorted { $0.position.precedes($1.position) }
            return (Array(sorted.prefix(limit)), sorted.count > limit)
        }
    }

    /// Open dead letters of every shard, highest priority first (then oldest), with whole payloads.
    public func deadLetters(limit: Int, on loop: any EventLoop) -> EventLoopFuture<[DeadLetter]> {
        deadLetters(limit: limit, after: nil, excerptBytes: Int(Int32.max), on: loop).map(\.letters)
    }

    /// A dead letter in any state, with the first `excerptBytes` of its payload, and its history.
    public func deadLetterRecord(
        _ id: String,
        excerptBytes: Int,
        on loop: any EventLoop
    ) -> EventLoopFuture<(letter: DeadLetter, history: [DeadLetterEvent])?> {
        guard let address = deadLetterAddress(id) else { return loop.makeSucceededFuture(nil) }
        return on(address.shard, loop) { try $0.deadLetterRecord(rowID: address.row, excerptBytes: excerptBytes) }
    }

    /// Up to `length` bytes of a dead letter's payload from `offset`; nil when there is no such letter.
    public func deadLetterPayload(
        _ id: String,
        offset: Int64,
        length: Int,
        on loop: any EventLoop
    ) -> EventLoopFuture<[UInt8]?> {
        guard let address = deadLetterAddress(id) else { return loop.makeSucceededFuture(nil) }
        return on(address.shard, loop) { try $0.deadLetterPayload(rowID: address.row, offset: offset, length: length) }
    }

    /// Closes an open dead letter without redriving it; the discard, with `actor` and `reason`, goes
    /// into its history.
    public func discardDeadLetter(
        _ id: String,
        actor: String,
        reason: String,
        excerptBytes: Int,
        on loop: any EventLoop
    ) -> EventLoopFuture<DeadLetterDiscard> {
        guard let address = deadLetterAddress(id) else { return loop.makeSucceededFuture(.notFound) }
        return on(address.shard, loop) {
            try $0.discardDeadLetter(rowID: address.row, actor: actor, reason: reason, excerptBytes: excerptBytes)
        }
    }

    /// Parses `dl-SHARD-N`.
    public func deadLetterAddress(_ id: String) -> (shard: Int, row: Int64)? { address(id, prefix: "dl") }

    /// Parses the ids of per-shard rows, `PREFIX-SHARD-N` (dead letters, emails).
    func address(_ id: String, prefix: String) -> (shard: Int, row: Int64)? {
        let parts = id.split(separator: "-")
        guard parts.count == 3, parts[0] == prefix, let shard = Int(parts[1]), let row = Int64(parts[2]),
            workers.indices.contains(shard)
        else { return nil }
        return (shard, row)
    }

    public func deadLetter(_ id: String, on loop: any EventLoop) -> EventLoopFuture<DeadLetter?> {
        guard let address = deadLetterAddress(id) else { return loop.makeSucceededFuture(nil) }
        return on(address.shard, loop) { try $0.deadLetter(rowID: address.row) }
    }

    public func resolveDeadLetter(
        _ id: String,
        actor: String = "system",
        on loop: any EventLoop
    ) -> EventLoopFuture<Void> {
        guard let address = deadLetterAddress(id) else { return loop.makeSucceededVoidFuture() }
        return on(address.shard, loop) { try $0.resolveDeadLetter(rowID: address.row, actor: actor) }
    }

    public func failDeadLetterAgain(
        _ id: String,
        reason: String,
        detail: String,
        actor: String = "system",
        on loop: any EventLoop
    ) -> EventLoopFuture<Void> {
        guard let address = deadLetterAddress(id) else { return loop.makeSucceededVoidFuture() }
        return on(address.shard, loop) {
            try $0.failDeadLetterAgain(rowID: address.row, reason: reason, detail: detail, actor: actor)
        }
    }
}

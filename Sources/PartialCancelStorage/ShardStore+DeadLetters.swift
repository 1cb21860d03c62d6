import CSQLite
import Crypto
import Foundation
import NIOConcurrencyHelpers
import PartialCancelDomain

// ShardStore: Dead letters.
extension ShardStore {
    /// The columns every dead-letter read starts with (`deadLetter(_:payload:)` maps them).
    private static let deadLetterColumns = """
        id, kind, priority, reason, detail, subject, attempts, created_ms, updated_ms, length(payload), payload_sha256, resolution, resolved_ms
        """

    func addDeadLetter(
        kind: String,
        priority: Int64,
        reason: String,
        detail: String,
        subject: String,
        payload: [UInt8]
    ) throws -> String {
        let time = now()
        try db.run(
            """
            INSERT INTO dead_letters (kind, priority, reason, detail, subject, payload, attempts, created_ms, updated_ms, payload_sha256)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?7, ?8)
            """,
            [
                .text(kind), .integer(priority), .text(reason), .text(detail), .text(subject), .blob(payload),
                .integer(time),
                .text(Self.sha256Hex(payload)),
            ]
        )
        let row = db.lastInsertRowID
        try appendDeadLetterEvent(row: row, actor: "system", event: "DEAD_LETTERED", detail: "\(reason): \(detail)")
        return "dl-\(index)-\(row)"
    }

    /// A page of open dead letters after `position` (nil: from the first), each with the first
    /// `excerptBytes` of its payload, in list order: priority (highest first), then oldest, then
    /// shard and row.
    func openDeadLetters(limit: Int, after position: DeadLetterPosition?, excerptBytes: Int) throws -> [DeadLetter] {
        var letters: [DeadLetter] = []
        var values: [SQLValue] = [.integer(Int64(excerptBytes)), .integer(Int64(limit))]
        var keyset = ""
        if let position {
            // Rows of this shard that tie with the position on priority and age come after it only
            // when this shard sorts after the position's (or is its shard, with a later row).
            let row: Int64 = index < position.shard ? .max : index == position.shard ? position.row : -1
            keyset = "AND (priority < ?3 OR (priority = ?3 AND (created_ms > ?4 OR (created_ms = ?4 AND id > ?5))))"
            values += [.integer(position.priority), .integer(position.createdMs), .integer(row)]
        }
        try db.query(
            """
            SELECT \(Self.deadLetterColumns), substr(payload, 1, ?1)
            FROM dead_letters WHERE resolved_ms IS NULL \(keyset) ORDER BY priority DESC, created_ms, id LIMIT ?2
            """,
            values
        ) { row in letters.append(deadLetter(row, payload: row.blob(13))) }
        return letters
    }

    /// An open dead letter with its whole payload (for a redrive).
    func deadLetter(rowID: Int64) throws -> DeadLetter? {
        try db.first(
            "SELECT \(Self.deadLetterColumns), payload FROM dead_letters WHERE id = ?1 AND resolved_ms IS NULL",
            [.integer(rowID)]
        ) {
            deadLetter($0, payload: $0.blob(13))
        }
    }

    /// A dead letter in any state, with an excerpt of its payload, and its history, oldest first.
    func deadLetterRecord(rowID: Int64, excerptBytes: Int) throws -> (letter: DeadLetter, history: [DeadLetterEvent])? {
        guard
            let letter = try db.first(
                "SELECT \(Self.deadLetterColumns), substr(payload, 1, ?2) FROM dead_letters WHERE id = ?1",
                [.integer(rowID), .integer(Int64(excerptBytes))],
                { deadLetter($0, payload: $0.blob(13)) }
            )
        else { return nil }
        var history: [DeadLetterEvent] = []
        try db.query(
            "SELECT at_ms, actor, event, detail FROM dead_letter_history WHERE dead_letter_id = ?1 ORDER BY seq",
            [.integer(rowID)]
        ) { row in
            history.append(
                DeadLetterEvent(atMs: row.int(0), actor: row.text(1), event: row.text(2), detail: row.text(3))
            )
        }
        return (letter, history)
    }

    /// Up to `length` bytes of a dead letter's payload from `offset`; nil when there is no such letter.
    func deadLetterPayload(rowID: Int64, offset: Int64, length: Int) throws -> [UInt8]? {
        try db.first(
            "SELECT substr(payload, ?2, ?3) FROM dead_letters WHERE id = ?1",
            [.integer(rowID), .integer(offset + 1), .integer(Int64(length))]
        ) {
            $0.blob(0)
        }
    }

    private func deadLetter(_ row: Row, payload: [UInt8]) -> DeadLetter {
        let resolved = !row.isNull(12)
        let resolution = row.text(11)
        return DeadLetter(
            id: "dl-\(index)-\(row.int(0))",
            kind: row.text(1),
            priority: row.int(2),
            reason: row.text(3),
            detail: row.text(4),
            subject: row.text(5),
            payload: payload,
            attempts: row.int(6),
            createdMs: row.int(7),
            updatedMs: row.int(8),
            payloadBytes: row.int(9),
            payloadSHA256: row.text(10),
            state: !resolved ? "OPEN" : resolution.isEmpty ? "REDRIVEN" : resolution,
            resolvedMs: resolved ? row.int(12) : 0,
            shard: index,
            row: row.int(0)
        )
    }

    private func appendDeadLetterEvent(row: Int64, actor: String, event: String, detail: String) throws {
        try db.run(
            "INSERT INTO dead_letter_history (dead_letter_id, at_ms, actor, event, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            [.integer(row), .integer(now()), .text(actor), .text(event), .text(detail)]
        )
    }

    func resolveDeadLetter(rowID: Int64, actor: String = "system") throws {
        try transaction {
            let changed = try db.run(
                "UPDATE dead_letters SET resolved_ms = ?2, updated_ms = ?2, resolution = 'REDRIVEN' WHERE id = ?1 AND resolved_ms IS NULL",
                [.integer(rowID), .integer(now())]
            )
            if changed > 0 { try appendDeadLetterEvent(row: rowID, actor: actor, event: "REDRIVEN", detail: "") }
        }
    }

    func failDeadLetterAgain(rowID: Int64, reason: String, detail: String, actor: String = "system") throws {
        try transaction {
            try db.run(
                "UPDATE dead_letters SET attempts = attempts + 1, reason = ?2, detail = ?3, updated_ms = ?4 WHERE id = ?1",
                [.integer(rowID), .text(reason), .text(detail), .integer(now())]
            )
            try appendDeadLetterEvent(row: rowID, actor: actor, event: "REDRIVE_FAILED", detail: "\(reason): \(detail)")
        }
    }

    /// Closes an open dead letter without redriving it, recording who and why.
    func discardDeadLetter(rowID: Int64, actor: String, reason: String, excerptBytes: Int) throws -> DeadLetterDiscard {
        try transaction {
            let time = now()
            let changed = try db.run(
                """
                UPDATE dead_letters SET resolved_ms = ?2, updated_ms = ?2, resolution = 'DISCARDED' WHERE id = ?1 AND resolved_ms IS NULL
                """,
                [.integer(rowID), .integer(time)]
            )
            if changed > 0 { try appendDeadLetterEvent(row: rowID, actor: actor, event: "DISCARDED", detail: reason) }
            guard let (letter, _) = try deadLetterRecord(rowID: rowID, excerptBytes: excerptBytes) else {
                return .notFound
            }
            return changed > 0 ? .discarded(letter) : .alreadyResolved(letter)
        }
    }

    /// Hashes the payloads of dead letters stored before their hash was kept (once per letter).
    func backfillDeadLetterHashes() throws {
        var missing: [(Int64, [UInt8])] = []
        try db.query("SELECT id, payload FROM dead_letters WHERE payload_sha256 IS NULL") {
            missing.append(($0.int(0), $0.blob(1)))
        }
        guard !missing.isEmpty else { return }
        try db.transaction {
            for (row, payload) in missing {
                try db.run(
                    "UPDATE dead_letters SET payload_sha256 = ?2 WHERE id = ?1",
                    [.integer(row), .text(Self.sha256Hex(payload))]
                )
            }
        }
    }

    static func sha256Hex(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    var openDeadLetterCount: Int64 {
        (try? db.first("SELECT COUNT(*) FROM dead_letters WHERE resolved_ms IS NULL") { $0.int(0) }) ?? 0
    }
}

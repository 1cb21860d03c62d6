import CSQLite
import Crypto
import Foundation
import NIOConcurrencyHelpers
import PartialCancelDomain

// ShardStore: Email outbox.
extension ShardStore {
    func dueEmails(nowMs: Int64, limit: Int) throws -> [OutboundEmail] {
        var emails: [OutboundEmail] = []
        try db.query(
            """
            SELECT id, recipient, subject, body, cancellation_id, attempts, created_ms, token_sealed FROM email_outbox
            WHERE state = 'PENDING' AND next_attempt_ms <= ?1 ORDER BY next_attempt_ms, id LIMIT ?2
            """,
            [.integer(nowMs), .integer(Int64(limit))]
        ) { row in
            let cancellationID = row.text(4)
            emails.append(
                OutboundEmail(
                    id: "e-\(index)-\(row.int(0))",
                    rowID: row.int(0),
                    recipient: row.text(1),
                    subject: row.text(2),
                    body: shownBody(row, body: 3, sealed: 7, context: Self.emailContext(cancellationID)),
                    cancellationID: cancellationID,
                    attempts: Int(row.int(5)),
                    createdMs: row.int(6)
                )
            )
        }
        return emails
    }

    /// Marks an email sent and drops its token: the stored copy keeps `TokenSealer.removedMarker`.
    func emailSent(rowID: Int64) throws {
        try db.run(
            """
            UPDATE email_outbox SET state = 'SENT', attempts = attempts + 1, sent_ms = ?2, token_sealed = NULL, body = replace(body, ?3, ?4) WHERE id = ?1
            """,
            [.integer(rowID), .integer(now()), .text(TokenSealer.sealedMarker), .text(TokenSealer.removedMarker)]
        )
    }

    func emailFailed(rowID: Int64, error: String, nextAttemptMs: Int64) throws {
        try db.run(
            "UPDATE email_outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_ms = ?3 WHERE id = ?1",
            [.integer(rowID), .text(error), .integer(nextAttemptMs)]
        )
    }

    func emailDead(_ email: OutboundEmail, error: String) throws {
        try transaction {
            try db.run(
                "UPDATE email_outbox SET state = 'DEAD', attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
                [.integer(email.rowID), .text(error)]
            )
            _ = try addDeadLetter(
                kind: "notification",
                priority: 0,
                reason: "DELIVERY_FAILED",
                detail: "\(email.attempts + 1) attempts; last error: \(error)",
                subject: email.id,
                payload: Array("To: \(email.recipient)\nSubject: \(email.subject)".utf8)
            )
        }
    }

    /// Puts a dead email back in the queue, for a redrive.
    func reviveEmail(rowID: Int64) throws -> Bool {
        try db.run(
            "UPDATE email_outbox SET state = 'PENDING', attempts = 0, next_attempt_ms = ?2 WHERE id = ?1 AND state = 'DEAD'",
            [.integer(rowID), .integer(now())]
        ) == 1
    }

}

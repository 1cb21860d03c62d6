import Crypto
import Foundation
import NIOCore
import PartialCancelDomain
import PartialCancelStorage
import PostgresNIO

// PostgresStore: the portal inbox and the email outbox. A message is written in the transaction
// of its cause, in the order's database; a confirmation token is stored only sealed.
extension PostgresStore: NotificationStore {
    func add(_ notification: PortalNotification, in tx: Transaction) async throws {
        let now = clock.nowMs()
        let body = notification.token.map { TokenSealer.storedBody(notification.body, token: $0) } ?? notification.body
        let inboxToken = try notification.token.map {
            try sealer.seal($0, context: TokenSealer.inboxContext(notification.cancellationID)).bytea
        }
        try await tx.run(
            """
            INSERT INTO portal_inbox (account_id, cancellation_id, kind, subject, body, token_sealed, created_ms)
            VALUES (\(notification.accountID), \(notification.cancellationID), \(notification.kind),
                    \(notification.subject), \(body), \(inboxToken), \(now))
            """
        )
        guard !notification.email.isEmpty else { return }
        let emailToken = try notification.token.map {
            try sealer.seal($0, context: TokenSealer.emailContext(notification.cancellationID)).bytea
        }
        try await tx.run(
            """
            INSERT INTO email_outbox (recipient, subject, body, cancellation_id, state, attempts, next_attempt_ms, last_error,
                                      token_sealed, created_ms)
            VALUES (\(notification.email), \(notification.subject), \(body), \(notification.cancellationID), 'PENDING', 0,
                    \(now), '', \(emailToken), \(now))
            """
        )
    }

    /// The body as the customer sees it: the sealed token opened and put back in place.
    func shownBody(_ stored: String, sealed: ByteBuffer?, context: String) -> String {
        guard let sealed else { return stored }
        return TokenSealer.shownBody(stored, token: sealer.open([UInt8](bytea: sealed), context: context))
    }

    public func notifications(
        accountID: String,
        limit: Int,
        on loop: any EventLoop
    ) -> EventLoopFuture<[StoredNotification]> {
        future(on: loop) {
            var found: [StoredNotification] = []
            for database in self.databases {
                let rows = try await database.rows(
                    """
                    SELECT id, cancellation_id, kind, subject, body, token_sealed, created_ms FROM portal_inbox
                    WHERE account_id = \(accountID) ORDER BY id DESC LIMIT \(limit)
                    """
                )
                for row in rows {
                    let (id, cancellationID, kind, subject, body, sealed, createdMs) = try row.decode(
                        (Int64, String, String, String, String, ByteBuffer?, Int64).self
                    )
                    found.append(
                        StoredNotification(
                            id: "n-\(database.index)-\(id)",
                            createdMs: createdMs,
                            notification: PortalNotification(
                                accountID: accountID,
                                cancellationID: cancellationID,
                                kind: kind,
                                subject: subject,
                                body: self.shownBody(
                                    body,
                                    sealed: sealed,
                                    context: TokenSealer.inboxContext(cancellationID)
                                )
                            )
                        )
                    )
                }
            }
            return Array(found.sorted { ($0.createdMs, $0.id) > ($1.createdMs, $1.id) }.prefix(limit))
        }
    }

    public func dueEmails(nowMs: Int64, limit: Int, on loop: any EventLoop) -> EventLoopFuture<[OutboundEmail]> {
        future(on: loop) {
            var emails: [OutboundEmail] = []
            for database in self.databases {
                let rows = try await database.rows(
                    """
                    SELECT id, recipient, subject, body, cancellation_id, attempts, created_ms, token_sealed FROM email_outbox
                    WHERE state = 'PENDING' AND next_attempt_ms <= \(nowMs) ORDER BY next_attempt_ms, id LIMIT \(limit)
                    """
                )
                for row in rows {
                    let (id, recipient, subject, body, cancellationID, attempts, createdMs, sealed) = try row.decode(
                        (Int64, String, String, String, String, Int64, Int64, ByteBuffer?).self
                    )
                    emails.append(
                        OutboundEmail(
                            id: "e-\(database.index)-\(id)",
                            rowID: id,
                            recipient: recipient,
                            subject: subject,
                            body: self.shownBody(
                                body,
                                sealed: sealed,
                                context: TokenSealer.emailContext(cancellationID)
                            ),
                            cancellationID: cancellationID,
                            attempts: Int(attempts),
                            createdMs: createdMs
                        )
                    )
                }
            }
            return emails
        }
    }

    /// Marks an email sent and drops its token. Every node's delivery may have picked the same
    /// email: it is sent at least once, as email always is.
    public func emailSent(_ email: OutboundEmail, on loop: any EventLoop) -> EventLoopFuture<Void> {
        guard let (database, row) = address(email.id, prefix: "e") else { return loop.makeSucceededVoidFuture() }
        return future(on: loop) {
            _ = try await database.rows(
                """
                UPDATE email_outbox SET state = 'SENT', attempts = attempts + 1, sent_ms = \(self.clock.nowMs()),
                    token_sealed = NULL, body = replace(body, \(TokenSealer.sealedMarker), \(TokenSealer.removedMarker))
                WHERE id = \(row) AND state = 'PENDING'
                """
            )
        }
    }

    public func emailFailed(
        _ email: OutboundEmail,
        error: String,
        nextAttemptMs: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<Void> {
        guard let (database, row) = address(email.id, prefix: "e") else { return loop.makeSucceededVoidFuture() }
        return future(on: loop) {
            _ = try await database.rows(
                """
                UPDATE email_outbox SET attempts = attempts + 1, last_error = \(error), next_attempt_ms = \(nextAttemptMs)
                WHERE id = \(row) AND state = 'PENDING'
                """
            )
        }
    }

    public func emailDead(_ email: OutboundEmail, error: String, on loop: any EventLoop) -> EventLoopFuture<Void> {
        guard let (database, row) = address(email.id, prefix: "e") else { return loop.makeSucceededVoidFuture() }
        return future(on: loop) {
            try await database.transaction { tx in
                let changed = try await tx.changed(
                    """
                    UPDATE email_outbox SET state = 'DEAD', attempts = attempts + 1, last_error = \(error)
                    WHERE id = \(row) AND state = 'PENDING' RETURNING 1
                    """
                )
                // Another node gave up on it first: one dead letter per email.
                guard changed == 1 else { return }
                _ = try await self.addDeadLetter(
                    in: tx,
                    database: database,
                    kind: "notification",
                    priority: 0,
                    reason: "DELIVERY_FAILED",
                    detail: "\(email.attempts + 1) attempts; last error: \(error)",
                    subject: email.id,
                    payload: Array("To: \(email.recipient)\nSubject: \(email.subject)".utf8)
                )
            }
        }
    }

    public func reviveEmail(deadLetter: DeadLetter, on loop: any EventLoop) -> EventLoopFuture<Bool> {
        guard let (emailDatabase, emailRow) = address(deadLetter.subject, prefix: "e"),
            let (letterDatabase, letterRow) = address(deadLetter.id, prefix: "dl")
        else { return loop.makeSucceededFuture(false) }
        return future(on: loop) {
            let revived =
                try await emailDatabase.rows(
                    """
                    UPDATE email_outbox SET state = 'PENDING', attempts = 0, next_attempt_ms = \(self.clock.nowMs())
                    WHERE id = \(emailRow) AND state = 'DEAD' RETURNING 1
                    """
                ).count == 1
            try await self.resolve(letterRow, in: letterDatabase, actor: "system")
            return revived
        }
    }
}

// PostgresStore: idempotency keys, in the database of the scope's hash. The claim is one
// INSERT … ON CONFLICT: of two nodes claiming a key at once, one runs the call and the other
// finds it in progress (or its recorded reply).
extension PostgresStore: IdempotencyStore {
    func database(forScope scope: String) -> PostgresDatabase { database(forOrder: "idem:" + scope) }

    public func claimIdempotency(
        scope: String,
        fingerprint: [UInt8],
        nowMs: Int64,
        retentionMs: Int64,
        staleAfterMs: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<IdempotencyClaim> {
        let database = database(forScope: scope)
        return future(on: loop) {
            try await database.transaction { tx -> IdempotencyClaim in
                // Keys past their retention go, a bounded batch per claim (rows another claim is
                // deleting are skipped, not waited for); this scope's own, whatever the batch.
                try await tx.run(
                    """
                    DELETE FROM idempotency_keys WHERE scope IN (
                        SELECT scope FROM idempotency_keys WHERE created_ms < \(nowMs - retentionMs)
                        ORDER BY created_ms LIMIT 100 FOR UPDATE SKIP LOCKED)
                    OR (scope = \(scope) AND created_ms < \(nowMs - retentionMs))
                    """
                )
                let inserted = try await tx.changed(
                    """
                    INSERT INTO idempotency_keys (scope, fingerprint, created_ms) VALUES (\(scope), \(fingerprint.bytea), \(nowMs))
                    ON CONFLICT DO NOTHING RETURNING 1
                    """
                )
                if inserted == 1 { return .claimed }
                guard
                    let row = try await tx.first(
                        """
                        SELECT fingerprint, completed, status, response, created_ms FROM idempotency_keys
                        WHERE scope = \(scope) FOR UPDATE
                        """
                    )
                else { return .inProgress }
                let (stored, completed, status, response, created) = try row.decode(
                    (ByteBuffer, Bool, ByteBuffer?, ByteBuffer?, Int64).self
                )
                guard [UInt8](bytea: stored) == fingerprint else { return .mismatch }
                if completed {
                    return .replay(
                        status: status.map { [UInt8](bytea: $0) } ?? [],
                        response: response.map { [UInt8](bytea: $0) } ?? []
                    )
                }
                // A claim whose call never finished (its node died): take it over.
                if nowMs - created > staleAfterMs {
                    try await tx.run("UPDATE idempotency_keys SET created_ms = \(nowMs) WHERE scope = \(scope)")
                    return .claimed
                }
                return .inProgress
            }
        }
    }

    public func completeIdempotency(
        scope: String,
        status: [UInt8],
        response: [UInt8],
        nowMs: Int64,
        on loop: any EventLoop
    ) -> EventLoopFuture<Void> {
        let database = database(forScope: scope)
        return future(on: loop) {
            _ = try await database.rows(
                """
                UPDATE idempotency_keys SET completed = true, status = \(status.bytea), response = \(response.bytea),
                    completed_ms = \(nowMs)
                WHERE scope = \(scope)
                """
            )
        }
    }

    public func releaseIdempotency(scope: String, on loop: any EventLoop) -> EventLoopFuture<Void> {
        let database = database(forScope: scope)
        return future(on: loop) {
            _ = try await database.rows("DELETE FROM idempotency_keys WHERE scope = \(scope) AND NOT completed")
        }
    }
}

func sha256Hex(_ bytes: [UInt8]) -> String {
    SHA256.hash(data: bytes).map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
}

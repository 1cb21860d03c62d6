import CSQLite
import Crypto
import Foundation
import NIOConcurrencyHelpers
import PartialCancelDomain

// ShardStore: Portal inbox.
extension ShardStore {
    /// Stores a customer message in the portal inbox and, with an email address, the email outbox.
    /// A confirmation token never reaches the database in plaintext: the bodies hold
    /// `TokenSealer.sealedMarker` in its place and each row the token sealed for that row.
    func add(_ notification: PortalNotification) throws {
        let time = now()
        let body = notification.token.map { TokenSealer.storedBody(notification.body, token: $0) } ?? notification.body
        let inboxToken =
            try notification.token.map {
                SQLValue.blob(try sealer.seal($0, context: Self.inboxContext(notification.cancellationID)))
            } ?? .null
        try db.run(
            """
            INSERT INTO portal_inbox (account_id, cancellation_id, kind, subject, body, created_ms, token_sealed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
            """,
            [
                .text(notification.accountID), .text(notification.cancellationID), .text(notification.kind),
                .text(notification.subject),
                .text(body), .integer(time), inboxToken,
            ]
        )
        if !notification.email.isEmpty {
            let emailToken =
                try notification.token.map {
                    SQLValue.blob(try sealer.seal($0, context: Self.emailContext(notification.cancellationID)))
                } ?? .null
            try db.run(
                """
                INSERT INTO email_outbox (recipient, subject, body, cancellation_id, state, attempts, next_attempt_ms, last_error, created_ms, token_sealed)
                VALUES (?1, ?2, ?3, ?4, 'PENDING', 0, ?5, '', ?5, ?6)
                """,
                [
                    .text(notification.email), .text(notification.subject), .text(body),
                    .text(notification.cancellationID), .integer(time), emailToken,
                ]
            )
        }
    }

    static func inboxContext(_ cancellationID: String) -> String { TokenSealer.inboxContext(cancellationID) }
    static func emailContext(_ cancellationID: String) -> String { TokenSealer.emailContext(cancellationID) }

    /// The body as the customer sees it: the sealed token opened and put back in place.
    func shownBody(_ row: Row, body: Int32, sealed: Int32, context: String) -> String {
        let stored = row.text(body)
        guard !row.isNull(sealed) else { return stored }
        return TokenSealer.shownBody(stored, token: sealer.open(row.blob(sealed), context: context))
    }

    /// Rows written before tokens were sealed (schema 6 and earlier) hold `Token: <64 hex>` in
    /// their bodies: seal those of unsent emails and of the inbox, drop those of sent emails, then
    /// overwrite the freed bytes (secure_delete) and empty the WAL, so that no old copy remains.
    func sealLegacyTokens() throws {
        let pattern = "Token: "
        // A token of 64 lowercase hex digits, as ConfirmationToken writes it.
        let glob = "*" + pattern + String(repeating: "[0-9a-f]", count: 64) + "*"
        var inbox: [(id: Int64, cancellationID: String, body: String)] = []
        try db.query(
            "SELECT id, cancellation_id, body FROM portal_inbox WHERE token_sealed IS NULL AND body GLOB ?1",
            [.text(glob)]
        ) {
            inbox.append(($0.int(0), $0.text(1), $0.text(2)))
        }
        var emails: [(id: Int64, cancellationID: String, body: String, sent: Bool)] = []
        try db.query(
            "SELECT id, cancellation_id, body, state != 'PENDING' AND state != 'DEAD' FROM email_outbox WHERE token_sealed IS NULL AND body GLOB ?1",
            [.text(glob)]
        ) { emails.append(($0.int(0), $0.text(1), $0.text(2), $0.int(3) != 0)) }
        guard !inbox.isEmpty || !emails.isEmpty else { return }
        func token(in body: String) -> String? {
            guard let range = body.range(of: #"Token: [0-9a-f]{64}"#, options: .regularExpression) else { return nil }
            return String(body[range].dropFirst(pattern.count))
        }
        try db.execute("PRAGMA secure_delete = ON")
        defer { _ = try? db.execute("PRAGMA secure_delete = OFF") }
        try db.transaction {
            for row in inbox {
                guard let token = token(in: row.body) else { continue }
                try db.run(
                    "UPDATE portal_inbox SET body = ?2, token_sealed = ?3 WHERE id = ?1",
                    [
                        .integer(row.id), .text(TokenSealer.storedBody(row.body, token: token)),
                        .blob(try sealer.seal(token, context: Self.inboxContext(row.cancellationID))),
                    ]
                )
            }
            for row in emails {
                guard let token = token(in: row.body) else { continue }
                if row.sent {
                    let body = TokenSealer.storedBody(row.body, token: token).replacingOccurrences(
                        of: TokenSealer.sealedMarker,
                        with: TokenSealer.removedMarker
                    )
                    try db.run("UPDATE email_outbox SET body = ?2 WHERE id = ?1", [.integer(row.id), .text(body)])
                } else {
                    try db.run(
                        "UPDATE email_outbox SET body = ?2, token_sealed = ?3 WHERE id = ?1",
                        [
                            .integer(row.id), .text(TokenSealer.storedBody(row.body, token: token)),
                            .blob(try sealer.seal(token, context: Self.emailContext(row.cancellationID))),
                        ]
                    )
                }
            }
        }
        try db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    }

    func notifications(accountID: String, limit: Int) throws -> [StoredNotification] {
        var found: [StoredNotification] = []
        try db.query(
            """
            SELECT id, account_id, cancellation_id, kind, subject, body, created_ms, token_sealed FROM portal_inbox
            WHERE account_id = ?1 ORDER BY id DESC LIMIT ?2
            """,
            [.text(accountID), .integer(Int64(limit))]
        ) { row in
            let cancellationID = row.text(2)
            found.append(
                StoredNotification(
                    id: "n-\(index)-\(row.int(0))",
                    createdMs: row.int(6),
                    notification: PortalNotification(
                        accountID: row.text(1),
                        cancellationID: cancellationID,
                        kind: row.text(3),
                        subject: row.text(4),
                        body: shownBody(row, body: 5, sealed: 7, context: Self.inboxContext(cancellationID))
                    )
                )
            )
        }
        return found
    }
}

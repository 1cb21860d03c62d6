import CSQLite
import Crypto
import Foundation
import NIOConcurrencyHelpers
import PartialCancelDomain

// ShardStore: Idempotency keys.
extension ShardStore {
    func claimIdempotency(
        scope: String,
        fingerprint: [UInt8],
        nowMs: Int64,
        retentionMs: Int64,
        staleAfterMs: Int64
    ) throws -> IdempotencyClaim {
        try transaction {
            try db.run("DELETE FROM idempotency_keys WHERE created_ms < ?1", [.integer(nowMs - retentionMs)])
            let existing = try db.first(
                "SELECT fingerprint, completed, status, response, created_ms FROM idempotency_keys WHERE scope = ?1",
                [.text(scope)]
            ) {
                ($0.blob(0), $0.int(1) != 0, $0.blob(2), $0.blob(3), $0.int(4))
            }
            guard let (stored, completed, status, response, created) = existing else {
                try db.run(
                    "INSERT INTO idempotency_keys (scope, fingerprint, created_ms) VALUES (?1, ?2, ?3)",
                    [.text(scope), .blob(fingerprint), .integer(nowMs)]
                )
                return .claimed
            }
            guard stored == fingerprint else { return .mismatch }
            if completed { return .replay(status: status, response: response) }
            // A claim whose call never finished (the server died): take it over.
            if nowMs - created > staleAfterMs {
                try db.run(
                    "UPDATE idempotency_keys SET created_ms = ?2 WHERE scope = ?1",
                    [.text(scope), .integer(nowMs)]
                )
                return .claimed
            }
            return .inProgress
        }
    }

    func completeIdempotency(scope: String, status: [UInt8], response: [UInt8], nowMs: Int64) throws {
        try db.run(
            "UPDATE idempotency_keys SET completed = 1, status = ?2, response = ?3, completed_ms = ?4 WHERE scope = ?1",
            [.text(scope), .blob(status), .blob(response), .integer(nowMs)]
        )
    }

    func releaseIdempotency(scope: String) throws {
        try db.run("DELETE FROM idempotency_keys WHERE scope = ?1 AND completed = 0", [.text(scope)])
    }
}

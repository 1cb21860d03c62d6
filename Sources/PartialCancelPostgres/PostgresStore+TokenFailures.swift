import Logging
import PartialCancelStorage
import PostgresNIO

/// The wrong-token limit, shared by every node: one row per caller in the first database of the
/// shard map (`token_failures`), the window it counts in and the wrong tokens in it. The server's
/// in-memory limiter still bounds what one process compares at once; this count is what makes a
/// caller cut off on one node cut off on all (docs/SCALING.md, "Concurrency").
extension PostgresStore {
    var tokenFailureDatabase: PostgresDatabase { databases[0] }

    /// Throws `TokenAttemptsLimited` when the presenter's wrong tokens in its current window
    /// reached the limit.
    func refuseIfLimited(_ presenter: TokenPresenter, nowMs: Int64) async throws {
        guard
            let row = try await tokenFailureDatabase.rows(
                "SELECT failures, window_start_ms FROM token_failures WHERE caller = \(presenter.caller)"
            ).first
        else { return }
        let (failures, start) = try row.decode((Int64, Int64).self)
        let end = start + presenter.windowMs
        if nowMs < end, failures >= presenter.limit {
            throw TokenAttemptsLimited(retryAfterMs: end - nowMs, limit: presenter.limit, windowMs: presenter.windowMs)
        }
    }

    /// Counts one wrong token (a new window when the last one ended), atomically across nodes;
    /// throws `TokenAttemptsLimited` when it is past the limit, so that however many nodes compare
    /// at once, no more than `limit` wrong tokens per window are answered as such. A count that
    /// cannot be written (the database went away after the commit) is logged, and the caller gets
    /// the request's own answer.
    func countWrongToken(_ presenter: TokenPresenter, nowMs: Int64) async throws {
        let window = presenter.windowMs
        let row: PostgresRow?
        do {
            row = try await tokenFailureDatabase.rows(
                """
                INSERT INTO token_failures (caller, window_start_ms, failures) VALUES (\(presenter.caller), \(nowMs), 1)
                ON CONFLICT (caller) DO UPDATE SET
                    failures = CASE WHEN token_failures.window_start_ms + \(window) <= \(nowMs) THEN 1
                                    ELSE token_failures.failures + 1 END,
                    window_start_ms = CASE WHEN token_failures.window_start_ms + \(window) <= \(nowMs) THEN \(nowMs)
                                           ELSE token_failures.window_start_ms END
                RETURNING failures, window_start_ms
                """
            ).first
        } catch {
            logger.warning(
                "wrong token not counted",
                metadata: ["caller": "\(presenter.caller)", "error": "\(error)"]
            )
            return
        }
        guard let row else { return }
        let (failures, start) = try row.decode((Int64, Int64).self)
        if failures > presenter.limit {
            throw TokenAttemptsLimited(
                retryAfterMs: start + window - nowMs,
                limit: presenter.limit,
                windowMs: window
            )
        }
    }

    /// Drops the rows of callers whose last window started more than `tokenFailureRetentionMs` ago.
    func forgetOldTokenFailures() async throws {
        _ = try await tokenFailureDatabase.rows(
            "DELETE FROM token_failures WHERE window_start_ms < \(clock.nowMs() - configuration.tokenFailureRetentionMs)"
        )
    }
}

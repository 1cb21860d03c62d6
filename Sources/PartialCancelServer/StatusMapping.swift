import PartialCancelDomain
import PartialCancelStorage
import PartialCancelWire

/// An error that has a wire status. Every conformance is in this file: the one place where errors
/// become statuses.
protocol StatusConvertible: Error {
    var status: Status { get }
}

/// Turns any error into the status a caller sees. An error that is not `StatusConvertible` is an
/// internal error and reaches the peer only as a generic INTERNAL status; the details stay in the
/// server's log.
public enum StatusMapping {
    public static func status(for error: any Error) -> Status {
        (error as? any StatusConvertible)?.status
            ?? Status(.internalError, "internal error", reasons: [Reason(.internalError)])
    }
}

/// A cancellation request refused an event (a wrong token, an expired or locked request, …).
struct CancellationRefused: StatusConvertible, Hashable {
    var refusal: Refusal
    /// The request's id, the reason's subject.
    var id: String
    /// Wrong tokens the request takes before it locks (for `tokenInvalid`).
    var triesLeft: Int? = nil

    var status: Status {
        let message =
            switch refusal {
            case .tokenInvalid:
                "the token does not match this cancellation"
                    + (triesLeft.map { "; \($0) \($0 == 1 ? "try" : "tries") left before it locks" } ?? "")
            case .requestLocked: "too many wrong tokens: this cancellation is locked; ask for a new one"
            case .quoteChanged:
                "the order changed and the refund would differ from the quote; request the cancellation again"
            case .requestExpired: "this cancellation expired; request it again"
            case .requestDeclined: "this cancellation was declined"
            case .requestAborted:
                "this cancellation was aborted: the order changed before it was confirmed (its history says how)"
            case .requestWithdrawn: "this cancellation was withdrawn; request it again"
            case .requestConfirmed: "this cancellation is already confirmed; it can no longer be withdrawn"
            case .requestNotPending: "this cancellation is no longer pending"
            }
        let code: StatusCode =
            switch refusal {
            case .tokenInvalid, .requestLocked: .permissionDenied
            case .quoteChanged: .aborted
            default: .failedPrecondition
            }
        return Status(
            code,
            message,
            reasons: [
                Reason(ReasonCode(refusal.rawValue), subject: id, detail: triesLeft.map { "tries_left=\($0)" } ?? "")
            ]
        )
    }
}

/// An intake payload the domain refused, kept as a dead letter.
struct IntakeRefused: StatusConvertible {
    var error: DomainError
    var deadLetterID: String

    var status: Status {
        Status(
            .invalidArgument,
            "payload refused: \(error.description)",
            reasons: [
                Reason(ReasonCode(error.code.name), subject: error.path, detail: error.message),
                Reason(.deadLettered, subject: deadLetterID),
            ]
        )
    }
}

extension RPCError: StatusConvertible {}

extension WireDecodeError: StatusConvertible {
    var status: Status {
        Status(.invalidArgument, description, reasons: [Reason(ReasonCode(code.description), subject: path)])
    }
}

extension DomainError: StatusConvertible {
    var status: Status {
        Status(.invalidArgument, description, reasons: [Reason(ReasonCode(code.name), subject: path, detail: message)])
    }
}

extension QuoteError: StatusConvertible {
    var status: Status {
        switch self {
        case .ineligible(let verdicts):
            Status(
                .failedPrecondition,
                "not every line may be cancelled now",
                reasons: verdicts.flatMap { verdict in
                    verdict.reasons.map { Reason(ReasonCode($0.code), subject: verdict.lineID, detail: $0.rule) }
                }
            )
        case .tendersCannotTakeRefund(let orderID, _):
            Status(
                .failedPrecondition,
                "the order's tenders cannot take this refund",
                reasons: [Reason(.tendersExhausted, subject: orderID)]
            )
        }
    }
}

extension WatchError: StatusConvertible {
    var status: Status {
        switch self {
        case .ahead(let subject, let seq, let last):
            Status(
                .outOfRange,
                "after_seq \(seq) is past the last change of \(subject) (\(last))",
                reasons: [Reason(.watchSeqAhead, subject: subject, detail: "\(last)")]
            )
        }
    }
}

extension TokenAttemptsLimited: StatusConvertible {
    var status: Status {
        Status(
            .resourceExhausted,
            "too many wrong confirmation tokens from this caller; try again in \((retryAfterMs + 999) / 1000) s",
            reasons: [
                Reason(
                    .tokenAttemptsLimited,
                    subject: "token_failures_per_caller",
                    detail: "\(limit) per \(windowMs) ms"
                )
            ]
        )
    }
}

extension DatabaseUnavailable: StatusConvertible {
    /// The database is out of reach (or the connection broke mid-call): retryable, and nothing
    /// is half-done. The reason names the database by its index and address, never its password.
    var status: Status {
        Status(
            .unavailable,
            "\(database) is unavailable; retry later (a write with the same idempotency key is applied once)",
            reasons: [Reason(.databaseUnavailable, subject: database, detail: message)]
        )
    }
}

extension StorageError: StatusConvertible {
    /// A write that failed because the disk is full: the server is fine and nothing committed is
    /// lost, but this shard cannot take writes until space is freed. UNAVAILABLE tells callers to
    /// retry later (or elsewhere); the reason names the shard's file, not a path or any data.
    /// Any other storage failure is internal.
    var status: Status {
        guard isStorageFull else { return StatusMapping.status(for: InternalOnly()) }
        let file = self.file.isEmpty ? "a shard" : self.file
        return Status(
            .unavailable,
            "storage is full: \(file) cannot be written until space is freed; retry later",
            reasons: [Reason(.storageFull, subject: file, detail: message)]
        )
    }

    private struct InternalOnly: Error {}
}

extension FrameError: StatusConvertible {
    var status: Status {
        switch self {
        case .tooLarge(let length, let limit):
            Status(
                .resourceExhausted,
                description,
                reasons: [
                    Reason(.frameTooLarge, subject: "max_frame_bytes", detail: "length \(length), limit \(limit)")
                ]
            )
        case .tooLargeBeforeAuthentication(let length, let limit):
            Status(
                .resourceExhausted,
                description,
                reasons: [
                    Reason(
                        .frameTooLarge,
                        subject: "max_frame_bytes_before_hello",
                        detail: "length \(length), limit \(limit)"
                    )
                ]
            )
        case .budgetExhausted(_, let limit):
            Status(
                .resourceExhausted,
                description,
                reasons: [Reason(.inboundBudgetExhausted, subject: "max_inbound_buffered_bytes", detail: "\(limit)")]
            )
        case .empty:
            Status(.invalidArgument, description, reasons: [Reason(.frameEmpty)])
        case .stalled(_, let timeout):
            Status(
                .deadlineExceeded,
                description,
                reasons: [
                    Reason(
                        .frameStalled,
                        subject: "frame_stall_timeout_ms",
                        detail: "\(timeout.nanoseconds / 1_000_000)"
                    )
                ]
            )
        case .undecodable(let decodeError):
            Status(
                .invalidArgument,
                description,
                reasons: [Reason(.envelopeMalformed, subject: decodeError.path, detail: decodeError.code.description)]
            )
        }
    }
}

import PartialCancelStorage
import PartialCancelWire

/// The one place where errors become wire statuses. Anything not listed here is an internal error
/// and reaches the peer only as a generic INTERNAL status; the details stay in the server's log.
public enum StatusMapping {
    public static func status(for error: any Error) -> Status {
        switch error {
        case let error as RPCError:
            return error.status
        case let error as WireDecodeError:
            return Status(.invalidArgument, error.description, reasons: [Reason(error.code.description, subject: error.path)])
        case let error as FrameError:
            return status(for: error)
        case let error as StorageError where error.isStorageFull:
            return storageFull(error)
        default:
            return Status(.internalError, "internal error", reasons: [Reason("INTERNAL")])
        }
    }

    /// A write that failed because the disk is full: the server is fine and nothing committed is
    /// lost, but this shard cannot take writes until space is freed. UNAVAILABLE tells callers to
    /// retry later (or elsewhere); the reason names the shard's file, not a path or any data.
    static func storageFull(_ error: StorageError) -> Status {
        let file = error.file.isEmpty ? "a shard" : error.file
        return Status(.unavailable, "storage is full: \(file) cannot be written until space is freed; retry later",
                      reasons: [Reason("STORAGE_FULL", subject: file, detail: error.message)])
    }

    static func status(for error: FrameError) -> Status {
        switch error {
        case .tooLarge(let length, let limit):
            return Status(.resourceExhausted, error.description,
                          reasons: [Reason("FRAME_TOO_LARGE", subject: "max_frame_bytes", detail: "length \(length), limit \(limit)")])
        case .tooLargeBeforeAuthentication(let length, let limit):
            return Status(.resourceExhausted, error.description,
                          reasons: [Reason("FRAME_TOO_LARGE", subject: "max_frame_bytes_before_hello", detail: "length \(length), limit \(limit)")])
        case .budgetExhausted(_, let limit):
            return Status(.resourceExhausted, error.description,
                          reasons: [Reason("INBOUND_BUDGET_EXHAUSTED", subject: "max_inbound_buffered_bytes", detail: "\(limit)")])
        case .empty:
            return Status(.invalidArgument, error.description, reasons: [Reason("FRAME_EMPTY")])
        case .stalled(_, let timeout):
            return Status(.deadlineExceeded, error.description,
                          reasons: [Reason("FRAME_STALLED", subject: "frame_stall_timeout_ms", detail: "\(timeout.nanoseconds / 1_000_000)")])
        case .undecodable(let decodeError):
            return Status(.invalidArgument, error.description,
                          reasons: [Reason("ENVELOPE_MALFORMED", subject: decodeError.path, detail: decodeError.code.description)])
        }
    }
}

/// A reason's machine-readable code. The server's and the client's codes are listed here, once,
/// each with what it means; code compares these values, never string literals. Codes the domain
/// defines travel through `init(_:)`: eligibility (`EligibilityReason.Code`, SPEC section 7),
/// intake (`DomainError.Code`) and refused confirmations (`Refusal`). docs/PROTOCOL.md lists which
/// method returns which.
public struct ReasonCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    /// A code defined outside this list (by the domain).
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    // Connection and Hello.
    /// The first frame must be Hello.
    public static let helloRequired = ReasonCode("HELLO_REQUIRED")
    /// No Hello within `hello_timeout_ms`.
    public static let helloTimeout = ReasonCode("HELLO_TIMEOUT")
    /// Hello names a protocol version this server does not speak.
    public static let protocolVersionUnsupported = ReasonCode("PROTOCOL_VERSION_UNSUPPORTED")
    /// Hello's API key matches no configured key.
    public static let apiKeyUnknown = ReasonCode("API_KEY_UNKNOWN")
    /// The TLS client certificate is not one the configuration accepts.
    public static let certificateUnknown = ReasonCode("CERTIFICATE_UNKNOWN")
    /// The server's `max_connections` is reached.
    public static let connectionLimit = ReasonCode("CONNECTION_LIMIT")
    /// This peer address has `max_connections_per_peer` open.
    public static let peerConnectionLimit = ReasonCode("PEER_CONNECTION_LIMIT")
    /// This key has `max_connections_per_principal` open.
    public static let principalConnectionLimit = ReasonCode("PRINCIPAL_CONNECTION_LIMIT")
    /// An anonymous connection was closed to make room for an authenticated one.
    public static let unauthenticatedConnectionEvicted = ReasonCode("UNAUTHENTICATED_CONNECTION_EVICTED")
    /// No frame within `idle_timeout_ms`.
    public static let idleTimeout = ReasonCode("IDLE_TIMEOUT")
    /// The server is draining: finish in-flight calls, send new ones elsewhere.
    public static let shuttingDown = ReasonCode("SHUTTING_DOWN")
    /// A frame body this side does not accept here (a client sending Reply, a second Hello).
    public static let unexpectedFrame = ReasonCode("UNEXPECTED_FRAME")
    /// The peer stopped reading: replies stayed unwritten past `write_stall_timeout_ms`.
    public static let writeStalled = ReasonCode("WRITE_STALLED")

    // Framing.
    /// A frame's length exceeds `max_frame_bytes` (or the pre-Hello bound).
    public static let frameTooLarge = ReasonCode("FRAME_TOO_LARGE")
    /// A frame of length 0.
    public static let frameEmpty = ReasonCode("FRAME_EMPTY")
    /// A partial frame stayed incomplete past `frame_stall_timeout_ms`.
    public static let frameStalled = ReasonCode("FRAME_STALLED")
    /// All connections together buffer `max_inbound_buffered_bytes` already.
    public static let inboundBudgetExhausted = ReasonCode("INBOUND_BUDGET_EXHAUSTED")
    /// A frame is not a valid Envelope.
    public static let envelopeMalformed = ReasonCode("ENVELOPE_MALFORMED")

    // Calls.
    /// A call id of 0, or one this side did not start.
    public static let callIDInvalid = ReasonCode("CALL_ID_INVALID")
    /// A call id already in flight on this connection.
    public static let callIDInUse = ReasonCode("CALL_ID_IN_USE")
    /// `max_calls_in_flight` calls are open on this connection.
    public static let callsInFlightLimit = ReasonCode("CALLS_IN_FLIGHT_LIMIT")
    /// No such method.
    public static let methodUnknown = ReasonCode("METHOD_UNKNOWN")
    /// A streaming method called without a connection (in process).
    public static let streamRequired = ReasonCode("STREAM_REQUIRED")
    /// The call's deadline passed before it was answered.
    public static let deadlineExceeded = ReasonCode("DEADLINE_EXCEEDED")
    /// The client cancelled the call.
    public static let cancelledByClient = ReasonCode("CANCELLED_BY_CLIENT")
    /// An unexpected failure; its details are in the server's log only.
    public static let internalError = ReasonCode("INTERNAL")

    // Access.
    /// The method needs an API key in Hello.
    public static let apiKeyRequired = ReasonCode("API_KEY_REQUIRED")
    /// The caller's role may not call the method.
    public static let roleNotAllowed = ReasonCode("ROLE_NOT_ALLOWED")
    /// A portal call must name its customer in `metadata.on_behalf_of`.
    public static let onBehalfOfRequired = ReasonCode("ON_BEHALF_OF_REQUIRED")
    /// Too many wrong tokens from this caller within the window (`token_failures_per_caller`).
    public static let tokenAttemptsLimited = ReasonCode("TOKEN_ATTEMPTS_LIMITED")

    // Requests.
    /// A field that must be set is absent or empty.
    public static let fieldRequired = ReasonCode("FIELD_REQUIRED")
    /// A field's value is outside its domain.
    public static let fieldOutOfRange = ReasonCode("FIELD_OUT_OF_RANGE")
    /// A field's value has the wrong form (an id, a code).
    public static let fieldMalformed = ReasonCode("FIELD_MALFORMED")
    /// A string, bytes or repeated field is longer than allowed.
    public static let fieldTooLong = ReasonCode("FIELD_TOO_LONG")
    /// A list cursor this server did not hand out.
    public static let cursorInvalid = ReasonCode("CURSOR_INVALID")
    /// The idempotency key was used before with a different request.
    public static let idempotencyKeyReused = ReasonCode("IDEMPOTENCY_KEY_REUSED")
    /// A call with this idempotency key is still running.
    public static let idempotencyKeyInUse = ReasonCode("IDEMPOTENCY_KEY_IN_USE")
    /// The answer would not fit in one frame.
    public static let responseTooLarge = ReasonCode("RESPONSE_TOO_LARGE")

    // Orders, cancellations, stock, dead letters.
    /// No such order (or, for a portal, not its customer's).
    public static let orderNotFound = ReasonCode("ORDER_NOT_FOUND")
    /// No such cancellation request (or, for a portal, not its customer's).
    public static let cancellationNotFound = ReasonCode("CANCELLATION_NOT_FOUND")
    /// The refund cannot be placed on the order's tenders.
    public static let tendersExhausted = ReasonCode("TENDERS_EXHAUSTED")
    /// Stock is released only for a confirmed cancellation.
    public static let notConfirmed = ReasonCode("NOT_CONFIRMED")
    /// An intake payload was refused and kept as a dead letter (the subject is its id).
    public static let deadLettered = ReasonCode("DEAD_LETTERED")
    /// No such dead letter.
    public static let deadLetterNotFound = ReasonCode("DEAD_LETTER_NOT_FOUND")
    /// No refund allocation has this id.
    public static let allocationNotFound = ReasonCode("ALLOCATION_NOT_FOUND")
    /// The allocation's other result was recorded before: a result is recorded once.
    public static let refundResultConflict = ReasonCode("REFUND_RESULT_CONFLICT")
    /// The dead letter was redriven or discarded already.
    public static let deadLetterResolved = ReasonCode("DEAD_LETTER_RESOLVED")
    /// A write found the disk full; retry later.
    public static let storageFull = ReasonCode("STORAGE_FULL")
    /// The database server cannot be reached, or lost the connection before the outcome of a write
    /// was known: nothing is half-done (a transaction commits whole or not at all); retry, with the
    /// same idempotency key for a write.
    public static let databaseUnavailable = ReasonCode("DATABASE_UNAVAILABLE")

    // Watches.
    /// `max_watches_per_connection` (or the server's bound) watches are open.
    public static let watchLimit = ReasonCode("WATCH_LIMIT")
    /// The watcher fell `watch_buffer_changes` behind; resume from the last sequence seen.
    public static let watchBufferFull = ReasonCode("WATCH_BUFFER_FULL")
    /// `after_seq` is past the subject's last change.
    public static let watchSeqAhead = ReasonCode("WATCH_SEQ_AHEAD")

    // The client's own (never sent by a server).
    /// The server could not be reached.
    public static let connectFailed = ReasonCode("CONNECT_FAILED")
    /// The connection failed while calls were open.
    public static let connectionError = ReasonCode("CONNECTION_ERROR")
    /// The connection closed while calls were open.
    public static let connectionClosed = ReasonCode("CONNECTION_CLOSED")
    /// No reply within the client's deadline.
    public static let clientDeadlineExceeded = ReasonCode("CLIENT_DEADLINE_EXCEEDED")
    /// A reply that does not decode as the method's response.
    public static let responseMalformed = ReasonCode("RESPONSE_MALFORMED")
    /// The client's TLS settings cannot be used.
    public static let tlsConfiguration = ReasonCode("TLS_CONFIGURATION")

    // The load tester's own, in its failure counts.
    /// A confirmed cancellation did not complete within the flow's wait.
    public static let completionTimeout = ReasonCode("COMPLETION_TIMEOUT")
    /// A flow found no prepared request to confirm.
    public static let notPrepared = ReasonCode("NOT_PREPARED")
}

extension Reason {
    public init(_ code: ReasonCode, subject: String = "", detail: String = "") {
        self.init(rawCode: code.rawValue, subject: subject, detail: detail)
    }

    /// Whether this reason carries `code`.
    public func `is`(_ code: ReasonCode) -> Bool { self.code == code.rawValue }
}

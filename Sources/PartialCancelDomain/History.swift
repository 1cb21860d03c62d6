/// An entry of an order's history as the domain words it: what happened (`event`), to what
/// (`subject`), the state before and after, and a detail. Storage numbers, stamps and keeps the
/// entries; their vocabulary and text are decided here, once.
public struct HistoryRecord: Sendable, Hashable {
    public var event: String
    public var subject: String
    public var from: String
    public var to: String
    public var detail: String

    public init(event: String, subject: String, from: String = "", to: String, detail: String = "") {
        self.event = event
        self.subject = subject
        self.from = from
        self.to = to
        self.detail = detail
    }

    /// The order was ingested; the detail holds its total at intake (`total 79504 USD`). (The
    /// audit reads the total at intake from its own column, not from this text.)
    public static func ingested(_ order: Order) -> HistoryRecord {
        HistoryRecord(
            event: ingestedEvent,
            subject: order.id,
            to: order.status.rawValue,
            detail: "total \(order.totals.total) \(order.currency.code)"
        )
    }

    public static let ingestedEvent = "INGESTED"

    public static func cancellationRequested(_ request: CancellationRequest) -> HistoryRecord {
        HistoryRecord(
            event: "CANCELLATION_REQUESTED",
            subject: request.id,
            to: request.lifecycle.state.rawValue,
            detail: "lines \(lines(request.lines)), refund \(request.quote.refundTotal) \(request.quote.currency), "
                + "reason \(request.reasonCode)"
        )
    }

    /// A wrong confirmation token was counted.
    public static func tokenRejected(_ before: CancellationRequest, _ after: CancellationRequest) -> HistoryRecord {
        HistoryRecord(
            event: "CONFIRMATION_TOKEN_REJECTED",
            subject: after.id,
            from: "\(before.lifecycle.failedAttempts) failed attempts",
            to: "\(after.lifecycle.failedAttempts) failed attempts"
        )
    }

    /// The request's state changed (`CANCELLATION_CONFIRMED`, `_DECLINED`, `_EXPIRED`, `_LOCKED`,
    /// `_ABORTED`, `_WITHDRAWN`, `_COMPLETED`).
    public static func cancellationChanged(
        _ before: CancellationRequest,
        _ after: CancellationRequest,
        detail: String = ""
    ) -> HistoryRecord {
        HistoryRecord(
            event: "CANCELLATION_\(after.lifecycle.state.rawValue)",
            subject: after.id,
            from: before.lifecycle.state.rawValue,
            to: after.lifecycle.state.rawValue,
            detail: detail
        )
    }

    /// The order after a confirmed cancellation: status and what the customer pays, before and after.
    public static func orderUpdated(_ before: Order, _ after: Order, cancelled: [RequestedLine]) -> HistoryRecord {
        HistoryRecord(
            event: "ORDER_UPDATED",
            subject: after.id,
            from: summary(before),
            to: summary(after),
            detail: "cancelled \(lines(cancelled))"
        )
    }

    public static func refundIssued(_ refund: Refund) -> HistoryRecord {
        HistoryRecord(
            event: "REFUND_ISSUED",
            subject: refund.refundID,
            to: "ISSUED",
            detail: "\(refund.amount) \(refund.currency) for \(refund.cancellationID)"
        )
    }

    public static func fulfilmentUpdated(lineID: String, from: FulfilmentStatus, to: FulfilmentStatus) -> HistoryRecord
    {
        HistoryRecord(event: "FULFILMENT_UPDATED", subject: lineID, from: from.rawValue, to: to.rawValue)
    }

    public static func orderStatusChanged(_ orderID: String, from: OrderStatus, to: OrderStatus) -> HistoryRecord {
        HistoryRecord(event: "ORDER_STATUS_CHANGED", subject: orderID, from: from.rawValue, to: to.rawValue)
    }

    /// An order's state in a history entry: status and what the customer pays.
    public static func summary(_ order: Order) -> String {
        "\(order.status.rawValue), total \(order.totals.total) \(order.currency.code)"
    }

    /// Requested lines as `L1:2,L2b` (no quantity: all remaining units).
    static func lines(_ lines: [RequestedLine]) -> String {
        lines.map { "\($0.lineID)\($0.quantity.map { ":\($0)" } ?? "")" }.joined(separator: ",")
    }
}

import Foundation

/// The events touchpoints subscribe to (docs/EVENTS.md): each order history entry and each stock
/// change has one type, or none when it is not for touchpoints (a wrong token, say).
public enum TouchpointEvent {
    /// Every type a subscription may name.
    public static let types: [String] = [
        "order.changed", "cancellation.requested", "cancellation.confirmed", "cancellation.completed",
        "cancellation.declined", "cancellation.expired", "cancellation.aborted", "cancellation.withdrawn",
        "cancellation.locked", "refund.succeeded", "refund.failed", "stock.changed", "fulfilment.changed",
    ]

    /// The type of an order history entry's event (`HistoryRecord.event`), if touchpoints get it.
    public static func type(ofHistoryEvent event: String) -> String? {
        switch event {
        case HistoryRecord.ingestedEvent, "ORDER_UPDATED", "ORDER_STATUS_CHANGED": return "order.changed"
        case "FULFILMENT_UPDATED", "FULFILMENT_CANCEL_WINDOW": return "fulfilment.changed"
        case "REFUND_ALLOCATION_SUCCEEDED": return "refund.succeeded"
        case "REFUND_ALLOCATION_FAILED": return "refund.failed"
        default:
            guard event.hasPrefix("CANCELLATION_") else { return nil }
            let type = "cancellation." + event.dropFirst("CANCELLATION_".count).lowercased()
            return types.contains(type) ? type : nil
        }
    }

    /// The type of a stock change.
    public static let stockChanged = "stock.changed"

    /// Whether `pattern` (a type, `cancellation.*`, or `*`) names `type`.
    public static func matches(_ pattern: String, _ type: String) -> Bool {
        if pattern == "*" || pattern == type { return true }
        guard pattern.hasSuffix(".*") else { return false }
        return type.hasPrefix(pattern.dropLast())
    }

    /// Whether `pattern` names at least one type (for checking a configuration).
    public static func isValid(pattern: String) -> Bool { types.contains { matches(pattern, $0) } }
}

/// An order's state as an event carries it.
public struct EventOrderState: Sendable, Hashable {
    public var version: Int64
    public var status: String
    public var total: Int64
    public var refunded: Int64

    public init(version: Int64, status: String, total: Int64, refunded: Int64) {
        self.version = version
        self.status = status
        self.total = total
        self.refunded = refunded
    }
}

extension TouchpointEvent {
    /// The JSON body of an order event (docs/EVENTS.md); its id is `ORDER_ID/SEQ`, the same for
    /// every subscriber and every retry.
    public static func orderPayload(
        type: String,
        orderID: String,
        seq: Int64,
        atMs: Int64,
        record: HistoryRecord,
        order: EventOrderState?
    ) -> [UInt8] {
        var fields: [String: Any] = [
            "id": "\(orderID)/\(seq)", "type": type, "time": RFC3339.format(atMs), "time_ms": atMs,
            "order_id": orderID, "seq": seq, "event": record.event, "subject": record.subject,
            "from": record.from, "to": record.to, "detail": record.detail,
        ]
        if let order {
            fields["order_version"] = order.version
            fields["order"] = [
                "version": order.version, "status": order.status, "total": order.total, "refunded": order.refunded,
            ]
        }
        return json(fields)
    }

    /// The JSON body of a stock event; its id is `sku:SKU/SEQ`.
    public static func stockPayload(
        _ pool: StockPool,
        seq: Int64,
        atMs: Int64,
        cause: String,
        reference: String
    )
        -> [UInt8]
    {
        json([
            "id": "sku:\(pool.sku)/\(seq)", "type": stockChanged, "time": RFC3339.format(atMs), "time_ms": atMs,
            "sku": pool.sku, "seq": seq, "location": pool.location, "on_hand": pool.onHand,
            "reserved": pool.reserved, "available": pool.available, "cause": cause, "reference": reference,
        ])
    }

    private static func json(_ fields: [String: Any]) -> [UInt8] {
        (try? Array(JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]))) ?? []
    }
}

/// Which subscriptions get which events: written beside the change that causes them, in its transaction.
public struct EventRoutes: Sendable, Hashable {
    public struct Route: Sendable, Hashable {
        public var subscription: String
        public var patterns: [String]

        public init(subscription: String, patterns: [String]) {
            self.subscription = subscription
            self.patterns = patterns
        }
    }

    public var routes: [Route]

    public init(_ routes: [Route] = []) { self.routes = routes }

    public var isEmpty: Bool { routes.isEmpty }

    /// The subscriptions that get an event of `type`.
    public func subscriptions(for type: String) -> [String] {
        routes.filter { route in route.patterns.contains { TouchpointEvent.matches($0, type) } }.map(\.subscription)
    }
}

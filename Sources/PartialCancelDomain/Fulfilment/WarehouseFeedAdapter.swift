/// The retailer's own warehouse system: line-level statuses by order and line,
/// `{"events": [{"event_id", "order_id", "line_id", "status", "at", "correction"?}]}`, with
/// `status` one of `released`, `picked`, `shipped`, and `"correction": true` for an explicit step
/// back (docs/FULFILMENT.md).
public struct WarehouseFeedAdapter: FulfilmentSourceAdapter {
    public let source = "warehouse"
    public init() {}

    static let statuses: [String: FulfilmentStatus] = [
        "released": .releasedToWarehouse, "picked": .picked, "shipped": .shipped,
    ]

    public func events(from payload: JSONReader, limits: FulfilmentLimits) throws(DomainError) -> [FulfilmentEvent] {
        var events: [FulfilmentEvent] = []
        for item in try payload.objects("events", maxCount: limits.maxEventsPerBatch) {
            let status = try item.choice("status", Self.statuses)
            events.append(
                FulfilmentEvent(
                    source: source,
                    eventID: try item.identifier("event_id", maxBytes: limits.maxIDBytes),
                    orderID: try item.identifier("order_id", maxBytes: limits.maxIDBytes),
                    lineID: try item.identifier("line_id", maxBytes: limits.maxIDBytes),
                    kind: try item.optionalBool("correction") == true ? .revert(to: status) : .status(status),
                    occurredMs: try item.time("at"),
                    path: item.path
                )
            )
        }
        return events
    }
}

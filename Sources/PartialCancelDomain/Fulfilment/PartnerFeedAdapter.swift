/// A 3PL partner's feed: shipment-level milestones in the partner's own vocabulary and ids, times
/// in Unix seconds, and the partner's answer to whether the shipment may still be cancelled:
/// `{"partner", "shipments": [{"ref", "milestone", "client_order", "ts", "cancel_window_open"?,
/// "lines": [{"client_line"}]}]}` (docs/FULFILMENT.md). Each shipment line becomes one event,
/// `PARTNER:REF:MILESTONE:LINE`; `cancel_window_open` one more per line (`…:cancel`), after it.
public struct PartnerFeedAdapter: FulfilmentSourceAdapter {
    public let source = "3pl"
    public init() {}

    /// Milestones and the status each means; HOLD changes no status.
    static let milestones: [String: FulfilmentStatus?] = [
        "ACCEPTED": .releasedToWarehouse, "PACKED": .picked, "DISPATCHED": .shipped, "HANDED_TO_CARRIER": .shipped,
        "HOLD": .none,
    ]

    public func events(from payload: JSONReader, limits: FulfilmentLimits) throws(DomainError) -> [FulfilmentEvent] {
        let partner = try payload.identifier("partner", maxBytes: limits.maxIDBytes)
        var events: [FulfilmentEvent] = []
        for shipment in try payload.objects("shipments", maxCount: limits.maxEventsPerBatch) {
            let reference = try shipment.identifier("ref", maxBytes: limits.maxIDBytes)
            let milestoneName = try shipment.string("milestone", maxLength: 32)
            let status = try shipment.choice("milestone", Self.milestones)
            let order = try shipment.identifier("client_order", maxBytes: limits.maxIDBytes)
            let seconds = try shipment.int("ts", in: 0...253_402_300_799)
            let cancellable = try shipment.optionalBool("cancel_window_open")
            for line in try shipment.objects("lines", maxCount: limits.maxLinesPerShipment) {
                let lineID = try line.identifier("client_line", maxBytes: limits.maxIDBytes)
                let id = "\(partner):\(reference):\(milestoneName):\(lineID)"
                if let status {
                    events.append(
                        FulfilmentEvent(
                            source: source,
                            eventID: id,
                            orderID: order,
                            lineID: lineID,
                            kind: .status(status),
                            occurredMs: seconds * 1000,
                            path: line.path
                        )
                    )
                }
                if let cancellable {
                    events.append(
                        FulfilmentEvent(
                            source: source,
                            eventID: id + ":cancel",
                            orderID: order,
                            lineID: lineID,
                            kind: .cancellable(cancellable),
                            occurredMs: seconds * 1000,
                            path: shipment.path("cancel_window_open")
                        )
                    )
                }
            }
        }
        return events
    }
}

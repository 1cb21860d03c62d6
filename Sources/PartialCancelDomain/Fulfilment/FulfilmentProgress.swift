/// What a fulfilment event does to its order.
public enum FulfilmentOutcome: Sendable, Hashable {
    /// The order after the event (its version one up), and the units the event shipped
    /// (`CONSUME` changes, one per line that holds stock; the id is per order and line).
    case applied(Order, consumed: [StockChange])
    /// Recorded, but nothing changes: a late, lower status, or what the line already says.
    case ignored(reason: String)
}

/// The rules of a line's fulfilment (docs/FULFILMENT.md). Pure: the caller stores the outcome.
public enum FulfilmentProgress {
    /// RESERVED → RELEASED_TO_WAREHOUSE → PICKED → SHIPPED.
    static func rank(_ status: FulfilmentStatus) -> Int {
        switch status {
        case .reserved: 0
        case .releasedToWarehouse: 1
        case .picked: 2
        case .shipped: 3
        }
    }

    /// Applies `event` to `order`. Throws for an event that cannot apply to this order at all
    /// (no such line, a line without fulfilment, a step back from SHIPPED).
    public static func apply(_ event: FulfilmentEvent, to order: Order) throws(DomainError) -> FulfilmentOutcome {
        guard let line = order.line(event.lineID) else {
            throw DomainError(
                .outOfRange,
                path: event.path,
                "order \(order.id) has no line '\(event.lineID)'; its lines: \(order.lines.map(\.id).joined(separator: ", "))"
            )
        }
        guard let current = line.fulfilment else {
            throw DomainError(
                .inconsistent,
                path: event.path,
                "line \(line.id) of order \(order.id) is a \(line.kind.rawValue.lowercased()) line: it has no fulfilment"
            )
        }
        if order.status == .cancelled || line.remainingQuantity == 0 {
            return .ignored(reason: "line \(line.id) has no units left: they were cancelled")
        }
        var after = order
        var consumed: [StockChange] = []
        switch event.kind {
        case .status(let status):
            guard rank(status) > rank(current.status) else {
                return .ignored(
                    reason:
                        "line \(line.id) is already \(current.status.rawValue); a later \(status.rawValue) is not a step forward"
                )
            }
            if status == .shipped { consumed = consumption(of: line, in: order) }
            after.recordFulfilment(lineID: line.id, status: status)
        case .revert(let status):
            guard current.status != .shipped else {
                throw DomainError(
                    .inconsistent,
                    path: event.path,
                    "line \(line.id) has shipped: it cannot go back to \(status.rawValue) (a return is not a fulfilment event)"
                )
            }
            guard rank(status) < rank(current.status) else {
                return .ignored(
                    reason:
                        "line \(line.id) is \(current.status.rawValue); a correction back to \(status.rawValue) is not a step back"
                )
            }
            after.recordFulfilment(lineID: line.id, status: status)
        case .cancellable(let accepts):
            guard current.partnerAcceptsCancel != accepts else {
                return .ignored(reason: "line \(line.id) already says cancellable: \(accepts)")
            }
            after.recordFulfilment(lineID: line.id, status: current.status, partnerAcceptsCancel: accepts)
        }
        after.version += 1
        return .applied(after, consumed: consumed)
    }

    /// The units a line's shipping takes from their pools: its remaining units at its location,
    /// or, for a bundle with components, each component's.
    static func consumption(of line: Line, in order: Order) -> [StockChange] {
        let affected = order.lines.filter { $0.id == line.id || $0.parentLineID == line.id }
        return affected.compactMap { part in
            guard part.holdsStock(in: order), let fulfilment = part.fulfilment, part.remainingQuantity > 0 else {
                return nil
            }
            return StockChange(
                id: "\(order.id)/ship/\(part.id)",
                kind: .consume,
                sku: part.sku,
                location: fulfilment.location,
                quantity: part.remainingQuantity,
                orderID: order.id,
                lineID: part.id
            )
        }
    }
}

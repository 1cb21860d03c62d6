/// Stock of one sku at one location (SPEC section 4): available = on hand − reserved.
public struct StockPool: Sendable, Hashable, Codable {
    public var sku: String
    public var location: String
    public var onHand: Int64
    public var reserved: Int64

    public init(sku: String, location: String, onHand: Int64, reserved: Int64) {
        self.sku = sku
        self.location = location
        self.onHand = onHand
        self.reserved = reserved
    }

    /// Negative when more is reserved than is on hand (oversold): visible, never hidden.
    public var available: Int64 { onHand - reserved }
}

/// A change to one stock pool that an order causes: reserve at intake, release on cancellation,
/// consume when the line ships (the units leave: on hand and reserved both go down). `id` is
/// unique per change and makes applying it idempotent (exactly once per pool).
public struct StockChange: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        case reserve = "RESERVE"
        case release = "RELEASE"
        case consume = "CONSUME"
    }

    public var id: String
    public var kind: Kind
    public var sku: String
    public var location: String
    public var quantity: Int64
    public var orderID: String
    public var lineID: String

    public init(id: String, kind: Kind, sku: String, location: String, quantity: Int64, orderID: String, lineID: String)
    {
        self.id = id
        self.kind = kind
        self.sku = sku
        self.location = location
        self.quantity = quantity
        self.orderID = orderID
        self.lineID = lineID
    }

    /// The change to the pool's reserved count.
    public var reservedDelta: Int64 { kind == .reserve ? quantity : -quantity }

    /// The change to the pool's on-hand count: only shipping takes units off the shelf.
    public var onHandDelta: Int64 { kind == .consume ? -quantity : 0 }
}

extension Line {
    /// Whether the line holds stock of its own sku: physical lines with a fulfilment location,
    /// except bundles that have components (the components are what is on the shelf).
    public func holdsStock(in order: Order) -> Bool {
        guard let fulfilment, fulfilment.status != .shipped else { return false }
        switch kind {
        case .goods, .bundleComponent: return true
        case .bundle: return !order.lines.contains { $0.parentLineID == id }
        case .service, .subscriptionService: return false
        }
    }
}

extension Order {
    /// The reservations an ingested order makes: its uncancelled units of every line that holds
    /// stock, unless the order is already shipped or cancelled.
    public func intakeReservations() -> [StockChange] {
        guard status == .pending || status == .confirmed else { return [] }
        return lines.compactMap { line in
            guard line.holdsStock(in: self), let fulfilment = line.fulfilment, line.remainingQuantity > 0 else {
                return nil
            }
            return StockChange(
                id: "\(id)/reserve/\(line.id)",
                kind: .reserve,
                sku: line.sku,
                location: fulfilment.location,
                quantity: line.remainingQuantity,
                orderID: id,
                lineID: line.id
            )
        }
    }
}

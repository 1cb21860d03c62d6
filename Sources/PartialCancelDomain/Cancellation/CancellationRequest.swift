/// A recorded cancellation request: what was asked, by whom, the binding quote, and its lifecycle.
/// The one-time token is not here: only its hash is stored, beside the request.
public struct CancellationRequest: Sendable, Hashable, Codable {
    /// `ORDER_ID/cN`: unique, and routed to the order's shard.
    public var id: String
    public var orderID: String
    public var accountID: String
    public var lines: [RequestedLine]
    /// Why: `ADDED_BY_MISTAKE`, `CHANGED_MIND`, …
    public var reasonCode: String
    /// Who asked (principal, role, and the account a portal acted for).
    public var actor: String
    public var storeCredit: Bool
    public var quote: Quote
    public var lifecycle: CancellationLifecycle
    public var createdMs: Int64
    public var updatedMs: Int64

    public init(
        id: String,
        orderID: String,
        accountID: String,
        lines: [RequestedLine],
        reasonCode: String,
        actor: String,
        storeCredit: Bool,
        quote: Quote,
        lifecycle: CancellationLifecycle,
        createdMs: Int64,
        updatedMs: Int64
    ) {
        self.id = id
        self.orderID = orderID
        self.accountID = accountID
        self.lines = lines
        self.reasonCode = reasonCode
        self.actor = actor
        self.storeCredit = storeCredit
        self.quote = quote
        self.lifecycle = lifecycle
        self.createdMs = createdMs
        self.updatedMs = updatedMs
    }

    /// The id of request number `n` of an order.
    public static func id(orderID: String, number: Int) -> String { "\(orderID)/c\(number)" }

    /// The order id inside a request id, if it is one.
    public static func orderID(fromRequestID id: String) -> String? {
        guard let slash = id.lastIndex(of: "/"), id[id.index(after: slash)...].hasPrefix("c"),
            Int(id[id.index(slash, offsetBy: 2)...]) != nil
        else { return nil }
        let order = String(id[..<slash])
        return order.isEmpty ? nil : order
    }

    /// Still waiting for the customer at `nowMs`: its lines are taken (`CANCELLATION_PENDING`).
    /// A locked request (too many wrong tokens) holds nothing, even one stored before LOCKED was a
    /// state of its own.
    public func isPending(at nowMs: Int64) -> Bool {
        lifecycle.state == .pendingConfirmation && nowMs < lifecycle.expiresAtMs
            && lifecycle.failedAttempts < CancellationStateMachine.defaultMaxFailedAttempts
    }

    /// The lines it covers, for the pending check (components of a requested bundle included).
    public func coveredLineIDs(in order: Order) -> Set<String> {
        var ids = Set(lines.map(\.lineID))
        for line in order.lines where line.parentLineID.map(ids.contains) == true { ids.insert(line.id) }
        return ids
    }
}

/// A message for the customer (SPEC section 9): it goes to their portal inbox and, when `email` is
/// set, by email (through the notification outbox, written in the same transaction).
public struct PortalNotification: Sendable, Hashable, Codable {
    public var accountID: String
    public var cancellationID: String
    public var kind: String
    public var subject: String
    public var body: String
    public var email: String
    /// The confirmation token `body` carries, if any: storage keeps it sealed, never in plaintext,
    /// and puts it back into the body when the message is read or sent.
    public var token: String?

    public init(
        accountID: String,
        cancellationID: String,
        kind: String,
        subject: String,
        body: String,
        email: String = "",
        token: String? = nil
    ) {
        self.accountID = accountID
        self.cancellationID = cancellationID
        self.kind = kind
        self.subject = subject
        self.body = body
        self.email = email
        self.token = token
    }
}

/// The one refund of a confirmed cancellation (SPEC section 5: one per confirmed request, ever).
public struct Refund: Sendable, Hashable, Codable {
    public var refundID: String
    public var cancellationID: String
    public var orderID: String
    public var amount: Int64
    public var currency: String
    public var allocations: [TenderAllocation]
    public var createdMs: Int64

    public init(
        refundID: String,
        cancellationID: String,
        orderID: String,
        amount: Int64,
        currency: String,
        allocations: [TenderAllocation],
        createdMs: Int64
    ) {
        self.refundID = refundID
        self.cancellationID = cancellationID
        self.orderID = orderID
        self.amount = amount
        self.currency = currency
        self.allocations = allocations
        self.createdMs = createdMs
    }
}

extension Cancellation {
    /// Whether two quotes promise the customer the same: the same refund per line, shipping,
    /// deductions and per tender. (Order versions and the totals of the rest of the order may differ.)
    public static func samePromise(_ a: Quote, _ b: Quote) -> Bool {
        a.lines == b.lines && a.shippingRefund == b.shippingRefund && a.deductions == b.deductions
            && a.waived == b.waived
            && a.adjustmentsReleased == b.adjustmentsReleased && a.refundTotal == b.refundTotal
            && a.tenders == b.tenders && a.units == b.units
    }

    /// The stock a confirmed quote gives back: each cancelled unit of every line that holds stock.
    public static func releases(_ quote: Quote, cancellationID: String, order: Order) -> [StockChange] {
        order.lines.compactMap { line in
            guard let units = quote.units[line.id], units > 0, line.holdsStock(in: order),
                let fulfilment = line.fulfilment
            else { return nil }
            return StockChange(
                id: "\(cancellationID)/release/\(line.id)",
                kind: .release,
                sku: line.sku,
                location: fulfilment.location,
                quantity: units,
                orderID: order.id,
                lineID: line.id
            )
        }
    }
}

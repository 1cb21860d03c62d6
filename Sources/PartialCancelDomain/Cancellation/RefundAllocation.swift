/// One tender allocation of a refund as an instruction to a payment service (docs/PAYMENTS.md):
/// sent once per id (the service's idempotency key), PENDING until its result, then SUCCEEDED or
/// FAILED with the service's reason.
public struct RefundAllocation: Sendable, Hashable, Codable {
    public enum State: String, Sendable, Hashable, Codable, CaseIterable {
        case pending = "PENDING"
        case succeeded = "SUCCEEDED"
        case failed = "FAILED"
    }

    /// What became of a FAILED allocation (config `payments.fallback`).
    public enum Fallback: String, Sendable, Hashable, Codable {
        /// Nothing yet (not failed).
        case none = ""
        /// The amount went to the customer as store credit: another allocation, `…/credit`.
        case storeCredit = "STORE_CREDIT"
        /// A person must handle it (the exception desks route such cases).
        case person = "CASE"
    }

    /// `ORDER_ID/REFUND_ID/TENDER_ID` (a store-credit fallback: the failed one's id and `/credit`).
    public var id: String
    public var refundID: String
    public var orderID: String
    public var cancellationID: String
    /// The tender, or `store-credit`.
    public var tenderID: String
    public var method: TenderAllocation.Method
    public var amount: Int64
    public var currency: String
    public var state: State
    /// FAILED: the payment service's reason.
    public var reason: String
    /// The service took the instruction and will send its result later (RecordRefundResult).
    public var accepted: Bool
    public var fallback: Fallback
    /// A fallback allocation: the id of the FAILED one it stands in for.
    public var replaces: String
    public var createdMs: Int64
    public var updatedMs: Int64

    public init(
        id: String,
        refundID: String,
        orderID: String,
        cancellationID: String,
        tenderID: String,
        method: TenderAllocation.Method,
        amount: Int64,
        currency: String,
        state: State = .pending,
        reason: String = "",
        accepted: Bool = false,
        fallback: Fallback = .none,
        replaces: String = "",
        createdMs: Int64,
        updatedMs: Int64
    ) {
        self.id = id
        self.refundID = refundID
        self.orderID = orderID
        self.cancellationID = cancellationID
        self.tenderID = tenderID
        self.method = method
        self.amount = amount
        self.currency = currency
        self.state = state
        self.reason = reason
        self.accepted = accepted
        self.fallback = fallback
        self.replaces = replaces
        self.createdMs = createdMs
        self.updatedMs = updatedMs
    }

    /// The instructions a refund makes: one per allocation that moves money (amount above 0).
    public static func allocations(of refund: Refund) -> [RefundAllocation] {
        refund.allocations.filter { $0.amount > 0 }.map { allocation in
            RefundAllocation(
                id: "\(refund.orderID)/\(refund.refundID)/\(allocation.tenderID)",
                refundID: refund.refundID,
                orderID: refund.orderID,
                cancellationID: refund.cancellationID,
                tenderID: allocation.tenderID,
                method: allocation.method,
                amount: allocation.amount,
                currency: refund.currency,
                createdMs: refund.createdMs,
                updatedMs: refund.createdMs
            )
        }
    }

    /// The order id inside an allocation id, if it is one.
    public static func orderID(fromAllocationID id: String) -> String? {
        let parts = id.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 3, !parts[0].isEmpty, parts[1].hasPrefix("rf_") else { return nil }
        return String(parts[0])
    }
}

/// What a payment result does to its allocation (pure; docs/PAYMENTS.md).
public enum PaymentSettlement: Sendable, Hashable {
    /// The allocation settled now, with its history entry, and for a FAILED one the store-credit
    /// allocation that stands in for it (when the fallback is store credit).
    case settled(RefundAllocation, HistoryRecord, replacement: RefundAllocation?)
    /// The same result was recorded before: nothing changes.
    case duplicate(RefundAllocation)
    /// The opposite result was recorded before: refused.
    case conflict(RefundAllocation)

    /// `allocation` after its payment service answered `succeeded` (or failed with `reason`).
    public static func settle(
        _ allocation: RefundAllocation,
        succeeded: Bool,
        reason: String,
        fallback: RefundAllocation.Fallback,
        nowMs: Int64
    ) -> PaymentSettlement {
        let result: RefundAllocation.State = succeeded ? .succeeded : .failed
        guard allocation.state == .pending else {
            return allocation.state == result ? .duplicate(allocation) : .conflict(allocation)
        }
        var settled = allocation
        settled.state = result
        settled.reason = succeeded ? "" : reason
        settled.accepted = false
        settled.updatedMs = nowMs
        var replacement: RefundAllocation?
        if !succeeded {
            // Store credit cannot fall back to itself: a failed credit goes to a person.
            settled.fallback = fallback == .storeCredit && allocation.method != .storeCredit ? .storeCredit : .person
            if settled.fallback == .storeCredit {
                replacement = RefundAllocation(
                    id: "\(allocation.id)/credit",
                    refundID: allocation.refundID,
                    orderID: allocation.orderID,
                    cancellationID: allocation.cancellationID,
                    tenderID: "store-credit",
                    method: .storeCredit,
                    amount: allocation.amount,
                    currency: allocation.currency,
                    replaces: allocation.id,
                    createdMs: nowMs,
                    updatedMs: nowMs
                )
            }
        }
        return .settled(settled, .refundAllocationSettled(allocation, settled), replacement: replacement)
    }
}

extension HistoryRecord {
    /// A payment service's result for one allocation: `REFUND_ALLOCATION_SUCCEEDED` or `_FAILED`.
    public static func refundAllocationSettled(_ before: RefundAllocation, _ after: RefundAllocation) -> HistoryRecord {
        var detail = "\(after.amount) \(after.currency) \(after.method.rawValue) to \(after.tenderID)"
        if after.state == .failed {
            detail += ", reason: \(after.reason)"
            switch after.fallback {
            case .storeCredit: detail += "; refunded as store credit instead (\(after.id)/credit)"
            case .person: detail += "; a person must handle it"
            case .none: break
            }
        }
        return HistoryRecord(
            event: "REFUND_ALLOCATION_\(after.state.rawValue)",
            subject: after.id,
            from: before.state.rawValue,
            to: after.state.rawValue,
            detail: detail
        )
    }
}

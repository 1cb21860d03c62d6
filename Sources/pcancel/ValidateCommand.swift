import ArgumentParser
import Foundation
import PartialCancelClient
import PartialCancelDomain
import PartialCancelWire

/// `LINE` or `LINE:QUANTITY`.
struct LineArgument: ExpressibleByArgument {
    var line: CancelLine

    init?(argument: String) {
        // Empty parts are kept: "L1:" (a typo for "L1:2") and ":1" are refused, not read as
        // "all remaining units of L1" or as a line named "1".
        let parts = argument.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let id = parts.first, !id.isEmpty else { return nil }
        if parts.count == 2 {
            guard let quantity = Int64(parts[1]), quantity >= 1 else { return nil }
            line = CancelLine(lineID: id, quantity: quantity)
        } else {
            line = CancelLine(lineID: id)
        }
    }
}

struct ValidateCommand: ServerCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract:
            "May these lines be cancelled now? Each line's verdict with reasons, and the refund quote. No side effects.",
        discussion: "Exits 0 when the call succeeds, eligible or not; --json has \"eligible\"."
    )

    @OptionGroup var local: ConnectionOptions
    @ParentCommand var root: PCancelCommand
    @Argument(help: "Order id, e.g. web-W-1001.") var order: String
    @Option(name: .long, help: "LINE or LINE:QUANTITY (all remaining units when no quantity); repeat for more lines.")
    var line: [LineArgument] = []
    @Flag(name: .long, help: "Quote the whole refund as store credit.") var storeCredit = false
    @Option(name: .long, help: "Customer account a portal key acts for.") var onBehalfOf: String?

    func validate() throws {
        guard !line.isEmpty else { throw ValidationError("name at least one --line LINE[:QUANTITY]") }
    }

    func run() async throws {
        try await connection.withClient { client in
            let request = ValidateEligibilityRequest(orderID: order, lines: line.map(\.line), storeCredit: storeCredit)
            let response = try await client.call(
                Methods.validateEligibility,
                request,
                as: ValidateEligibilityResponse.self,
                metadata: Metadata(onBehalfOf: onBehalfOf ?? "")
            )
            if connection.json {
                var object: [String: Any] = [
                    "order_id": order, "eligible": response.eligible,
                    "lines": response.lines.map { line in
                        [
                            "line_id": line.lineID, "quantity": line.quantity, "eligible": line.eligible,
                            "reasons": line.reasons.map { ["code": $0.code, "rule": $0.rule, "detail": $0.detail] },
                        ] as [String: Any]
                    },
                ]
                if let quote = response.quote { object["quote"] = QuoteOutput.json(quote) }
                Output.json(object)
            } else {
                print("order \(order): \(response.eligible ? "eligible" : "not eligible")")
                for line in response.lines {
                    let units = "\(line.quantity) unit\(line.quantity == 1 ? "" : "s")"
                    if line.eligible {
                        print(
                            "  \(line.lineID.padding(toLength: 6, withPad: " ", startingAt: 0)) \(units.padding(toLength: 9, withPad: " ", startingAt: 0)) eligible"
                        )
                    }
                    for reason in line.reasons {
                        print(
                            "  \(line.lineID.padding(toLength: 6, withPad: " ", startingAt: 0)) \(units.padding(toLength: 9, withPad: " ", startingAt: 0)) \(reason.code) (rule \(reason.rule))\(reason.detail.isEmpty ? "" : ": \(reason.detail)")"
                        )
                    }
                }
                if let quote = response.quote { QuoteOutput.print(quote) }
            }
        }
    }
}

enum QuoteOutput {
    static func print(_ q: QuoteView) {
        let money = { (minor: Int64) in Currency.format(minor, code: q.currency) }
        Swift.print("quote (\(q.policy), order version \(q.orderVersion), \(q.currency)):")
        for line in q.lines where line.viaBundle.isEmpty {
            Swift.print(
                "  \(line.lineID.padding(toLength: 6, withPad: " ", startingAt: 0)) ×\(line.quantity)  net \(money(line.net).leftPad(9))  tax \(money(line.tax).leftPad(8))"
            )
        }
        if q.shippingRefund > 0 { Swift.print("  shipping        \(money(q.shippingRefund).leftPad(9))") }
        for d in q.deductions { Swift.print("  deduction \(d.code) \(d.subject): -\(money(d.amount))") }
        if q.waived > 0 { Swift.print("  waived (not charged): \(money(q.waived))") }
        if q.adjustmentsReleased > 0 { Swift.print("  earlier deductions returned: \(money(q.adjustmentsReleased))") }
        Swift.print(
            "  refund \(money(q.refundTotal)): "
                + q.tenders.map { "\($0.tenderID) \($0.method) \(money($0.amount))" }.joined(separator: ", ")
        )
        Swift.print("  order total after: \(money(q.newTotals.total))")
    }

    static func json(_ q: QuoteView) -> [String: Any] {
        [
            "order_id": q.orderID, "order_version": q.orderVersion, "currency": q.currency, "policy": q.policy,
            "as_of_ms": q.asOfMs,
            "lines": q.lines.map {
                [
                    "line_id": $0.lineID, "quantity": $0.quantity, "net": $0.net, "tax": $0.tax,
                    "via_bundle": $0.viaBundle,
                ] as [String: Any]
            },
            "shipping_refund": q.shippingRefund,
            "deductions": q.deductions.map {
                ["code": $0.code, "subject": $0.subject, "amount": $0.amount] as [String: Any]
            },
            "waived": q.waived, "adjustments_released": q.adjustmentsReleased, "refund_total": q.refundTotal,
            "tenders": q.tenders.map {
                ["tender_id": $0.tenderID, "method": $0.method, "amount": $0.amount] as [String: Any]
            },
            "new_total": q.newTotals.total,
        ]
    }
}

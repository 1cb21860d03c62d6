import ArgumentParser
import Foundation
import PartialCancelClient
import PartialCancelDomain
import PartialCancelWire

struct RefundCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refund",
        abstract: "Refunds on their way to the payment service (docs/PAYMENTS.md).",
        subcommands: [Result.self]
    )

    struct Result: ServerCommand {
        static let configuration = CommandConfiguration(
            abstract: "Records a payment service's result for a refund allocation it settles later.",
            discussion: """
                ALLOCATION is an id as `pcancel order get` lists it (ORDER_ID/REFUND_ID/TENDER_ID). A result is \
                recorded once: the same one again is a duplicate, the other one is refused. A FAILED allocation \
                gets the server's fallback (store credit, or a case for a person).
                """
        )
        @OptionGroup var local: ConnectionOptions
        @ParentCommand var root: PCancelCommand
        @Argument(help: "The allocation's id.") var allocation: String
        @Flag(name: .long, help: "The payment service moved the money.") var succeeded = false
        @Option(name: .long, help: "The payment service failed it, for this reason.") var failed: String?

        func validate() throws {
            guard succeeded != (failed != nil) else {
                throw ValidationError("give exactly one of --succeeded and --failed REASON")
            }
        }

        func run() async throws {
            try await connection.withClient { client in
                let response = try await client.call(
                    Methods.recordRefundResult,
                    RecordRefundResultRequest(
                        allocationID: allocation,
                        result: succeeded ? "SUCCEEDED" : "FAILED",
                        reason: failed ?? ""
                    ),
                    as: RecordRefundResultResponse.self
                )
                if connection.json {
                    var object: [String: Any] = [
                        "allocation": RefundCommand.json(response.allocation), "duplicate": response.duplicate,
                    ]
                    if let replacement = response.replacement {
                        object["replacement"] = RefundCommand.json(replacement)
                    }
                    Output.json(object)
                } else {
                    if response.duplicate { Swift.print("recorded before; nothing changed") }
                    RefundCommand.print(
                        [response.allocation] + (response.replacement.map { [$0] } ?? []),
                        currency: response.allocation.currency
                    )
                }
            }
        }
    }

    /// An order's payments, one line each.
    static func print(_ payments: [RefundAllocationView], currency: String) {
        guard !payments.isEmpty else { return }
        Swift.print("payments:")
        for payment in payments {
            var line =
                "  \(payment.id)  \(payment.method) \(Currency.format(payment.amount, code: currency)) to \(payment.tenderID)  \(payment.state)"
            if payment.state == "PENDING" && payment.accepted { line += " (accepted; waiting for the result)" }
            if !payment.reason.isEmpty { line += "  reason: \(payment.reason)" }
            switch payment.fallback {
            case "STORE_CREDIT": line += "  → store credit instead"
            case "CASE": line += "  → a person handles it"
            default: break
            }
            Swift.print(line)
        }
    }

    static func json(_ payment: RefundAllocationView) -> [String: Any] {
        [
            "id": payment.id, "refund_id": payment.refundID, "cancellation_id": payment.cancellationID,
            "tender_id": payment.tenderID, "method": payment.method, "amount": payment.amount,
            "currency": payment.currency, "state": payment.state, "reason": payment.reason,
            "accepted": payment.accepted, "fallback": payment.fallback, "replaces": payment.replaces,
            "created_ms": payment.createdMs, "updated_ms": payment.updatedMs,
        ]
    }
}

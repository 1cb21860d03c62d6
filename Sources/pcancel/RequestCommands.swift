import ArgumentParser
import Foundation
import PartialCancelClient
import PartialCancelDomain
import PartialCancelWire

struct RequestCommand: ServerCommand {
    static let configuration = CommandConfiguration(
        commandName: "request",
        abstract:
            "Requests a cancellation: re-validates, records it with its binding quote, and sends the customer a confirmation token."
    )

    @OptionGroup var local: ConnectionOptions
    @ParentCommand var root: PCancelCommand
    @Argument(help: "Order id, e.g. web-W-1001.") var order: String
    @Option(name: .long, help: "LINE or LINE:QUANTITY; repeat for more lines.") var line: [LineArgument] = []
    @Option(name: .long, help: "Why, e.g. ADDED_BY_MISTAKE.") var reason: String
    @Flag(name: .long, help: "Refund everything as store credit.") var storeCredit = false
    @Option(name: .long, help: "Customer account a portal key acts for.") var onBehalfOf: String?

    func validate() throws {
        guard !line.isEmpty else { throw ValidationError("name at least one --line LINE[:QUANTITY]") }
    }

    func run() async throws {
        try await connection.withClient { client in
            let request = RequestCancellationRequest(
                orderID: order,
                lines: line.map(\.line),
                reasonCode: reason,
                storeCredit: storeCredit
            )
            let response = try await client.call(
                Methods.requestCancellation,
                request,
                as: RequestCancellationResponse.self,
                metadata: Metadata(onBehalfOf: onBehalfOf ?? "")
            )
            CancellationOutput.print(response.cancellation, json: connection.json)
        }
    }
}

struct CancellationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancellation",
        abstract: "Shows cancellation requests.",
        subcommands: [Get.self]
    )

    struct Get: ServerCommand {
        static let configuration = CommandConfiguration(
            abstract: "Shows a cancellation request: state, lines, quote, expiry."
        )
        @OptionGroup var local: ConnectionOptions
        @ParentCommand var root: PCancelCommand
        @Argument(help: "Cancellation id, e.g. web-W-1001/c1.") var id: String
        @Option(name: .long, help: "Customer account a portal key acts for.") var onBehalfOf: String?

        func run() async throws {
            try await connection.withClient { client in
                let response = try await client.call(
                    Methods.getCancellation,
                    GetCancellationRequest(id: id),
                    as: GetCancellationResponse.self,
                    metadata: Metadata(onBehalfOf: onBehalfOf ?? "")
                )
                CancellationOutput.print(response, json: connection.json)
            }
        }
    }
}

struct NotificationsCommand: ServerCommand {
    static let configuration = CommandConfiguration(
        commandName: "notifications",
        abstract: "A customer's portal inbox, newest first (needs a portal key acting for the account)."
    )
    @OptionGroup var local: ConnectionOptions
    @ParentCommand var root: PCancelCommand
    @Option(name: .long, help: "The customer account.") var account: String
    @Option(name: .long) var limit: UInt32 = 20

    func run() async throws {
        try await connection.withClient { client in
            let response = try await client.call(
                Methods.listNotifications,
                ListNotificationsRequest(limit: limit),
                as: ListNotificationsResponse.self,
                metadata: Metadata(onBehalfOf: account)
            )
            if connection.json {
                Output.json([
                    "notifications": response.notifications.map {
                        [
                            "id": $0.id, "account_id": $0.accountID, "cancellation_id": $0.cancellationID,
                            "kind": $0.kind,
                            "subject": $0.subject, "body": $0.body, "created_ms": $0.createdMs,
                        ] as [String: Any]
                    }
                ])
            } else if response.notifications.isEmpty {
                print("no notifications for \(account)")
            } else {
                for n in response.notifications {
                    print("\(n.id)  \(n.kind)  \(n.subject)")
                    for line in n.body.split(separator: "\n") { print("    \(line)") }
                }
            }
        }
    }
}

enum CancellationOutput {
    /// GetCancellation's answer: the request, and for a settled one its refund, payments and waits.
    static func print(_ response: GetCancellationResponse, json: Bool) {
        let c = response.cancellation
        guard !json else {
            var object = object(c)
            if let refund = response.refund {
                object["refund"] = [
                    "refund_id": refund.refundID, "amount": refund.amount, "currency": refund.currency,
                    "created_ms": refund.createdMs,
                ]
            }
            object["payments"] = response.payments.map(RefundCommand.json)
            object["waits_for"] = response.waitsFor.map {
                [
                    "line_id": $0.lineID, "sku": $0.sku, "location": $0.location, "quantity": $0.quantity,
                    "since_ms": $0.sinceMs,
                ] as [String: Any]
            }
            Output.json(object)
            return
        }
        print(c, json: false)
        Swift.print("created \(RFC3339.format(c.createdMs)), last changed \(RFC3339.format(c.updatedMs))")
        if let refund = response.refund {
            Swift.print(
                "refund \(refund.refundID): \(Currency.format(refund.amount, code: refund.currency)) \(refund.currency), confirmed \(RFC3339.format(refund.createdMs))"
            )
        }
        for wait in response.waitsFor {
            Swift.print(
                "waits for the stock release of \(wait.lineID) (\(wait.sku) ×\(wait.quantity) at \(wait.location)), since \(RFC3339.format(wait.sinceMs))"
            )
        }
        RefundCommand.print(response.payments, currency: response.refund?.currency ?? c.quote.currency)
    }

    static func object(_ c: CancellationView) -> [String: Any] {
        [
            "id": c.id, "order_id": c.orderID, "state": c.state, "reason_code": c.reasonCode, "actor": c.actor,
            "store_credit": c.storeCredit,
            "lines": c.lines.map { ["line_id": $0.lineID, "quantity": $0.quantity] as [String: Any] },
            "quote": QuoteOutput.json(c.quote), "expires_at_ms": c.expiresAtMs, "created_ms": c.createdMs,
            "updated_ms": c.updatedMs,
            "failed_attempts": c.failedAttempts,
        ]
    }

    static func print(_ c: CancellationView, json: Bool) {
        if json {
            Output.json(object(c))
        } else {
            Swift.print("cancellation \(c.id)  \(c.state)  reason \(c.reasonCode)  by \(c.actor)")
            Swift.print(
                "lines: "
                    + c.lines.map { "\($0.lineID)\($0.quantity > 0 ? ":\($0.quantity)" : "")" }.joined(separator: ", ")
            )
            QuoteOutput.print(c.quote)
            switch c.state {
            case "PENDING_CONFIRMATION":
                Swift.print(
                    "confirmation token sent to the customer; valid until \(RFC3339.format(c.expiresAtMs))"
                )
                if c.failedAttempts > 0 {
                    let left = max(0, CancellationStateMachine.defaultMaxFailedAttempts - Int(c.failedAttempts))
                    Swift.print(
                        "\(c.failedAttempts) wrong tokens so far; \(left) \(left == 1 ? "try" : "tries") left before it locks"
                    )
                }
            case "LOCKED":
                Swift.print("locked after \(c.failedAttempts) wrong tokens: its lines are free for a new request")
            case "WITHDRAWN":
                Swift.print("withdrawn: its lines are free for a new request")
            default:
                break
            }
        }
    }
}

struct ConfirmCommand: ServerCommand {
    static let configuration = CommandConfiguration(
        commandName: "confirm",
        abstract: "Confirms a cancellation with the customer's token: units cancelled, one refund, stock released."
    )
    @OptionGroup var local: ConnectionOptions
    @ParentCommand var root: PCancelCommand
    @Argument(help: "Cancellation id, e.g. web-W-1001/c1.") var cancellation: String
    @Option(name: .long, help: "The customer's one-time token.") var token: String
    @Option(name: .long, help: "Customer account a portal key acts for.") var onBehalfOf: String?

    func run() async throws {
        try await connection.withClient { client in
            let response = try await client.call(
                Methods.confirmCancellation,
                ConfirmCancellationRequest(id: cancellation, token: token),
                as: ConfirmCancellationResponse.self,
                metadata: Metadata(onBehalfOf: onBehalfOf ?? "")
            )
            if connection.json {
                var object: [String: Any] = [
                    "cancellation_id": response.cancellation.id, "state": response.cancellation.state,
                    "earlier": response.earlier,
                ]
                if let refund = response.refund {
                    object["refund"] = [
                        "refund_id": refund.refundID, "amount": refund.amount, "currency": refund.currency,
                        "allocations": refund.allocations.map {
                            ["tender_id": $0.tenderID, "method": $0.method, "amount": $0.amount] as [String: Any]
                        },
                    ]
                }
                if let order = response.order { object["order"] = OrderJSON.order(order) }
                Output.json(object)
            } else {
                if response.earlier, let refund = response.refund {
                    print(
                        "cancellation \(response.cancellation.id): \(response.cancellation.state) (already confirmed at \(RFC3339.format(refund.createdMs)); nothing was done again)"
                    )
                } else {
                    print("cancellation \(response.cancellation.id): \(response.cancellation.state)")
                }
                if let refund = response.refund {
                    print(
                        "refund \(refund.refundID): \(Currency.format(refund.amount, code: refund.currency)) \(refund.currency) — "
                            + refund.allocations.map {
                                "\($0.tenderID) \($0.method) \(Currency.format($0.amount, code: refund.currency))"
                            }.joined(separator: ", ")
                    )
                }
                if let order = response.order { OrderText.print(order, history: []) }
            }
        }
    }
}

struct DeclineCommand: ServerCommand {
    static let configuration = CommandConfiguration(
        commandName: "decline",
        abstract: "Declines a cancellation with the customer's token: nothing changes."
    )
    @OptionGroup var local: ConnectionOptions
    @ParentCommand var root: PCancelCommand
    @Argument(help: "Cancellation id.") var cancellation: String
    @Option(name: .long, help: "The customer's one-time token.") var token: String
    @Option(name: .long, help: "Customer account a portal key acts for.") var onBehalfOf: String?

    func run() async throws {
        try await connection.withClient { client in
            let response = try await client.call(
                Methods.declineCancellation,
                DeclineCancellationRequest(id: cancellation, token: token),
                as: DeclineCancellationResponse.self,
                metadata: Metadata(onBehalfOf: onBehalfOf ?? "")
            )
            if connection.json {
                Output.json(["cancellation_id": response.cancellation.id, "state": response.cancellation.state])
            } else {
                print("cancellation \(response.cancellation.id): \(response.cancellation.state)")
            }
        }
    }
}

struct ReleaseCommand: ServerCommand {
    static let configuration = CommandConfiguration(
        commandName: "release",
        abstract: "Re-drives a confirmed cancellation's stock release (idempotent) and shows the pools now."
    )
    @OptionGroup var local: ConnectionOptions
    @ParentCommand var root: PCancelCommand
    @Argument(help: "Cancellation id.") var cancellation: String

    func run() async throws {
        try await connection.withClient { client in
            let response = try await client.call(
                Methods.releaseInventory,
                ReleaseInventoryRequest(id: cancellation),
                as: ReleaseInventoryResponse.self
            )
            if connection.json {
                Output.json([
                    "cancellation_id": response.cancellation.id, "state": response.cancellation.state,
                    "complete": response.complete,
                    "released": response.released.map {
                        [
                            "line_id": $0.lineID, "sku": $0.sku, "location": $0.location, "quantity": $0.quantity,
                            "on_hand": $0.pool.onHand, "reserved": $0.pool.reserved, "available": $0.pool.available,
                        ] as [String: Any]
                    },
                ])
            } else {
                print(
                    "cancellation \(response.cancellation.id): \(response.cancellation.state)\(response.complete ? "" : " (releases still in flight)")"
                )
                if response.released.isEmpty { print("no stock to release") }
                for r in response.released {
                    print(
                        "  \(r.lineID): \(r.quantity) × \(r.sku) back at \(r.location) — available now \(r.pool.available) (on hand \(r.pool.onHand), reserved \(r.pool.reserved))"
                    )
                }
            }
        }
    }
}

struct WithdrawCommand: ServerCommand {
    static let configuration = CommandConfiguration(
        commandName: "withdraw",
        abstract:
            "Withdraws a pending or locked cancellation request (agent, admin): its token stops working and its lines are free again."
    )
    @OptionGroup var local: ConnectionOptions
    @ParentCommand var root: PCancelCommand
    @Argument(help: "Cancellation id, e.g. web-W-1001/c1.") var cancellation: String
    @Option(name: .long, help: "Why (recorded in the order's history).") var reason: String

    func run() async throws {
        try await connection.withClient { client in
            let response = try await client.call(
                Methods.withdrawCancellation,
                WithdrawCancellationRequest(id: cancellation, reason: reason),
                as: WithdrawCancellationResponse.self
            )
            if connection.json {
                Output.json(["cancellation_id": response.cancellation.id, "state": response.cancellation.state])
            } else {
                print(
                    "cancellation \(response.cancellation.id): \(response.cancellation.state); the customer has been told"
                )
            }
        }
    }
}

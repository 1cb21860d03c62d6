import ArgumentParser
import Foundation
import NIOCore
import PartialCancelClient
import PartialCancelDomain
import PartialCancelWire

struct OrderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "order",
        abstract: "Ingests and shows orders.",
        subcommands: [Ingest.self, Get.self, History.self, IngestBench.self]
    )

    struct IngestBench: ServerCommand {
        static let configuration = CommandConfiguration(
            commandName: "ingest-bench",
            abstract: "Measures intake: ingests copies of a channel's sample order under fresh external ids.",
            discussion:
                "Each call ingests the sample payload of --channel (SPEC appendix A for web) with its external id replaced by PREFIX-N, keeping --concurrency calls in flight on one connection."
        )
        @OptionGroup var local: ConnectionOptions
        @ParentCommand var root: PCancelCommand
        @Option(name: .long, help: "Channel: web, marketplace or callcenter.") var channel: String = "web"
        @Option(name: .long, help: "Orders to ingest.") var count: Int = 1000
        @Option(name: .long, help: "Calls in flight.") var concurrency: Int = 32
        @Option(name: .long, help: "External id prefix (default: a random one, so that every run creates new orders).")
        var prefix: String?

        func validate() throws {
            guard count >= 1, (1...10_000).contains(concurrency) else {
                throw ValidationError("--count must be ≥ 1 and --concurrency 1...10000")
            }
            guard SampleData.payloads[channel] != nil else {
                throw ValidationError("--channel must be web, marketplace or callcenter")
            }
        }

        func run() async throws {
            let (template, placeholder) = SampleData.payloads[channel]!
            let prefix = self.prefix ?? "B\(UInt32.random(in: 0 ... .max))"
            let channel = self.channel
            let deadline = TimeAmount.nanoseconds(Int64(connection.deadlineSeconds * 1e9))
            try await connection.withClient { client in
                let summary = try await ClosedLoop.run(
                    client: client,
                    count: count,
                    concurrency: concurrency,
                    deadline: deadline
                ) { index in
                    let payload = template.replacingOccurrences(of: placeholder, with: "\(prefix)-\(index)")
                    return (
                        Methods.ingestOrder,
                        IngestOrderRequest(channel: channel, payload: ByteBuffer(string: payload)).encoded()
                    )
                }
                if let failure = summary.firstFailure, summary.ok == 0 { throw ClientError(failure) }
                summary.report(
                    title: "ingest \(channel) \(connection.address)",
                    json: connection.json,
                    fields: ["server": connection.address, "channel": channel, "concurrency": concurrency]
                )
                if summary.failed > 0 { throw ExitCode(1) }
            }
        }
    }

    /// The sample payloads, and the external id in each to replace.
    enum SampleData {
        static let payloads: [String: (String, String)] = [
            "web": (SamplePayloads.web, "W-1001"),
            "marketplace": (SamplePayloads.marketplace, "MP-5001"),
            "callcenter": (SamplePayloads.callcenter, "CC-3001"),
        ]
    }

    struct Ingest: ServerCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ingests a channel's JSON payload (idempotent on the channel's order id)."
        )
        @OptionGroup var local: ConnectionOptions
        @ParentCommand var root: PCancelCommand
        @Option(name: .long, help: "Channel: web, marketplace or callcenter.") var channel: String
        @Option(name: .long, help: "File with the payload; - for standard input.") var file: String

        func run() async throws {
            let data = try PayloadFile.read(file)
            try await connection.withClient { client in
                let response = try await client.call(
                    Methods.ingestOrder,
                    IngestOrderRequest(channel: channel, payload: ByteBuffer(bytes: data)),
                    as: IngestOrderResponse.self
                )
                if connection.json {
                    Output.json(["created": response.created, "order": OrderJSON.order(response.order)])
                } else {
                    print(
                        response.created
                            ? "ingested \(response.order.id)" : "already ingested: \(response.order.id) (unchanged)"
                    )
                    OrderText.print(response.order, history: [])
                }
            }
        }
    }

    struct Get: ServerCommand {
        static let configuration = CommandConfiguration(
            abstract: "Shows an order: lines, totals, statuses, version and history."
        )
        @OptionGroup var local: ConnectionOptions
        @ParentCommand var root: PCancelCommand
        @OptionGroup var order: OrderArguments

        func run() async throws {
            try await connection.withClient { client in
                let response = try await order.fetch(client)
                if connection.json {
                    Output.json([
                        "order": OrderJSON.order(response.order), "history": response.history.map(OrderJSON.history),
                        "payments": response.payments.map(RefundCommand.json),
                    ])
                } else {
                    OrderText.print(response.order, history: response.history)
                    RefundCommand.print(response.payments, currency: response.order.currency)
                }
            }
        }
    }
}

/// The order a command is about, and the customer account a portal key acts for.
struct OrderArguments: ParsableArguments {
    @Argument(help: "Order id, e.g. web-W-1001.") var id: String
    @Option(name: .long, help: "Customer account a portal key acts for.") var onBehalfOf: String?

    var metadata: Metadata { Metadata(onBehalfOf: onBehalfOf ?? "") }

    func fetch(_ client: PartialCancelClient) async throws -> GetOrderResponse {
        try await client.call(
            Methods.getOrder,
            GetOrderRequest(orderID: id),
            as: GetOrderResponse.self,
            metadata: metadata
        )
    }
}

extension OrderCommand {
    struct History: ServerCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Shows an order's audit trail: every change of the order, its cancellation requests and refunds, with actor, time, old → new."
        )
        @OptionGroup var local: ConnectionOptions
        @ParentCommand var root: PCancelCommand
        @OptionGroup var order: OrderArguments

        func run() async throws {
            try await connection.withClient { client in
                let response = try await order.fetch(client)
                if connection.json {
                    Output.json(["order_id": response.order.id, "history": response.history.map(OrderJSON.history)])
                } else {
                    Swift.print(
                        "history of \(response.order.id) (now \(response.order.status), version \(response.order.version))"
                    )
                    for h in response.history {
                        Swift.print("#\(h.seq) \(HistoryText.timestamp(h.atMs)) \(HistoryText.line(h))")
                    }
                }
            }
        }
    }
}

struct StockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stock",
        abstract: "Sets and shows stock pools.",
        subcommands: [Put.self, Get.self]
    )

    struct Put: ServerCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sets the on-hand count of a pool (reservations are kept)."
        )
        @OptionGroup var local: ConnectionOptions
        @ParentCommand var root: PCancelCommand
        @Argument var sku: String
        @Argument var location: String
        @Argument(help: "Units on hand.") var onHand: Int64

        func run() async throws {
            try await connection.withClient { client in
                let response = try await client.call(
                    Methods.putStock,
                    PutStockRequest(sku: sku, location: location, onHand: onHand),
                    as: PutStockResponse.self
                )
                StockOutput.print([response.pool], json: connection.json)
            }
        }
    }

    struct Get: ServerCommand {
        static let configuration = CommandConfiguration(abstract: "Shows a sku's pools: on hand, reserved, available.")
        @OptionGroup var local: ConnectionOptions
        @ParentCommand var root: PCancelCommand
        @Argument var sku: String
        @Argument(help: "Only this location.") var location: String?

        func run() async throws {
            try await connection.withClient { client in
                let response = try await client.call(
                    Methods.getStock,
                    GetStockRequest(sku: sku, location: location ?? ""),
                    as: GetStockResponse.self
                )
                StockOutput.print(response.pools, json: connection.json)
            }
        }
    }
}

struct DeadLetterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "Lists, reads, re-drives and discards dead letters (refused intake payloads, undeliverable emails).",
        subcommands: [List.self, Get.self, Redrive.self, Discard.self]
    )

    struct List: ServerCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open dead letters, highest priority first, a page at a time."
        )
        @OptionGroup var local: ConnectionOptions
        @ParentCommand var root: PCancelCommand
        @Option(name: .long, help: "Letters per page (0: the server's page size).") var limit: UInt32 = 0
        @Option(name: .long, help: "Continue after this page (next_cursor of the previous one).") var cursor: String =
            ""
        @Flag(name: .long, help: "Follow the cursors through every page.") var all = false

        func run() async throws {
            try await connection.withClient { client in
                var letters: [DeadLetterView] = []
                var cursor = self.cursor
                repeat {
                    let response = try await client.call(
                        Methods.listDeadLetters,
                        ListDeadLettersRequest(limit: limit, cursor: cursor),
                        as: ListDeadLettersResponse.self
                    )
                    letters += response.deadLetters
                    cursor = response.nextCursor
                } while all && !cursor.isEmpty
                if connection.json {
                    Output.json(["dead_letters": letters.map(OrderJSON.deadLetter), "next_cursor": cursor])
                } else if letters.isEmpty {
                    print("no open dead letters")
                } else {
                    for letter in letters {
                        print(
                            "\(letter.id)  priority \(letter.priority)  \(letter.kind)/\(letter.subject)  attempts \(letter.attempts)  \(letter.payloadBytes) bytes  \(letter.reason): \(letter.detail)"
                        )
                    }
                    if !cursor.isEmpty { print("more: --cursor \(cursor)") }
                }
            }
        }
    }

    struct Get: ServerCommand {
        static let configuration = CommandConfiguration(
            abstract: "One dead letter: its state, history and whole payload."
        )
        @OptionGroup var local: ConnectionOptions
        @ParentCommand var root: PCancelCommand
        @Argument(help: "Dead letter id, e.g. dl-0-3.") var id: String
        @Option(name: .long, help: "Write the payload to this file (default: print it).") var out: String?

        func run() async throws {
            try await connection.withClient { client in
                // A payload longer than one reply comes in parts.
                var payload: [UInt8] = []
                var response: GetDeadLetterResponse
                repeat {
                    response = try await client.call(
                        Methods.getDeadLetter,
                        GetDeadLetterRequest(id: id, payloadOffset: Int64(payload.count)),
                        as: GetDeadLetterResponse.self
                    )
                    payload += Array(buffer: response.deadLetter.payload)
                } while Int64(payload.count) < response.deadLetter.payloadBytes
                    && response.deadLetter.payload.readableBytes > 0
                let letter = response.deadLetter
                if let out { try Data(payload).write(to: URL(fileURLWithPath: out)) }
                if connection.json {
                    var object = OrderJSON.deadLetter(letter)
                    object["history"] = response.history.map {
                        ["at_ms": $0.atMs, "actor": $0.actor, "event": $0.event, "detail": $0.detail] as [String: Any]
                    }
                    if out == nil { object["payload"] = String(decoding: payload, as: UTF8.self) }
                    Output.json(object)
                } else {
                    print(
                        "\(letter.id)  \(letter.state)  priority \(letter.priority)  \(letter.kind)/\(letter.subject)  attempts \(letter.attempts)"
                    )
                    print("\(letter.reason): \(letter.detail)")
                    print(
                        "payload: \(letter.payloadBytes) bytes, sha256 \(letter.payloadSHA256)\(out.map { ", written to \($0)" } ?? "")"
                    )
                    for event in response.history {
                        print(
                            "  \(Date(timeIntervalSince1970: Double(event.atMs) / 1000))  \(event.event) by \(event.actor)\(event.detail.isEmpty ? "" : ": \(event.detail)")"
                        )
                    }
                    if out == nil { print(String(decoding: payload, as: UTF8.self)) }
                }
            }
        }
    }

    struct Discard: ServerCommand {
        static let configuration = CommandConfiguration(
            abstract: "Closes an open dead letter without re-driving it; the reason is recorded."
        )
        @OptionGroup var local: ConnectionOptions
        @ParentCommand var root: PCancelCommand
        @Argument(help: "Dead letter id, e.g. dl-0-3.") var id: String
        @Option(name: .long, help: "Why (recorded in the letter's history).") var reason: String

        func run() async throws {
            try await connection.withClient { client in
                let response = try await client.call(
                    Methods.discardDeadLetter,
                    DiscardDeadLetterRequest(id: id, reason: reason),
                    as: DiscardDeadLetterResponse.self
                )
                if connection.json {
                    Output.json(OrderJSON.deadLetter(response.deadLetter))
                } else {
                    print("\(response.deadLetter.id): \(response.deadLetter.state)")
                }
            }
        }
    }

    struct Redrive: ServerCommand {
        static let configuration = CommandConfiguration(abstract: "Runs a dead letter's intake again.")
        @OptionGroup var local: ConnectionOptions
        @ParentCommand var root: PCancelCommand
        @Argument(help: "Dead letter id, e.g. dl-0-3.") var id: String

        func run() async throws {
            try await connection.withClient { client in
                let response = try await client.call(
                    Methods.redriveDeadLetter,
                    RedriveDeadLetterRequest(id: id),
                    as: RedriveDeadLetterResponse.self
                )
                if connection.json {
                    var object: [String: Any] = ["resolved": response.resolved]
                    if let order = response.order { object["order"] = OrderJSON.order(order) }
                    if let letter = response.deadLetter { object["dead_letter"] = OrderJSON.deadLetter(letter) }
                    Output.json(object)
                } else if response.resolved, let order = response.order {
                    print("resolved: ingested \(order.id)")
                } else if let letter = response.deadLetter {
                    print("still refused (attempt \(letter.attempts)): \(letter.reason): \(letter.detail)")
                }
                if !response.resolved { throw ExitCode(2) }
            }
        }
    }
}

enum StockOutput {
    static func print(_ pools: [StockPoolView], json: Bool) {
        if json {
            Output.json([
                "pools": pools.map {
                    [
                        "sku": $0.sku, "location": $0.location, "on_hand": $0.onHand, "reserved": $0.reserved,
                        "available": $0.available,
                    ]
                }
            ])
        } else if pools.isEmpty {
            Swift.print("no stock pools")
        } else {
            Swift.print("SKU          LOCATION     ON_HAND  RESERVED  AVAILABLE")
            for p in pools {
                Swift.print(
                    "\(p.sku.padding(toLength: 12, withPad: " ", startingAt: 0)) \(p.location.padding(toLength: 12, withPad: " ", startingAt: 0)) \(String(p.onHand).leftPad(7))  \(String(p.reserved).leftPad(8))  \(String(p.available).leftPad(9))"
                )
            }
        }
    }
}

/// JSON objects for `--json`, with the wire's snake_case names.
enum OrderJSON {
    static func order(_ o: OrderView) -> [String: Any] {
        [
            "id": o.id, "channel": o.channel, "external_id": o.externalID,
            "account": ["id": o.account.id, "tier": o.account.tier, "email": o.account.email],
            "status": o.status, "currency": o.currency, "version": o.version, "placed_at_ms": o.placedAtMs,
            "notes": o.notes,
            "lines": o.lines.map(line),
            "promotions": o.promotions.map {
                [
                    "code": $0.code, "kind": $0.kind, "amount": $0.amount, "bps": $0.bps,
                    "min_subtotal": $0.minSubtotal, "applied": $0.applied,
                ]
            },
            "shipping": [
                "amount": o.shipping.amount, "tax_rate_bps": o.shipping.taxRateBps, "free_over": o.shipping.freeOver,
                "charged": o.shipping.charged, "tax": o.shipping.tax,
            ],
            "tenders": o.tenders.map {
                ["id": $0.id, "kind": $0.kind, "amount": $0.amount, "captured": $0.captured, "refunded": $0.refunded]
            },
            "totals": [
                "subtotal": o.totals.subtotal, "discount": o.totals.discount, "paid_net": o.totals.paidNet,
                "tax": o.totals.tax,
                "shipping": o.totals.shipping, "shipping_tax": o.totals.shippingTax, "total": o.totals.total,
            ],
        ]
    }

    static func line(_ l: LineView) -> [String: Any] {
        var object: [String: Any] = [
            "id": l.id, "sku": l.sku, "kind": l.kind, "parent_line_id": l.parentLineID, "optional": l.optional,
            "quantity": l.quantity, "cancelled_quantity": l.cancelledQuantity, "unit_price": l.unitPrice,
            "discount": l.discount,
            "tax_rate_bps": l.taxRateBps, "net": l.net, "allocated_discount": l.allocatedDiscount,
            "paid_net": l.paidNet, "tax": l.tax,
        ]
        if let f = l.fulfilment {
            object["fulfilment"] = [
                "location": f.location, "node": f.node, "status": f.status,
                "partner_accepts_cancel": f.partnerAcceptsCancel,
            ]
        }
        if let p = l.period { object["period"] = ["start_ms": p.startMs, "end_ms": p.endMs, "amount": p.amount] }
        return object
    }

    static func history(_ h: HistoryEntryView) -> [String: Any] {
        [
            "seq": h.seq, "at_ms": h.atMs, "actor": h.actor, "event": h.event, "detail": h.detail, "subject": h.subject,
            "from_state": h.fromState, "to_state": h.toState,
        ]
    }

    static func deadLetter(_ d: DeadLetterView) -> [String: Any] {
        [
            "id": d.id, "kind": d.kind, "priority": d.priority, "reason": d.reason, "detail": d.detail,
            "subject": d.subject,
            "attempts": d.attempts, "created_ms": d.createdMs, "updated_ms": d.updatedMs, "state": d.state,
            "resolved_ms": d.resolvedMs,
            "payload_bytes": d.payloadBytes, "payload_sha256": d.payloadSHA256,
        ]
    }
}

/// Orders as text for people.
enum OrderText {
    static func print(_ o: OrderView, history: [HistoryEntryView]) {
        let money = { (minor: Int64) in Currency.format(minor, code: o.currency) }
        Swift.print(
            "order \(o.id)  \(o.status)  \(o.currency)  account \(o.account.id) (\(o.account.tier))  version \(o.version)"
        )
        Swift.print("LINE   SKU          KIND                  QTY  CXL    PAID_NET       TAX  FULFILMENT")
        for l in o.lines {
            let fulfilment = l.fulfilment.map { "\($0.location) \($0.node) \($0.status)" } ?? "-"
            let id = (l.parentLineID.isEmpty ? "" : " ") + l.id
            Swift.print(
                "\(id.padding(toLength: 6, withPad: " ", startingAt: 0)) \(l.sku.padding(toLength: 12, withPad: " ", startingAt: 0)) \(l.kind.padding(toLength: 20, withPad: " ", startingAt: 0)) \(String(l.quantity).leftPad(4)) \(String(l.cancelledQuantity).leftPad(4)) \(money(l.paidNet).leftPad(11)) \(money(l.tax).leftPad(9))  \(fulfilment)"
            )
        }
        let t = o.totals
        Swift.print(
            "subtotal \(money(t.subtotal))  discount \(money(t.discount))  tax \(money(t.tax))  shipping \(money(t.shipping + t.shippingTax))  total \(money(t.total))"
        )
        Swift.print(
            "tenders: "
                + o.tenders.map { tender in
                    "\(tender.id) \(tender.kind) \(money(tender.amount))\(tender.captured ? "" : " (authorised)")\(tender.refunded > 0 ? " (refunded \(money(tender.refunded)))" : "")"
                }.joined(separator: ", ")
        )
        if t.refunded > 0 {
            Swift.print(
                "refunded so far \(money(t.refunded))\(t.adjustments > 0 ? ", reprice deductions kept \(money(t.adjustments))" : "")"
            )
        }
        for h in history { Swift.print("  #\(h.seq) \(HistoryText.line(h))") }
    }
}

extension String {
    func leftPad(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}

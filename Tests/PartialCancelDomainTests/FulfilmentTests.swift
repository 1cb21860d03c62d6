import Testing

@testable import PartialCancelDomain

@Suite("Fulfilment events")
struct FulfilmentEventTests {
    let intake = FulfilmentIntake()

    /// The sample web order: L1 (2 mugs) and the kit L2 (L2a, L2b) at WH-EAST, the service L3,
    /// the TV L4 at a 3PL that no longer accepts cancellation; every line RESERVED.
    static func order() throws -> Order {
        try Intake().order(channel: "web", payload: Array(SamplePayloads.web.utf8), nowMs: AdapterTests.receivedAt)
    }

    static func event(
        _ line: String,
        _ kind: FulfilmentEvent.Kind,
        id: String = "e",
        order: String = "web-W-1001"
    ) -> FulfilmentEvent {
        FulfilmentEvent(
            source: "warehouse",
            eventID: id,
            orderID: order,
            lineID: line,
            kind: kind,
            occurredMs: 0,
            path: "events[0]"
        )
    }

    func refusal(_ source: String, _ payload: String) -> DomainError? {
        do {
            _ = try intake.events(source: source, payload: Array(payload.utf8))
            return nil
        } catch {
            return error
        }
    }

    // MARK: Sources

    @Test("the warehouse feed: line statuses in its own words, corrections as explicit steps back")
    func warehouseFeed() throws {
        let events = try intake.events(
            source: "warehouse",
            payload: Array(
                """
                {"events": [
                  {"event_id": "wms-1", "order_id": "web-W-1001", "line_id": "L1", "status": "picked",
                   "at": "2026-12-03T10:15:00Z"},
                  {"event_id": "wms-2", "order_id": "web-W-1001", "line_id": "L1", "status": "released",
                   "at": "2026-12-03T10:20:00Z", "correction": true}
                ]}
                """.utf8
            )
        )
        #expect(events.map(\.eventID) == ["wms-1", "wms-2"])
        #expect(events.map(\.kind) == [.status(.picked), .revert(to: .releasedToWarehouse)])
        #expect(events[0].occurredMs == RFC3339.parse("2026-12-03T10:15:00Z"))
        #expect(events.allSatisfy { $0.source == "warehouse" && $0.orderID == "web-W-1001" && $0.lineID == "L1" })
    }

    @Test("a 3PL feed: shipments split into line events with the partner's ids, its cancel window after each")
    func partnerFeed() throws {
        let events = try intake.events(
            source: "3pl",
            payload: Array(
                """
                {"partner": "NORTHPL", "shipments": [
                  {"ref": "NP-1", "milestone": "PACKED", "client_order": "web-W-1001", "ts": 1764756900,
                   "cancel_window_open": false, "lines": [{"client_line": "L4"}, {"client_line": "L1"}]},
                  {"ref": "NP-2", "milestone": "HOLD", "client_order": "web-W-1001", "ts": 1764756960,
                   "lines": [{"client_line": "L2"}]},
                  {"ref": "NP-1", "milestone": "HANDED_TO_CARRIER", "client_order": "web-W-1001", "ts": 1764757000,
                   "lines": [{"client_line": "L4"}]}
                ]}
                """.utf8
            )
        )
        #expect(
            events.map(\.eventID) == [
                "NORTHPL:NP-1:PACKED:L4", "NORTHPL:NP-1:PACKED:L4:cancel", "NORTHPL:NP-1:PACKED:L1",
                "NORTHPL:NP-1:PACKED:L1:cancel", "NORTHPL:NP-1:HANDED_TO_CARRIER:L4",
            ]
        )
        #expect(
            events.map(\.kind) == [
                .status(.picked), .cancellable(false), .status(.picked), .cancellable(false), .status(.shipped),
            ]
        )
        #expect(events[0].occurredMs == 1_764_756_900_000)
        #expect(events[4].path == "shipments[2].lines[0]")
    }

    @Test("refused batches name the source's own field paths")
    func refusals() throws {
        #expect(refusal("truck", #"{"events": []}"#)?.path == "source")
        let badStatus = try #require(
            refusal(
                "warehouse",
                #"{"events": [{"event_id": "w1", "order_id": "o", "line_id": "L1", "status": "lost", "at": "2026-12-03T10:15:00Z"}]}"#
            )
        )
        #expect(badStatus.code == .outOfRange && badStatus.path == "events[0].status")
        let noTime = try #require(
            refusal(
                "warehouse",
                #"{"events": [{"event_id": "w1", "order_id": "o", "line_id": "L1", "status": "picked"}]}"#
            )
        )
        #expect(noTime.code == .missingField && noTime.path == "events[0].at")
        let twice = try #require(
            refusal(
                "warehouse",
                #"{"events": [{"event_id": "w1", "order_id": "o", "line_id": "L1", "status": "picked", "at": "2026-12-03T10:15:00Z"}, {"event_id": "w1", "order_id": "o", "line_id": "L2", "status": "picked", "at": "2026-12-03T10:15:00Z"}]}"#
            )
        )
        #expect(twice.code == .inconsistent && twice.path == "events[1]")
        let milestone = try #require(
            refusal(
                "3pl",
                #"{"partner": "P", "shipments": [{"ref": "R", "milestone": "LOST", "client_order": "o", "ts": 1, "lines": []}]}"#
            )
        )
        #expect(milestone.path == "shipments[0].milestone")
    }

    // MARK: Progress

    @Test(
        "per line the status only moves forward; a late or equal one is ignored; a correction steps back, never from SHIPPED",
        arguments: [
            // (line's status before, event, the status after, or nil when ignored)
            (FulfilmentStatus.reserved, FulfilmentEvent.Kind.status(.picked), FulfilmentStatus?.some(.picked)),
            (.reserved, .status(.releasedToWarehouse), .releasedToWarehouse),
            (.picked, .status(.releasedToWarehouse), nil),
            (.picked, .status(.picked), nil),
            (.picked, .status(.shipped), .shipped),
            (.picked, .revert(to: .releasedToWarehouse), .releasedToWarehouse),
            (.picked, .revert(to: .reserved), .reserved),
            (.releasedToWarehouse, .revert(to: .picked), nil),
            (.shipped, .status(.picked), nil),
        ]
    )
    func forwardOnly(before: FulfilmentStatus, kind: FulfilmentEvent.Kind, after: FulfilmentStatus?) throws {
        var order = try Self.order()
        order.recordFulfilment(lineID: "L1", status: before)
        switch try FulfilmentProgress.apply(Self.event("L1", kind), to: order) {
        case .applied(let changed, _):
            #expect(changed.line("L1")?.fulfilment?.status == after)
            #expect(changed.version == order.version + 1)
        case .ignored(let reason):
            #expect(after == nil, "ignored: \(reason)")
            #expect(reason.contains("L1"))
        }
    }

    @Test("a shipped line cannot go back; unknown lines and lines without fulfilment are refused by name")
    func refusedEvents() throws {
        var order = try Self.order()
        order.recordFulfilment(lineID: "L1", status: .shipped)
        #expect(throws: DomainError.self) {
            try FulfilmentProgress.apply(Self.event("L1", .revert(to: .picked)), to: order)
        }
        do {
            _ = try FulfilmentProgress.apply(Self.event("L9", .status(.picked)), to: order)
            Issue.record("an unknown line was accepted")
        } catch {
            #expect(error.code == .outOfRange && error.message.contains("L1, L2, L2a, L2b, L3, L4"))
        }
        do {
            _ = try FulfilmentProgress.apply(Self.event("L3", .status(.picked)), to: order)
            Issue.record("a service line was given a fulfilment status")
        } catch {
            #expect(error.code == .inconsistent)
        }
    }

    @Test(
        "shipping consumes each line's remaining units once; a bundle's are its components'; the order ships with its last line"
    )
    func shipping() throws {
        let order = try Self.order()
        guard
            case .applied(let mugs, let consumed) = try FulfilmentProgress.apply(
                Self.event("L1", .status(.shipped)),
                to: order
            )
        else { throw Ignored() }
        #expect(
            consumed == [
                StockChange(
                    id: "web-W-1001/ship/L1",
                    kind: .consume,
                    sku: "MUG-01",
                    location: "WH-EAST",
                    quantity: 2,
                    orderID: "web-W-1001",
                    lineID: "L1"
                )
            ]
        )
        #expect(mugs.status == .confirmed)
        // Shipped again: nothing more leaves the pool.
        guard case .ignored = try FulfilmentProgress.apply(Self.event("L1", .status(.shipped)), to: mugs) else {
            throw Ignored()
        }
        guard
            case .applied(let kit, let parts) = try FulfilmentProgress.apply(
                Self.event("L2", .status(.shipped)),
                to: mugs
            )
        else { throw Ignored() }
        #expect(parts.map(\.sku) == ["CAM-01", "STRAP-01"] && parts.allSatisfy { $0.quantity == 1 })
        guard
            case .applied(let all, let tv) = try FulfilmentProgress.apply(Self.event("L4", .status(.shipped)), to: kit)
        else { throw Ignored() }
        #expect(tv.map(\.location) == ["3PL-WEST"])
        #expect(all.status == .shipped)
        #expect(all.intakeReservations().isEmpty)
    }

    @Test(
        "a partner's cancel window: closing and opening it sets the line's constraint, saying it again changes nothing"
    )
    func cancelWindow() throws {
        let order = try Self.order()
        #expect(order.line("L4")?.fulfilment?.partnerAcceptsCancel == false)
        guard case .ignored = try FulfilmentProgress.apply(Self.event("L4", .cancellable(false)), to: order) else {
            throw Ignored()
        }
        guard
            case .applied(let opened, let consumed) = try FulfilmentProgress.apply(
                Self.event("L4", .cancellable(true)),
                to: order
            )
        else { throw Ignored() }
        #expect(opened.line("L4")?.fulfilment?.partnerAcceptsCancel == true && consumed.isEmpty)
        #expect(opened.line("L4")?.fulfilment?.status == .reserved)
    }

    @Test("in any order of arrival, a line ends at the highest status it was sent, and ships its units exactly once")
    func anyArrivalOrder() throws {
        let statuses: [FulfilmentStatus] = [.releasedToWarehouse, .picked, .shipped]
        var orders: [[FulfilmentStatus]] = [[]]
        for _ in statuses {
            orders = orders.flatMap { prefix in statuses.filter { !prefix.contains($0) }.map { prefix + [$0] } }
        }
        #expect(orders.count == 6)
        for sequence in orders {
            var order = try Self.order()
            var shippedUnits: Int64 = 0
            for status in sequence {
                if case .applied(let changed, let consumed) = try FulfilmentProgress.apply(
                    Self.event("L1", .status(status)),
                    to: order
                ) {
                    order = changed
                    shippedUnits += consumed.map(\.quantity).reduce(0, +)
                }
            }
            #expect(order.line("L1")?.fulfilment?.status == .shipped, "\(sequence)")
            #expect(shippedUnits == 2, "\(sequence)")
        }
    }

    struct Ignored: Error {}
}

import Testing

@testable import PartialCancelDomain

@Suite("Channel adapters")
struct AdapterTests {
    let intake = Intake()

    func order(_ channel: String, _ payload: String) throws -> Order {
        try intake.order(channel: channel, payload: Array(payload.utf8))
    }

    @Test("SPEC appendix A prices to the hand-checked amounts")
    func appendixA() throws {
        let order = try order("web", SamplePayloads.web)
        #expect(order.id == "web-W-1001")
        #expect(order.status == .confirmed)
        #expect(order.account == Account(id: "acct-42", tier: "standard", email: "ana@example.com"))
        // Subtotal 735.00; SAVE20 allocated 3.26 / 2.72 / 0.41 / 13.61 (largest remainder: L3 and L4 get the 2 left).
        #expect(order.totals == Totals(subtotal: 73_500, discount: 2000, paidNet: 71_500, tax: 7004, shipping: 1000, shippingTax: 0, total: 79_504))
        let byID = Dictionary(uniqueKeysWithValues: order.lines.map { ($0.id, $0) })
        #expect(byID["L1"]?.allocatedDiscount == 326 && byID["L2"]?.allocatedDiscount == 272)
        #expect(byID["L3"]?.allocatedDiscount == 41 && byID["L4"]?.allocatedDiscount == 1361)
        #expect(byID["L1"]?.tax == 1167 && byID["L2"]?.tax == 973 && byID["L4"]?.tax == 4864)
        #expect(byID["L2a"]?.paidNet == 7296 && byID["L2b"]?.paidNet == 2432)
        #expect(byID["L2a"]?.tax == 730 && byID["L2b"]?.tax == 243)
        #expect(byID["L2a"]?.kind == .bundleComponent && byID["L2a"]?.optional == false && byID["L2b"]?.optional == true)
        #expect(byID["L3"]?.period == PaidPeriod(startMs: 1_793_491_200_000, endMs: 1_796_083_200_000, amount: 1459))
        #expect(byID["L4"]?.fulfilment == Fulfilment(location: "3PL-WEST", node: .thirdPartyLogistics, status: .reserved, partnerAcceptsCancel: false))
        #expect(order.tenders == [Tender(id: "T1", kind: .giftCard, amount: 5000, captured: true), Tender(id: "T2", kind: .card, amount: 74_504, captured: true)])
    }

    @Test("the same order from the three channels becomes the same canonical order")
    func channelsAgree() throws {
        let web = try order("web", SamplePayloads.web)
        for (channel, payload, externalID) in [("marketplace", SamplePayloads.marketplace, "MP-5001"), ("callcenter", SamplePayloads.callcenter, "CC-3001")] {
            let other = try order(channel, payload)
            #expect(other.id == "\(channel)-\(externalID)")
            #expect(other.lines == web.lines, "\(channel)")
            #expect(other.totals == web.totals, "\(channel)")
            #expect(other.tenders == web.tenders, "\(channel)")
            #expect(other.shipping == web.shipping, "\(channel)")
            #expect(other.promotions == web.promotions, "\(channel)")
            #expect(other.account == web.account)
            #expect(other.placedAtMs == web.placedAtMs)
        }
        #expect(try order("callcenter", SamplePayloads.callcenter).notes == "entered by agent-7: customer ordered by phone")
    }

    static let badPayloads: [(String, String, String, String, String)] = [
        // channel, text to replace, replacement, expected path, expected code
        ("web", #""quantity": 2"#, #""quantity": 0"#, "lines[0].quantity", "FIELD_OUT_OF_RANGE"),
        ("web", #""quantity": 2"#, #""quantity": 2.5"#, "lines[0].quantity", "FIELD_WRONG_TYPE"),
        ("web", #""quantity": 2"#, #""quantity": "2""#, "lines[0].quantity", "FIELD_WRONG_TYPE"),
        ("web", #""kind": "goods""#, #""kind": "food""#, "lines[0].kind", "FIELD_OUT_OF_RANGE"),
        ("web", #""currency": "USD""#, #""currency": "usd""#, "currency", "FIELD_MALFORMED"),
        ("web", #""placed_at": "2026-11-20T10:00:00Z""#, #""placed_at": "yesterday""#, "placed_at", "FIELD_MALFORMED"),
        ("web", #""email": "ana@example.com""#, #""email": "ana""#, "account.email", "FIELD_MALFORMED"),
        ("web", #""external_id": "W-1001""#, #""external_id": "W 1001""#, "external_id", "FIELD_MALFORMED"),
        ("web", #""list_price": 3000"#, #""list_price": -1"#, "lines[1].components[1].list_price", "FIELD_OUT_OF_RANGE"),
        ("web", #""discount": 0"#, #""discount": 12001"#, "lines[0].discount", "PAYLOAD_INCONSISTENT"),
        ("web", #""amount": 5000"#, #""amount": 90000"#, "tenders[1]", "PAYLOAD_INCONSISTENT"),
        ("web", #""id": "L2b""#, #""id": "L1""#, "lines[1].components[1]", "PAYLOAD_INCONSISTENT"),
        ("web", #""start": "2026-11-01T00:00:00Z""#, #""start": "2026-12-02T00:00:00Z""#, "lines[2]", "PAYLOAD_INCONSISTENT"),
        ("web", #""status": "confirmed","#, "", "status", "FIELD_REQUIRED"),
        ("marketplace", #""price": "60.00""#, #""price": "6O.00""#, "items[0].price", "FIELD_MALFORMED"),
        ("marketplace", #""price": "60.00""#, #""price": "60.001""#, "items[0].price", "FIELD_MALFORMED"),
        ("marketplace", #""vat_percent": "10""#, #""vat_percent": "101""#, "items[0].vat_percent", "FIELD_MALFORMED"),
        ("marketplace", #""order_state": "ACCEPTED""#, #""order_state": "accepted""#, "order_state", "FIELD_OUT_OF_RANGE"),
        ("marketplace", #""bundle_item_id": "L2", "list_price": "30.00""#, #""bundle_item_id": "L9", "list_price": "30.00""#, "items[3].bundle_item_id", "PAYLOAD_INCONSISTENT"),
        ("marketplace", #""amount": "745.04""#, #""amount": "745.05""#, "payments", "PAYLOAD_INCONSISTENT"),
        ("marketplace", #""discount": "0.00""#, #""discount": "120.01""#, "items[0].discount", "PAYLOAD_INCONSISTENT"),
        ("callcenter", #""units": 2, "#, "", "items[0].units", "FIELD_REQUIRED"),
        ("callcenter", #""confirmed": true"#, #""confirmed": "yes""#, "confirmed", "FIELD_WRONG_TYPE"),
        ("callcenter", #""type": "voucher""#, #""type": "cheque""#, "payment[0].type", "FIELD_OUT_OF_RANGE"),
        ("callcenter", #""reduction": 0"#, #""reduction": 99999"#, "items[0].reduction", "PAYLOAD_INCONSISTENT"),
        ("callcenter", #""site": "WH-EAST", "type": "own""#, #""site": "WH-EAST", "type": "drone""#, "items[0].ship_from.type", "FIELD_OUT_OF_RANGE"),
    ]

    @Test("bad payloads are refused, naming the bad field in the channel's own terms", arguments: badPayloads)
    func badPayload(channel: String, original: String, replacement: String, path: String, code: String) throws {
        let good = switch channel {
        case "web": SamplePayloads.web
        case "marketplace": SamplePayloads.marketplace
        default: SamplePayloads.callcenter
        }
        let range = try #require(good.range(of: original), "fixture text not found: \(original)")
        let bad = good.replacingCharacters(in: range, with: replacement)
        do {
            _ = try order(channel, bad)
            Issue.record("accepted a bad payload")
        } catch let error as DomainError {
            #expect(error.path == path)
            #expect(error.code.name == code)
        }
    }

    @Test("payloads that are not JSON objects, and unknown channels, are refused")
    func notJSON() {
        #expect(throws: DomainError.self) { try order("web", "[1]") }
        #expect(throws: DomainError.self) { try order("web", "{") }
        #expect(throws: DomainError.self) { try order("fax", SamplePayloads.web) }
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: DomainError.self) { try order("web", #"{"x": "# + deep + "}") }
    }

    @Test("unknown fields are ignored")
    func unknownFields() throws {
        let payload = SamplePayloads.web.replacingOccurrences(of: #""currency": "USD","#, with: #""currency": "USD", "gift_wrap": true,"#)
        #expect(try order("web", payload).totals.total == 79_504)
    }
}

import Testing

@testable import PartialCancelDomain

@Suite("Channel adapters")
struct AdapterTests {
    let intake = Intake()
    /// When the tests' payloads arrive: a week after the samples were placed.
    static let receivedAt = RFC3339.parse("2026-11-27T12:00:00Z")!

    func order(_ channel: String, _ payload: String) throws -> Order {
        try intake.order(channel: channel, payload: Array(payload.utf8), nowMs: Self.receivedAt)
    }

    static func sample(_ channel: String) -> String {
        switch channel {
        case "web": SamplePayloads.web
        case "marketplace": SamplePayloads.marketplace
        default: SamplePayloads.callcenter
        }
    }

    /// The sample of `channel` with `original` replaced; fails the test when the fixture text is missing.
    static func edited(_ channel: String, _ original: String, _ replacement: String) throws -> String {
        let good = sample(channel)
        let range = try #require(good.range(of: original), "fixture text not found: \(original)")
        return good.replacingCharacters(in: range, with: replacement)
    }

    /// The refusal of `payload`, or nil when it was accepted.
    func refusal(
        _ channel: String,
        _ payload: [UInt8],
        intake: Intake? = nil,
        nowMs: Int64 = AdapterTests.receivedAt
    ) -> DomainError? {
        do {
            _ = try (intake ?? self.intake).order(channel: channel, payload: payload, nowMs: nowMs)
            return nil
        } catch {
            return error
        }
    }

    @Test("SPEC appendix A prices to the hand-checked amounts")
    func appendixA() throws {
        let order = try order("web", SamplePayloads.web)
        #expect(order.id == "web-W-1001")
        #expect(order.status == .confirmed)
        #expect(order.account == Account(id: "acct-42", tier: "standard", email: "ana@example.com"))
        // Subtotal 735.00; SAVE20 allocated 3.26 / 2.72 / 0.41 / 13.61 (largest remainder: L3 and L4 get the 2 left).
        #expect(
            order.totals
                == Totals(
                    subtotal: 73_500,
                    discount: 2000,
                    paidNet: 71_500,
                    tax: 7004,
                    shipping: 1000,
                    shippingTax: 0,
                    total: 79_504
                )
        )
        let byID = Dictionary(uniqueKeysWithValues: order.lines.map { ($0.id, $0) })
        #expect(byID["L1"]?.allocatedDiscount == 326 && byID["L2"]?.allocatedDiscount == 272)
        #expect(byID["L3"]?.allocatedDiscount == 41 && byID["L4"]?.allocatedDiscount == 1361)
        #expect(byID["L1"]?.tax == 1167 && byID["L2"]?.tax == 973 && byID["L4"]?.tax == 4864)
        #expect(byID["L2a"]?.paidNet == 7296 && byID["L2b"]?.paidNet == 2432)
        #expect(byID["L2a"]?.tax == 730 && byID["L2b"]?.tax == 243)
        #expect(
            byID["L2a"]?.kind == .bundleComponent && byID["L2a"]?.optional == false && byID["L2b"]?.optional == true
        )
        #expect(byID["L3"]?.period == PaidPeriod(startMs: 1_793_491_200_000, endMs: 1_796_083_200_000, amount: 1459))
        #expect(
            byID["L4"]?.fulfilment
                == Fulfilment(
                    location: "3PL-WEST",
                    node: .thirdPartyLogistics,
                    status: .reserved,
                    partnerAcceptsCancel: false
                )
        )
        #expect(
            order.tenders == [
                Tender(id: "T1", kind: .giftCard, amount: 5000, captured: true),
                Tender(id: "T2", kind: .card, amount: 74_504, captured: true),
            ]
        )
    }

    @Test("the same order from the three channels becomes the same canonical order")
    func channelsAgree() throws {
        let web = try order("web", SamplePayloads.web)
        for (channel, payload, externalID) in [
            ("marketplace", SamplePayloads.marketplace, "MP-5001"),
            ("callcenter", SamplePayloads.callcenter, "CC-3001"),
        ] {
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
        #expect(
            try order("callcenter", SamplePayloads.callcenter).notes == "entered by agent-7: customer ordered by phone"
        )
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
        (
            "web", #""list_price": 3000"#, #""list_price": -1"#, "lines[1].components[1].list_price",
            "FIELD_OUT_OF_RANGE"
        ),
        ("web", #""discount": 0"#, #""discount": 12001"#, "lines[0].discount", "PAYLOAD_INCONSISTENT"),
        ("web", #""amount": 5000"#, #""amount": 90000"#, "tenders[1]", "PAYLOAD_INCONSISTENT"),
        ("web", #""id": "L2b""#, #""id": "L1""#, "lines[1].components[1]", "PAYLOAD_INCONSISTENT"),
        (
            "web", #""start": "2026-11-01T00:00:00Z""#, #""start": "2026-12-02T00:00:00Z""#, "lines[2]",
            "PAYLOAD_INCONSISTENT"
        ),
        ("web", #""status": "confirmed","#, "", "status", "FIELD_REQUIRED"),
        ("marketplace", #""price": "60.00""#, #""price": "6O.00""#, "items[0].price", "FIELD_MALFORMED"),
        ("marketplace", #""price": "60.00""#, #""price": "60.001""#, "items[0].price", "FIELD_MALFORMED"),
        ("marketplace", #""vat_percent": "10""#, #""vat_percent": "101""#, "items[0].vat_percent", "FIELD_MALFORMED"),
        (
            "marketplace", #""order_state": "ACCEPTED""#, #""order_state": "accepted""#, "order_state",
            "FIELD_OUT_OF_RANGE"
        ),
        (
            "marketplace", #""bundle_item_id": "L2", "list_price": "30.00""#,
            #""bundle_item_id": "L9", "list_price": "30.00""#, "items[3].bundle_item_id", "PAYLOAD_INCONSISTENT"
        ),
        ("marketplace", #""amount": "745.04""#, #""amount": "745.05""#, "payments", "PAYLOAD_INCONSISTENT"),
        ("marketplace", #""discount": "0.00""#, #""discount": "120.01""#, "items[0].discount", "PAYLOAD_INCONSISTENT"),
        ("callcenter", #""units": 2, "#, "", "items[0].units", "FIELD_REQUIRED"),
        ("callcenter", #""confirmed": true"#, #""confirmed": "yes""#, "confirmed", "FIELD_WRONG_TYPE"),
        ("callcenter", #""type": "voucher""#, #""type": "cheque""#, "payment[0].type", "FIELD_OUT_OF_RANGE"),
        ("callcenter", #""reduction": 0"#, #""reduction": 99999"#, "items[0].reduction", "PAYLOAD_INCONSISTENT"),
        (
            "callcenter", #""site": "WH-EAST", "type": "own""#, #""site": "WH-EAST", "type": "drone""#,
            "items[0].ship_from.type", "FIELD_OUT_OF_RANGE"
        ),
    ]

    @Test("bad payloads are refused, naming the bad field in the channel's own terms", arguments: badPayloads)
    func badPayload(channel: String, original: String, replacement: String, path: String, code: String) throws {
        let bad = try Self.edited(channel, original, replacement)
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
        let payload = SamplePayloads.web.replacingOccurrences(
            of: #""currency": "USD","#,
            with: #""currency": "USD", "gift_wrap": true,"#
        )
        #expect(try order("web", payload).totals.total == 79_504)
    }

    // MARK: Refusing bad data at intake

    static let currencyCases: [(channel: String, original: String, code: String, accepted: Bool)] = [
        ("web", #""currency": "USD""#, "XYZ", false),  // well-formed, not a currency
        ("web", #""currency": "USD""#, "XTS", false),  // ISO's code for tests
        ("web", #""currency": "USD""#, "XAU", false),  // gold: no minor units
        ("web", #""currency": "USD""#, "HRK", false),  // withdrawn (2023)
        ("marketplace", #""currency_code": "USD""#, "ABC", false),
        ("callcenter", #""currency": "USD""#, "ZZZ", false),
        ("web", #""currency": "USD""#, "EUR", true),
        ("web", #""currency": "USD""#, "JPY", true),
        ("web", #""currency": "USD""#, "KWD", true),
        ("marketplace", #""currency_code": "USD""#, "EUR", true),
        ("callcenter", #""currency": "USD""#, "CHF", true),
    ]

    @Test("only active ISO 4217 currencies are accepted", arguments: currencyCases)
    func currencies(channel: String, original: String, code: String, accepted: Bool) throws {
        let field = String(original.dropFirst().prefix { $0 != "\"" })
        let payload = try Self.edited(channel, original, "\"\(field)\": \"\(code)\"")
        let error = refusal(channel, Array(payload.utf8))
        if accepted {
            #expect(error == nil)
        } else {
            let error = try #require(error)
            #expect(error.code == .outOfRange && error.path == field)
            #expect(error.message == "'\(code)' is not an active ISO 4217 currency")
        }
    }

    static let controlCases: [(channel: String, original: String, replacement: String, path: String)] = [
        // JSON escapes, so the payload is valid JSON holding the control character.
        ("web", #""tier": "standard""#, #""tier": "standard\n""#, "account.tier"),
        ("web", #""tier": "standard""#, #""tier": "gold\u0000""#, "account.tier"),
        ("web", #""email": "ana@example.com""#, #""email": "ana@example.com\r\nBcc: x@example.com""#, "account.email"),
        ("web", #""email": "ana@example.com""#, #""email": "ana\t@example.com""#, "account.email"),
        ("web", #""external_id": "W-1001""#, #""external_id": "W-1001\n""#, "external_id"),
        ("web", #""id": "acct-42""#, #""id": "acct-42\u007f""#, "account.id"),
        ("web", #""code": "SAVE20""#, #""code": "SAVE\u001b[2J20""#, "promotions[0].code"),
        ("marketplace", #""buyer_tier": "standard""#, #""buyer_tier": "standard\u0085""#, "buyer_tier"),
        (
            "marketplace", #""buyer_email": "ana@example.com""#, #""buyer_email": "ana@example.com\u2028""#,
            "buyer_email"
        ),
        ("marketplace", #""buyer_id": "acct-42""#, #""buyer_id": "acct\n42""#, "buyer_id"),
        ("callcenter", #""tier": "standard""#, #""tier": "standard\u009b""#, "customer.tier"),
        ("callcenter", #""email": "ana@example.com""#, #""email": "ana@example.com\n""#, "customer.email"),
        ("callcenter", #""ticket_id": "CC-3001""#, #""ticket_id": "CC-3001\t""#, "ticket_id"),
    ]

    @Test("control characters in ids, tiers, emails and codes are refused, naming the field", arguments: controlCases)
    func controlCharacters(channel: String, original: String, replacement: String, path: String) throws {
        let payload = try Self.edited(channel, original, replacement)
        let error = try #require(refusal(channel, Array(payload.utf8)), "accepted \(replacement)")
        #expect(error.code == .malformed)
        #expect(error.path == path)
        #expect(
            error.message.hasPrefix("contains the control character U+") || error.message.hasPrefix("may only contain"),
            "\(error.message)"
        )
        #expect(
            !error.description.unicodeScalars.contains { TextCheck.isControl($0) },
            "the message repeats the character"
        )
    }

    @Test("an agent's notes may still span lines")
    func multilineNotes() throws {
        let payload = try Self.edited(
            "callcenter",
            #""notes": "customer ordered by phone""#,
            #""notes": "ordered by phone\nwants it before Friday\tthanks""#
        )
        #expect(
            try order("callcenter", payload).notes
                == "entered by agent-7: ordered by phone\nwants it before Friday\tthanks"
        )
        let bad = try Self.edited("callcenter", #""notes": "customer ordered by phone""#, #""notes": "ordered\u0000""#)
        #expect(refusal("callcenter", Array(bad.utf8))?.path == "notes")
    }

    static func utf16(_ text: String, bigEndian: Bool, bom: Bool) -> [UInt8] {
        var bytes: [UInt8] = bom ? (bigEndian ? [0xFE, 0xFF] : [0xFF, 0xFE]) : []
        for unit in text.utf16 {
            bytes += bigEndian ? [UInt8(unit >> 8), UInt8(unit & 0xFF)] : [UInt8(unit & 0xFF), UInt8(unit >> 8)]
        }
        return bytes
    }

    static let encodingCases: [(name: String, bytes: [UInt8], message: String)] = {
        let web = Array(SamplePayloads.web.utf8)
        let brace = web.firstIndex(of: UInt8(ascii: "{"))!
        func inserting(_ bytes: [UInt8], at offset: Int) -> [UInt8] {
            Array(web[..<offset]) + bytes + Array(web[offset...])
        }
        let at = brace + 1
        return [
            (
                "UTF-16LE with a BOM", AdapterTests.utf16(SamplePayloads.web, bigEndian: false, bom: true),
                "payload is not UTF-8: it starts with a UTF-16 byte order mark; send UTF-8 without one"
            ),
            (
                "UTF-16BE with a BOM", AdapterTests.utf16(SamplePayloads.web, bigEndian: true, bom: true),
                "payload is not UTF-8: it starts with a UTF-16 byte order mark; send UTF-8 without one"
            ),
            (
                "UTF-16LE without a BOM", AdapterTests.utf16(SamplePayloads.web, bigEndian: false, bom: false),
                "payload is not UTF-8: NUL byte at offset 1 (UTF-16 or UTF-32 text has them; send UTF-8)"
            ),
            (
                "UTF-32LE with a BOM",
                [0xFF, 0xFE, 0x00, 0x00]
                    + Array(
                        SamplePayloads.web.unicodeScalars.flatMap { s in
                            (0..<4).map { UInt8((s.value >> (8 * $0)) & 0xFF) }
                        }
                    ),
                "payload is not UTF-8: it starts with a UTF-32 byte order mark; send UTF-8 without one"
            ),
            (
                "UTF-8 with a BOM", [0xEF, 0xBB, 0xBF] + web,
                "payload is not UTF-8: it starts with a byte order mark (EF BB BF); send UTF-8 without one"
            ),
            (
                "a NUL byte", inserting([0x00], at: at),
                "payload is not UTF-8: NUL byte at offset \(at) (UTF-16 or UTF-32 text has them; send UTF-8)"
            ),
            (
                "a stray continuation byte", inserting([0x80], at: at),
                "payload is not UTF-8: invalid byte 0x80 at offset \(at)"
            ),
            (
                "Latin-1 é", inserting([0x20, 0xE9, 0x20], at: at),
                "payload is not UTF-8: invalid sequence at offset \(at + 1)"
            ),
            (
                "an overlong '/'", inserting([0xC0, 0xAF], at: at),
                "payload is not UTF-8: invalid byte 0xC0 at offset \(at)"
            ),
            (
                "an overlong three-byte form", inserting([0xE0, 0x80, 0xAF], at: at),
                "payload is not UTF-8: invalid sequence at offset \(at)"
            ),
            (
                "a UTF-16 surrogate", inserting([0xED, 0xA0, 0x80], at: at),
                "payload is not UTF-8: invalid sequence at offset \(at)"
            ),
            (
                "beyond U+10FFFF", inserting([0xF4, 0x90, 0x80, 0x80], at: at),
                "payload is not UTF-8: invalid sequence at offset \(at)"
            ),
            ("0xFF", inserting([0xFF], at: at), "payload is not UTF-8: invalid byte 0xFF at offset \(at)"),
            (
                "a truncated sequence at the end", web + [0xE2, 0x82],
                "payload is not UTF-8: truncated sequence at offset \(web.count)"
            ),
        ]
    }()

    @Test("payloads that are not UTF-8 are refused, saying what and where", arguments: encodingCases)
    func encodings(name: String, bytes: [UInt8], message: String) throws {
        let error = try #require(refusal("web", bytes), "\(name) was accepted")
        #expect(error.code == .malformed && error.path == "", "\(name)")
        #expect(error.message == message, "\(name)")
    }

    @Test("UTF-8 beyond ASCII is accepted")
    func utf8Accepted() throws {
        let payload = try Self.edited(
            "callcenter",
            #""notes": "customer ordered by phone""#,
            #""notes": "Kundin bestellte telefonisch – 電話注文 🙂""#
        )
        #expect(try order("callcenter", payload).notes.hasSuffix("電話注文 🙂"))
    }

    static let placedAtCases: [(channel: String, field: String, time: String, accepted: Bool)] = [
        ("web", "placed_at", "2026-11-28T11:59:59Z", true),  // receivedAt + 23:59:59
        ("web", "placed_at", "2026-11-28T12:00:00Z", true),  // receivedAt + 24 h exactly
        ("web", "placed_at", "2026-11-28T12:00:00.001Z", false),  // one millisecond more
        ("web", "placed_at", "2027-11-27T12:00:00Z", false),
        ("web", "placed_at", "9999-12-31T23:59:59Z", false),
        ("web", "placed_at", "2000-01-01T00:00:00Z", true),
        ("web", "placed_at", "1999-12-31T23:59:59.999Z", false),
        ("web", "placed_at", "1970-01-01T00:00:00Z", false),
        ("web", "placed_at", "2000-01-01T00:30:00+01:00", false),  // 1999-12-31T23:30Z
        ("marketplace", "created_at", "2030-01-01T00:00:00Z", false),
        ("marketplace", "created_at", "1999-01-01T00:00:00Z", false),
        ("callcenter", "entered_at", "2027-01-01T00:00:00Z", false),
        ("callcenter", "entered_at", "1900-01-01T00:00:00Z", false),
    ]

    @Test(
        "an order placed in the future (beyond the clock skew allowed) or before 2000 is refused",
        arguments: placedAtCases
    )
    func placedAt(channel: String, field: String, time: String, accepted: Bool) throws {
        let payload = try Self.edited(channel, "\"\(field)\": \"2026-11-20T10:00:00Z\"", "\"\(field)\": \"\(time)\"")
        let error = refusal(channel, Array(payload.utf8))
        if accepted {
            #expect(error == nil, "\(error.map { "\($0)" } ?? "")")
        } else {
            let error = try #require(error)
            #expect(error.code == .outOfRange && error.path == field)
            let future = RFC3339.parse(time)! > Self.receivedAt
            #expect(
                error.message.contains(future ? "is in the future" : "is before 2000-01-01T00:00:00Z"),
                "\(error.message)"
            )
        }
    }

    @Test("the clock skew allowed is a setting")
    func placedAtSkewSetting() throws {
        var limits = IntakeLimits()
        limits.maxPlacedAtSkewMs = 0
        let strict = Intake(limits: limits)
        let payload = try Self.edited(
            "web",
            #""placed_at": "2026-11-20T10:00:00Z""#,
            #""placed_at": "2026-11-27T12:00:01Z""#
        )
        let error = try #require(refusal("web", Array(payload.utf8), intake: strict))
        #expect(
            error.description
                == "placed_at: 2026-11-27T12:00:01Z is in the future: later than the server's time 2026-11-27T12:00:00Z plus max_placed_at_skew_ms 0"
        )
        #expect(refusal("web", Array(payload.utf8)) == nil)
        #expect(refusal("web", Array(payload.utf8), intake: strict, nowMs: Self.receivedAt + 1000) == nil)
    }
}

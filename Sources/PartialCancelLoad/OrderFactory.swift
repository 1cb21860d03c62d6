import PartialCancelDomain
import PartialCancelWire

/// The orders a run ingests: the sample order of each channel (SPEC appendix A and its marketplace
/// and callcenter forms) under a fresh external id, a fresh customer account, and the run's own
/// skus, so that the run owns every stock pool it touches.
public struct OrderFactory: Sendable {
    public static let channels = ["web", "marketplace", "callcenter"]
    /// The sample skus and where they are stocked.
    public static let pools: [(sku: String, location: String)] = [
        ("MUG-01", "WH-EAST"), ("CAM-01", "WH-EAST"), ("STRAP-01", "WH-EAST"), ("TV-55", "3PL-WEST"),
    ]
    /// Skus of the sample order that hold no stock of their own: the bundle and the subscription.
    static let otherSKUs = ["CAM-KIT", "SUPPORT-M"]

    private struct Template {
        var payload: String
        var externalID: String
        /// The sample's `L1` fulfilment status as the channel spells it, and the shipped form.
        var reserved: String
        var shipped: String
    }

    private static let templates: [String: Template] = [
        "web": Template(
            payload: SamplePayloads.web,
            externalID: "W-1001",
            reserved: #""status": "reserved"}"#,
            shipped: #""status": "shipped"}"#
        ),
        "marketplace": Template(
            payload: SamplePayloads.marketplace,
            externalID: "MP-5001",
            reserved: #""fulfilment_state": "RESERVED""#,
            shipped: #""fulfilment_state": "SHIPPED""#
        ),
        "callcenter": Template(
            payload: SamplePayloads.callcenter,
            externalID: "CC-3001",
            reserved: #""state": "reserved""#,
            shipped: #""state": "shipped""#
        ),
    ]

    /// Names this run's orders, accounts and skus: letters, digits and `-` only.
    public let prefix: String
    /// Per channel and shipped-or-not: the payload cut at the places of the external id and the
    /// account, so that a flow's payload is a join instead of a search.
    private let compiled: [String: [Bool: [Piece]]]

    /// A stretch of fixed text, or where the flow's own value goes.
    private enum Piece: Sendable {
        case text(String)
        case externalID
        case account
    }

    public init(prefix: String) {
        self.prefix = prefix
        var compiled: [String: [Bool: [Piece]]] = [:]
        for (channel, template) in Self.templates {
            for shipped in [false, true] {
                compiled[channel, default: [:]][shipped] = Self.compile(
                    template,
                    prefix: prefix,
                    shippedFirstLine: shipped
                )
            }
        }
        self.compiled = compiled
    }

    public func sku(_ sample: String) -> String { "\(prefix)-\(sample)" }
    public func account(forFlow index: Int) -> String { "\(prefix)-a\(index)" }
    public func channel(forFlow index: Int) -> String { Self.channels[index % Self.channels.count] }
    /// The id the server gives flow `index`'s order: its channel and external id.
    public func orderID(forFlow index: Int) -> String { "\(channel(forFlow: index))-\(prefix)-\(index)" }

    /// The payload for flow `index`; with `shippedFirstLine` its `L1` has already shipped.
    public func payload(forFlow index: Int, shippedFirstLine: Bool) -> (channel: String, payload: String) {
        let channel = channel(forFlow: index)
        var text = ""
        for piece in compiled[channel]![shippedFirstLine]! {
            switch piece {
            case .text(let fixed): text += fixed
            case .externalID: text += "\(prefix)-\(index)"
            case .account: text += account(forFlow: index)
            }
        }
        return (channel, text)
    }

    private static let externalIDMark = "\u{1}", accountMark = "\u{2}"

    private static func compile(_ template: Template, prefix: String, shippedFirstLine: Bool) -> [Piece] {
        let quoted = { (text: String) in "\"\(text)\"" }
        var text = template.payload
            .replacingOccurrences(of: quoted(template.externalID), with: quoted(externalIDMark))
            .replacingOccurrences(of: quoted("acct-42"), with: quoted(accountMark))
        for sample in pools.map(\.sku) + otherSKUs {
            text = text.replacingOccurrences(of: quoted(sample), with: quoted("\(prefix)-\(sample)"))
        }
        if shippedFirstLine, let range = text.range(of: template.reserved) {
            // The first fulfilment in every sample is L1's.
            text.replaceSubrange(range, with: template.shipped)
        }
        var pieces: [Piece] = []
        var fixed = ""
        for character in text {
            switch String(character) {
            case externalIDMark:
                pieces += [.text(fixed), .externalID]
                fixed = ""
            case accountMark:
                pieces += [.text(fixed), .account]
                fixed = ""
            default: fixed.append(character)
            }
        }
        return pieces + [.text(fixed)]
    }
}

/// What a flow needs to know about its order after intake.
public struct SeededOrder: Sendable {
    public var id: String
    public var account: String
    public var total: Int64
    public var lines: [LineView]

    public init(_ view: OrderView) {
        id = view.id
        account = view.account.id
        total = view.totals.total
        lines = view.lines
    }

    /// Units of each pool the order holds: lines that hold stock of their own sku (goods and bundle
    /// components with a fulfilment that has not shipped), as the server reserves them at intake.
    public var reservations: [PoolKey: Int64] {
        var result: [PoolKey: Int64] = [:]
        for line in lines {
            guard let units = Self.stockUnits(of: line, quantity: line.quantity - line.cancelledQuantity) else {
                continue
            }
            result[units.pool, default: 0] += units.quantity
        }
        return result
    }

    /// The pool and units that cancelling `quantity` units of `line` gives back, if it holds stock.
    static func stockUnits(of line: LineView, quantity: Int64) -> (pool: PoolKey, quantity: Int64)? {
        guard let fulfilment = line.fulfilment, fulfilment.status != "SHIPPED",
            line.kind == "GOODS" || line.kind == "BUNDLE_COMPONENT", quantity > 0
        else { return nil }
        return (PoolKey(sku: line.sku, location: fulfilment.location), quantity)
    }

    /// The units the cancellation of `lines` gives back to each pool (lines cancelled whole when
    /// they name no quantity).
    public func releases(for cancelled: [CancelLine]) -> [PoolKey: Int64] {
        var result: [PoolKey: Int64] = [:]
        for request in cancelled {
            guard let line = lines.first(where: { $0.id == request.lineID }) else { continue }
            let quantity = request.quantity > 0 ? request.quantity : line.quantity - line.cancelledQuantity
            if let units = Self.stockUnits(of: line, quantity: quantity) {
                result[units.pool, default: 0] += units.quantity
            }
        }
        return result
    }
}

public struct PoolKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var sku: String
    public var location: String
    public var description: String { "\(sku)@\(location)" }
    public static func < (a: PoolKey, b: PoolKey) -> Bool { (a.sku, a.location) < (b.sku, b.location) }
}

/// Turns one channel's JSON payload into an `OrderDraft`. Each channel has its own field names,
/// money format and status vocabulary (docs/CHANNELS.md); errors name the payload's own paths.
public protocol ChannelAdapter: Sendable {
    var channel: String { get }
    /// The payload field holding the channel's own order id.
    var externalIDField: String { get }
    /// The payload field holding when the order was placed (RFC 3339).
    var placedAtField: String { get }
    func draft(from payload: JSONReader, limits: IntakeLimits) throws(DomainError) -> OrderDraft
}

/// The adapters by channel name, and the whole intake step: parse, map, check, price.
public struct Intake: Sendable {
    public let limits: IntakeLimits
    private let adapters: [String: any ChannelAdapter]

    public init(
        limits: IntakeLimits = .default,
        adapters: [any ChannelAdapter] = [WebAdapter(), MarketplaceAdapter(), CallcenterAdapter()]
    ) {
        self.limits = limits
        self.adapters = Dictionary(uniqueKeysWithValues: adapters.map { ($0.channel, $0) })
    }

    public var channels: [String] { adapters.keys.sorted() }

    /// The priced canonical order for `payload` from `channel`, received at `nowMs` (Unix
    /// milliseconds, the caller's clock: the domain reads none).
    public func order(channel: String, payload: [UInt8], nowMs: Int64) throws(DomainError) -> Order {
        guard let adapter = adapters[channel] else {
            throw DomainError(
                .outOfRange,
                path: "channel",
                "unknown channel '\(channel)'; known: \(channels.joined(separator: ", "))"
            )
        }
        let reader = try JSONReader.parse(payload)
        let draft = try adapter.draft(from: reader, limits: limits)
        try Self.check(draft)
        try checkPlacedAt(draft.placedAtMs, path: reader.path(adapter.placedAtField), nowMs: nowMs)
        let order = try Pricing.price(draft)
        for rule in limits.rules where rule.applies(to: order) && order.totals.total > rule.maxOrderTotal {
            throw DomainError(
                .ruleViolated,
                path: rule.name,
                "order total \(order.totals.total) exceeds \(rule.maxOrderTotal) for \(order.channel) orders of \(order.account.tier) accounts"
            )
        }
        return order
    }

    /// How urgent a refused payload is, for the dead-letter list: the order's gross value in minor
    /// units, doubled for premium-like tiers (`premium`, `gold`, `vip`), 0 when the payload is too
    /// broken to tell. The most valuable failures are listed first.
    public func priority(channel: String, payload: [UInt8]) -> Int64 {
        guard let adapter = adapters[channel], let reader = try? JSONReader.parse(payload),
            let draft = try? adapter.draft(from: reader, limits: limits)
        else { return 0 }
        var value: Int64 = 0
        for line in draft.lines {
            let (gross, overflow) = line.unitPrice.multipliedReportingOverflow(by: line.quantity)
            if overflow { return Int64.max / 2 }
            value = min(value + gross, Int64.max / 4)
        }
        return ["premium", "gold", "vip"].contains(draft.account.tier.lowercased()) ? value * 2 : value
    }

    /// The order id a payload would get, when its external id can be read: refused payloads are
    /// kept in that order's shard.
    public func externalKey(channel: String, payload: [UInt8]) -> String? {
        guard let adapter = adapters[channel], let reader = try? JSONReader.parse(payload) else { return nil }
        guard let external = try? reader.identifier(adapter.externalIDField, maxBytes: limits.maxIDBytes) else {
            return nil
        }
        return Order.id(channel: channel, externalID: external)
    }

    /// When an order was placed must be a time it could have been placed: not before
    /// `IntakeLimits.earliestPlacedAtMs` (2000-01-01) and not later than `nowMs` plus the clock skew
    /// allowed (`maxPlacedAtSkewMs`). A time in the future would stretch every window counted from
    /// it (the marketplace's cancellation window).
    func checkPlacedAt(_ placedAtMs: Int64, path: String, nowMs: Int64) throws(DomainError) {
        if placedAtMs < IntakeLimits.earliestPlacedAtMs {
            throw DomainError(
                .outOfRange,
                path: path,
                "\(RFC3339.format(placedAtMs)) is before \(RFC3339.format(IntakeLimits.earliestPlacedAtMs))"
            )
        }
        let latest = nowMs.addingReportingOverflow(limits.maxPlacedAtSkewMs)
        if !latest.overflow, placedAtMs > latest.partialValue {
            throw DomainError(
                .outOfRange,
                path: path,
                "\(RFC3339.format(placedAtMs)) is in the future: later than the server's time \(RFC3339.format(nowMs)) plus max_placed_at_skew_ms \(limits.maxPlacedAtSkewMs)"
            )
        }
    }

    /// Rules every channel shares, checked on the draft.
    static func check(_ draft: OrderDraft) throws(DomainError) {
        var seen = Set<String>()
        for line in draft.lines {
            guard seen.insert(line.id).inserted else {
                throw DomainError(.inconsistent, path: line.path, "line id '\(line.id)' is used twice")
            }
            for component in line.components {
                guard seen.insert(component.id).inserted else {
                    throw DomainError(.inconsistent, path: component.path, "line id '\(component.id)' is used twice")
                }
            }
            if let period = line.period, period.end <= period.start {
                throw DomainError(.inconsistent, path: line.path, "the paid period must end after it starts")
            }
            if line.kind == .bundle, !line.components.isEmpty, line.components.allSatisfy({ $0.listPrice == 0 }) {
                throw DomainError(
                    .inconsistent,
                    path: line.path,
                    "a bundle's components need list prices to split its price"
                )
            }
        }
        var tenderIDs = Set<String>()
        for tender in draft.tenders {
            guard tenderIDs.insert(tender.id).inserted else {
                throw DomainError(.inconsistent, path: tender.path, "tender id '\(tender.id)' is used twice")
            }
        }
    }
}

/// Shared field checks for adapters.
extension JSONReader {
    /// An identifier: 1...maxBytes of `[A-Za-z0-9._-]`.
    func identifier(_ key: String, maxBytes: Int) throws(DomainError) -> String {
        let text = try string(key, maxLength: maxBytes)
        guard Identifier.isValid(text, maxBytes: maxBytes) else {
            throw DomainError(.malformed, path: path(key), "may only contain letters, digits, '.', '_' and '-'")
        }
        return text
    }

    func currency(_ key: String) throws(DomainError) -> Currency {
        let text = try string(key, maxLength: 3)
        guard text.utf8.count == 3, text.utf8.allSatisfy({ (65...90).contains($0) }) else {
            throw DomainError(
                .malformed,
                path: path(key),
                "'\(text)' is not an ISO 4217 code (three upper-case letters)"
            )
        }
        guard let currency = Currency(code: text) else {
            throw DomainError(.outOfRange, path: path(key), "'\(text)' is not an active ISO 4217 currency")
        }
        return currency
    }

    func email(_ key: String) throws(DomainError) -> String {
        let text = try string(key, maxLength: 254)
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !text.contains(" ") else {
            throw DomainError(.malformed, path: path(key), "'\(text)' is not an email address")
        }
        return text
    }

    /// A decimal amount string (`"60.00"`) in the currency's minor units, within 0...max.
    func decimalAmount(
        _ key: String,
        currency: Currency,
        max: Int64,
        required: Bool = true
    ) throws(DomainError) -> Int64? {
        guard has(key) || required else { return nil }
        let text = try string(key, maxLength: 24)
        guard let units = currency.minorUnits(fromDecimal: text) else {
            throw DomainError(
                .malformed,
                path: path(key),
                "'\(text)' is not an amount in \(currency.code) (digits, at most \(currency.exponent) decimals)"
            )
        }
        guard units <= max else {
            throw DomainError(.outOfRange, path: path(key), "must be at most \(max) minor units")
        }
        return units
    }

    /// A percentage string with at most two decimals (`"10"`, `"7.5"`) as basis points, 0...10000.
    func percentBps(_ key: String) throws(DomainError) -> Int64 {
        let text = try string(key, maxLength: 8)
        guard let bps = Money.parseDecimal(text, fractionDigits: 2), bps <= 10_000 else {
            throw DomainError(
                .malformed,
                path: path(key),
                "'\(text)' is not a percentage from 0 to 100 with at most two decimals"
            )
        }
        return bps
    }
}

/// The identifiers orders, lines, skus, locations and tenders use: 1...maxBytes of `[A-Za-z0-9._-]`.
public enum Identifier {
    public static func isValid(_ text: String, maxBytes: Int = 64) -> Bool {
        !text.isEmpty && text.utf8.count <= maxBytes
            && text.utf8.allSatisfy { byte in
                (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte) || byte == 45
                    || byte == 46 || byte == 95
            }
    }
}

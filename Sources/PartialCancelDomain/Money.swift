/// Money is `Int64` minor units of the order's currency; no floating point comes near it. These are
/// the only operations on it, each exact, with 128-bit intermediates where a product could overflow.
public enum Money {
    /// `round_half_up(value × numerator / denominator)` for non-negative value and numerator and a
    /// positive denominator (SPEC section 5: percentage promotions, tax).
    public static func mulDivRoundHalfUp(_ value: Int64, _ numerator: Int64, _ denominator: Int64) -> Int64 {
        precondition(value >= 0 && numerator >= 0 && denominator > 0, "mulDivRoundHalfUp takes non-negative operands")
        let product = Int128(value) * Int128(numerator)
        let quotient = product / Int128(denominator)
        let remainder = product % Int128(denominator)
        let rounded = remainder * 2 >= Int128(denominator) ? quotient + 1 : quotient
        return Int64(rounded)
    }

    /// `floor(amount × n / d)` (SPEC section 5: the share of `n` of `d` units, prorations).
    public static func share(_ amount: Int64, _ n: Int64, of d: Int64) -> Int64 {
        precondition(amount >= 0 && n >= 0 && d > 0 && n <= d, "share takes 0 <= n <= d, d > 0, amount >= 0")
        return Int64(Int128(amount) * Int128(n) / Int128(d))
    }

    /// Splits `total` over `weights` in proportion, by largest remainder: every part is the floor of
    /// its exact share, and the units left over go one each to the largest fractional remainders,
    /// ties to the earlier index. The parts always add up to `total` exactly. All weights zero: the
    /// whole total goes to the first part (there is no proportion to follow).
    public static func allocate(_ total: Int64, weights: [Int64]) -> [Int64] {
        precondition(total >= 0 && weights.allSatisfy { $0 >= 0 }, "allocate takes non-negative amounts")
        guard !weights.isEmpty else { return [] }
        let sum = weights.reduce(Int128(0)) { $0 + Int128($1) }
        guard sum > 0 else {
            var parts = [Int64](repeating: 0, count: weights.count)
            parts[0] = total
            return parts
        }
        var parts: [Int64] = []
        var remainders: [(index: Int, remainder: Int128)] = []
        parts.reserveCapacity(weights.count)
        var allocated: Int64 = 0
        for (index, weight) in weights.enumerated() {
            let exact = Int128(total) * Int128(weight)
            let part = Int64(exact / sum)
            parts.append(part)
            allocated += part
            remainders.append((index, exact % sum))
        }
        let leftover = Int(total - allocated)  // < weights.count
        let order = remainders.sorted {
            $0.remainder != $1.remainder ? $0.remainder > $1.remainder : $0.index < $1.index
        }
        for entry in order.prefix(leftover) { parts[entry.index] += 1 }
        return parts
    }

    /// Splits `total` over `weights` as `allocate` does, but no part exceeds its `room`: what the
    /// split gives a part beyond its room is split again, by the same rule and the same weights,
    /// over the parts that still have room, until all of `total` is placed (SPEC section 5, the
    /// promotion cap). Whenever no part reaches its room this is exactly `allocate(total, weights:)`.
    /// Requires `total` ≤ the sum of the rooms, and a positive weight wherever room is positive.
    public static func allocate(_ total: Int64, weights: [Int64], room: [Int64]) -> [Int64] {
        precondition(
            weights.count == room.count && room.allSatisfy { $0 >= 0 },
            "allocate takes one room per weight, none negative"
        )
        precondition(
            Int128(total) <= room.reduce(Int128(0)) { $0 + Int128($1) },
            "allocate cannot place more than the rooms hold"
        )
        precondition(zip(weights, room).allSatisfy { $1 == 0 || $0 > 0 }, "a part with room needs a positive weight")
        var parts = [Int64](repeating: 0, count: weights.count)
        var left = total
        // The first round splits the whole total over every part, as the plain split does (a part
        // without room still counts in the proportion); later rounds split what was left over
        // among the parts that still have room. Each later round places at least one unit: the
        // split of `left` gives some open part a unit, and an open part has room for one.
        var open = Array(weights.indices)
        while left > 0 {
            let split = allocate(left, weights: open.map { weights[$0] })
            for (index, share) in zip(open, split) {
                let placed = min(share, room[index] - parts[index])
                parts[index] += placed
                left -= placed
            }
            open = parts.indices.filter { parts[$0] < room[$0] }
        }
        return parts
    }

    /// Parses an unsigned decimal (`"60.00"`, `"60"`, `"0.5"`) scaled by 10^fractionDigits, exactly;
    /// `nil` for more fraction digits than that, a sign, an exponent, or anything but digits.
    public static func parseDecimal(_ text: String, fractionDigits: Int) -> Int64? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.utf8.count <= 15,
            whole.utf8.allSatisfy({ (48...57).contains($0) })
        else { return nil }
        var fraction = parts.count == 2 ? String(parts[1]) : ""
        guard fraction.utf8.count <= fractionDigits, fraction.utf8.allSatisfy({ (48...57).contains($0) }) else {
            return nil
        }
        if parts.count == 2 && fraction.isEmpty { return nil }
        fraction += String(repeating: "0", count: fractionDigits - fraction.utf8.count)
        return Int64(whole + fraction)
    }

    /// Minor units as a decimal with the currency's `exponent` digits after the point, for people:
    /// 6421 is "64.21" in USD, "6421" in JPY and "6.421" in KWD; a negative amount has a leading "-".
    /// The one money formatter: emails, portal notifications and the CLI all print through it.
    public static func format(_ minor: Int64, exponent: Int) -> String {
        precondition((0...18).contains(exponent), "a currency has 0 to 18 minor-unit digits")
        let sign = minor < 0 ? "-" : ""
        let digits = String(minor.magnitude)
        guard exponent > 0 else { return sign + digits }
        let padded = String(repeating: "0", count: max(0, exponent + 1 - digits.count)) + digits
        let point = padded.index(padded.endIndex, offsetBy: -exponent)
        return "\(sign)\(padded[..<point]).\(padded[point...])"
    }

    /// Checked sum: throws instead of trapping.
    public static func sum(_ amounts: [Int64], path: String) throws(DomainError) -> Int64 {
        var total: Int64 = 0
        for amount in amounts {
            let (result, overflow) = total.addingReportingOverflow(amount)
            if overflow { throw DomainError(.overflow, path: path, "amounts add up beyond the representable range") }
            total = result
        }
        return total
    }

    /// Checked product.
    public static func product(_ a: Int64, _ b: Int64, path: String) throws(DomainError) -> Int64 {
        let (result, overflow) = a.multipliedReportingOverflow(by: b)
        if overflow { throw DomainError(.overflow, path: path, "\(a) × \(b) is beyond the representable range") }
        return result
    }
}

/// ISO 4217 currency: code and number of minor-unit digits.
public struct Currency: Hashable, Sendable, CustomStringConvertible {
    public let code: String
    public let exponent: Int

    /// The active codes of ISO 4217 (list one) with their minor units: the one table of currencies.
    /// Codes without minor units (gold, silver, SDRs, the test code XTS, XXX) and withdrawn codes
    /// (HRK, SLL, ZWL, CUC, ANG, …) are not in it. A code ISO adds is added here.
    public static let minorUnits: [String: Int] = [
        "AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "AOA": 2, "ARS": 2, "AUD": 2, "AWG": 2, "AZN": 2,
        "BAM": 2, "BBD": 2, "BDT": 2, "BGN": 2, "BHD": 3, "BIF": 0, "BMD": 2, "BND": 2, "BOB": 2, "BOV": 2, "BRL": 2,
        "BSD": 2, "BTN": 2, "BWP": 2, "BYN": 2, "BZD": 2,
        "CAD": 2, "CDF": 2, "CHE": 2, "CHF": 2, "CHW": 2, "CLF": 4, "CLP": 0, "CNY": 2, "COP": 2, "COU": 2, "CRC": 2,
        "CUP": 2, "CVE": 2, "CZK": 2,
        "DJF": 0, "DKK": 2, "DOP": 2, "DZD": 2,
        "EGP": 2, "ERN": 2, "ETB": 2, "EUR": 2,
        "FJD": 2, "FKP": 2,
        "GBP": 2, "GEL": 2, "GHS": 2, "GIP": 2, "GMD": 2, "GNF": 0, "GTQ": 2, "GYD": 2,
        "HKD": 2, "HNL": 2, "HTG": 2, "HUF": 2,
        "IDR": 2, "ILS": 2, "INR": 2, "IQD": 3, "IRR": 2, "ISK": 0,
        "JMD": 2, "JOD": 3, "JPY": 0,
        "KES": 2, "KGS": 2, "KHR": 2, "KMF": 0, "KPW": 2, "KRW": 0, "KWD": 3, "KYD": 2, "KZT": 2,
        "LAK": 2, "LBP": 2, "LKR": 2, "LRD": 2, "LSL": 2, "LYD": 3,
        "MAD": 2, "MDL": 2, "MGA": 2, "MKD": 2, "MMK": 2, "MNT": 2, "MOP": 2, "MRU": 2, "MUR": 2, "MVR": 2, "MWK": 2,
        "MXN": 2, "MXV": 2, "MYR": 2, "MZN": 2,
        "NAD": 2, "NGN": 2, "NIO": 2, "NOK": 2, "NPR": 2, "NZD": 2,
        "OMR": 3,
        "PAB": 2, "PEN": 2, "PGK": 2, "PHP": 2, "PKR": 2, "PLN": 2, "PYG": 0,
        "QAR": 2,
        "RON": 2, "RSD": 2, "RUB": 2, "RWF": 0,
        "SAR": 2, "SBD": 2, "SCR": 2, "SDG": 2, "SEK": 2, "SGD": 2, "SHP": 2, "SLE": 2, "SOS": 2, "SRD": 2, "SSP": 2,
        "STN": 2, "SVC": 2, "SYP": 2, "SZL": 2,
        "THB": 2, "TJS": 2, "TMT": 2, "TND": 3, "TOP": 2, "TRY": 2, "TTD": 2, "TWD": 2, "TZS": 2,
        "UAH": 2, "UGX": 0, "USD": 2, "USN": 2, "UYI": 0, "UYU": 2, "UYW": 4, "UZS": 2,
        "VED": 2, "VES": 2, "VND": 0, "VUV": 0,
        "WST": 2,
        "XAF": 0, "XCD": 2, "XCG": 2, "XOF": 0, "XPF": 0,
        "YER": 2,
        "ZAR": 2, "ZMW": 2, "ZWG": 2,
    ]

    /// `nil` unless `code` is an active ISO 4217 code (three upper-case letters in `minorUnits`).
    public init?(code: String) {
        guard let exponent = Self.minorUnits[code] else { return nil }
        self.code = code
        self.exponent = exponent
    }

    /// A currency read back from storage: known codes get their minor units; a well-formed code the
    /// table does not (or no longer) list keeps 2, so an order stored before it was refused, or
    /// before ISO withdrew its code, can still be read. Intake uses `init?(code:)`.
    init?(stored code: String) {
        if let known = Currency(code: code) {
            self = known
            return
        }
        guard code.utf8.count == 3, code.utf8.allSatisfy({ (65...90).contains($0) }) else { return nil }
        self.code = code
        self.exponent = 2
    }

    public var description: String { code }

    /// `amount` minor units of this currency as a decimal ("64.21" in USD, "6421" in JPY).
    public func format(_ minor: Int64) -> String { Money.format(minor, exponent: exponent) }

    /// The same for a currency known only by its code (as views carry it): a code the table does
    /// not list keeps 2 digits, as a stored order in such a code does.
    public static func format(_ minor: Int64, code: String) -> String {
        Money.format(minor, exponent: minorUnits[code] ?? 2)
    }
}

extension Currency: Codable {
    public init(from decoder: any Decoder) throws {
        let code = try decoder.singleValueContainer().decode(String.self)
        guard let currency = Currency(stored: code) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "bad currency code \(code)")
            )
        }
        self = currency
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(code)
    }

    /// Parses a decimal amount (`"60.00"`, `"60"`, `"0.5"`) into minor units exactly.
    public func minorUnits(fromDecimal text: String) -> Int64? {
        Money.parseDecimal(text, fractionDigits: exponent)
    }
}

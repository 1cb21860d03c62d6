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
        let order = remainders.sorted { $0.remainder != $1.remainder ? $0.remainder > $1.remainder : $0.index < $1.index }
        for entry in order.prefix(leftover) { parts[entry.index] += 1 }
        return parts
    }

    /// Parses an unsigned decimal (`"60.00"`, `"60"`, `"0.5"`) scaled by 10^fractionDigits, exactly;
    /// `nil` for more fraction digits than that, a sign, an exponent, or anything but digits.
    public static func parseDecimal(_ text: String, fractionDigits: Int) -> Int64? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.utf8.count <= 15, whole.utf8.allSatisfy({ (48...57).contains($0) }) else { return nil }
        var fraction = parts.count == 2 ? String(parts[1]) : ""
        guard fraction.utf8.count <= fractionDigits, fraction.utf8.allSatisfy({ (48...57).contains($0) }) else { return nil }
        if parts.count == 2 && fraction.isEmpty { return nil }
        fraction += String(repeating: "0", count: fractionDigits - fraction.utf8.count)
        return Int64(whole + fraction)
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

    /// Currencies with a minor-unit exponent other than 2; every other well-formed code uses 2.
    private static let exponents: [String: Int] = [
        "JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "UGX": 0, "XAF": 0, "XOF": 0, "PYG": 0,
        "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3, "IQD": 3, "LYD": 3,
    ]

    /// `nil` unless `code` is three upper-case ASCII letters.
    public init?(code: String) {
        guard code.utf8.count == 3, code.utf8.allSatisfy({ (65...90).contains($0) }) else { return nil }
        self.code = code
        self.exponent = Self.exponents[code] ?? 2
    }

    public var description: String { code }
}

extension Currency: Codable {
    public init(from decoder: any Decoder) throws {
        let code = try decoder.singleValueContainer().decode(String.self)
        guard let currency = Currency(code: code) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad currency code \(code)"))
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

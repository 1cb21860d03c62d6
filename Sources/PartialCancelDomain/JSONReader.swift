import Foundation

/// Reads a JSON object parsed by `JSONSerialization`, field by field, with the path of every field
/// at hand for errors (`lines[2].quantity`). Unknown fields are ignored (SPEC appendix A).
public struct JSONReader {
    private let object: [String: Any]
    public let path: String

    /// Parses `data`, which must hold a JSON object in UTF-8 (RFC 8259 section 8.1: no byte order
    /// mark, no other encoding; `JSONSerialization` alone would take UTF-16 and UTF-32 too).
    public static func parse(_ data: [UInt8], maxDepth: Int = 32) throws(DomainError) -> JSONReader {
        try UTF8Check.check(data)
        let value: Any
        do {
            value = try JSONSerialization.jsonObject(with: Data(data), options: [])
        } catch {
            // The same depth bound as a valid payload's: the scanner recurses, on threads with small stacks.
            guard let (line, column, problem) = JSONSyntax.firstError(in: data, maxDepth: maxDepth) else {
                throw DomainError(.malformed, path: "", "payload is not valid JSON")
            }
            throw DomainError(
                .malformed,
                path: "",
                "payload is not valid JSON: \(problem) at line \(line), column \(column)"
            )
        }
        guard let object = value as? [String: Any] else {
            throw DomainError(.wrongType, path: "", "payload must be a JSON object")
        }
        if depth(of: object) > maxDepth {
            throw DomainError(.outOfRange, path: "", "payload is nested deeper than \(maxDepth) levels")
        }
        return JSONReader(object, path: "")
    }

    private static func depth(of value: Any) -> Int {
        if let object = value as? [String: Any] { return 1 + (object.values.map(depth).max() ?? 0) }
        if let array = value as? [Any] { return 1 + (array.map(depth).max() ?? 0) }
        return 0
    }

    init(_ object: [String: Any], path: String) {
        self.object = object
        self.path = path
    }

    public func path(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    public func has(_ key: String) -> Bool { object[key] != nil && !(object[key] is NSNull) }

    private func value(_ key: String, required: Bool) throws(DomainError) -> Any? {
        guard let value = object[key], !(value is NSNull) else {
            if required { throw DomainError(.missingField, path: path(key), "is required") }
            return nil
        }
        return value
    }

    /// A string of 1...maxLength UTF-8 bytes without control characters (`TextCheck`).
    public func string(_ key: String, maxLength: Int = 256) throws(DomainError) -> String {
        guard let value = try optionalString(key, maxLength: maxLength) else {
            throw DomainError(.missingField, path: path(key), "is required")
        }
        return value
    }

    /// - Parameter multiline: free text (notes) may hold line breaks and tabs; every other string
    ///   (ids, tiers, emails, codes) holds no control character at all.
    public func optionalString(
        _ key: String,
        maxLength: Int = 256,
        allowEmpty: Bool = false,
        multiline: Bool = false
    ) throws(DomainError) -> String? {
        guard let value = try value(key, required: false) else { return nil }
        guard let string = value as? String else { throw DomainError(.wrongType, path: path(key), "must be a string") }
        if string.isEmpty && !allowEmpty { throw DomainError(.outOfRange, path: path(key), "must not be empty") }
        if string.utf8.count > maxLength {
            throw DomainError(.outOfRange, path: path(key), "is longer than \(maxLength) bytes")
        }
        if let offending = TextCheck.firstControl(in: string, multiline: multiline) {
            throw DomainError(
                .malformed,
                path: path(key),
                "contains the control character \(TextCheck.name(offending))"
            )
        }
        return string
    }

    /// One of `allowed` (exact spelling); the error lists them.
    public func choice<T>(_ key: String, _ allowed: [String: T]) throws(DomainError) -> T {
        let text = try string(key)
        guard let value = allowed[text] else {
            throw DomainError(
                .outOfRange,
                path: path(key),
                "'\(text)' is not one of \(allowed.keys.sorted().joined(separator: ", "))"
            )
        }
        return value
    }

    public func int(_ key: String, in range: ClosedRange<Int64>) throws(DomainError) -> Int64 {
        guard let value = try optionalInt(key, in: range) else {
            throw DomainError(.missingField, path: path(key), "is required")
        }
        return value
    }

    /// A whole number within `range` (JSON numbers with a fraction, booleans and strings are refused).
    public func optionalInt(_ key: String, in range: ClosedRange<Int64>) throws(DomainError) -> Int64? {
        guard let value = try value(key, required: false) else { return nil }
        guard let number = value as? NSNumber, !(value is String), let int = Self.exactInteger(number) else {
            throw DomainError(.wrongType, path: path(key), "must be a whole number")
        }
        guard range.contains(int) else {
            throw DomainError(
                .outOfRange,
                path: path(key),
                "must be within \(range.lowerBound)...\(range.upperBound), got \(int)"
            )
        }
        return int
    }

    private static func exactInteger(_ number: NSNumber) -> Int64? {
        switch String(cString: number.objCType) {
        case "c", "B": return nil  // JSON true/false
        case "d", "f":
            let double = number.doubleValue
            guard double.rounded() == double, abs(double) < 9_007_199_254_740_992 else { return nil }
            return Int64(double)
        default:
            return number.int64Value
        }
    }

    public func optionalBool(_ key: String) throws(DomainError) -> Bool? {
        guard let value = try value(key, required: false) else { return nil }
        guard let number = value as? NSNumber, ["c", "B"].contains(String(cString: number.objCType)) else {
            throw DomainError(.wrongType, path: path(key), "must be true or false")
        }
        return number.boolValue
    }

    public func bool(_ key: String) throws(DomainError) -> Bool {
        guard let value = try optionalBool(key) else {
            throw DomainError(.missingField, path: path(key), "is required")
        }
        return value
    }

    public func object(_ key: String) throws(DomainError) -> JSONReader {
        guard let reader = try optionalObject(key) else {
            throw DomainError(.missingField, path: path(key), "is required")
        }
        return reader
    }

    public func optionalObject(_ key: String) throws(DomainError) -> JSONReader? {
        guard let value = try value(key, required: false) else { return nil }
        guard let object = value as? [String: Any] else {
            throw DomainError(.wrongType, path: path(key), "must be an object")
        }
        return JSONReader(object, path: path(key))
    }

    /// The objects of an array field, each with its indexed path; `maxCount` bounds the work.
    public func objects(_ key: String, required: Bool = true, maxCount: Int) throws(DomainError) -> [JSONReader] {
        guard let value = try value(key, required: required) else { return [] }
        guard let array = value as? [Any] else { throw DomainError(.wrongType, path: path(key), "must be an array") }
        if array.count > maxCount {
            throw DomainError(.outOfRange, path: path(key), "has more than \(maxCount) elements")
        }
        var readers: [JSONReader] = []
        for (index, element) in array.enumerated() {
            guard let object = element as? [String: Any] else {
                throw DomainError(.wrongType, path: "\(path(key))[\(index)]", "must be an object")
            }
            readers.append(JSONReader(object, path: "\(path(key))[\(index)]"))
        }
        return readers
    }

    /// An RFC 3339 time as Unix milliseconds.
    public func time(_ key: String) throws(DomainError) -> Int64 {
        let text = try string(key, maxLength: 40)
        guard let ms = RFC3339.parse(text) else {
            throw DomainError(.malformed, path: path(key), "'\(text)' is not an RFC 3339 time")
        }
        return ms
    }

    public func optionalTime(_ key: String) throws(DomainError) -> Int64? {
        has(key) ? try time(key) : nil
    }
}

/// Control characters in strings a payload carries: C0 (newline and tab included, except in free
/// text), DEL, C1, and the line and paragraph separators. They have no place in an id, a tier, an
/// email or a code, and they forge lines wherever such strings are shown.
public enum TextCheck {
    public static func isControl(_ scalar: Unicode.Scalar, multiline: Bool = false) -> Bool {
        switch scalar.value {
        case 0x09, 0x0A, 0x0D: !multiline
        case 0x00...0x1F, 0x7F...0x9F, 0x2028, 0x2029: true
        default: false
        }
    }

    public static func firstControl(in text: String, multiline: Bool = false) -> Unicode.Scalar? {
        text.unicodeScalars.first { isControl($0, multiline: multiline) }
    }

    /// `U+000A` and the like, for error messages (the character itself would be the problem again).
    public static func name(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }
}

/// The payload's encoding: UTF-8 only (RFC 8259 section 8.1), checked byte by byte so that the
/// refusal says what was wrong and where.
public enum UTF8Check {
    public static func check(_ bytes: [UInt8]) throws(DomainError) {
        func refuse(_ message: String) -> DomainError {
            DomainError(.malformed, path: "", "payload is not UTF-8: \(message)")
        }
        if bytes.starts(with: [0x00, 0x00, 0xFE, 0xFF]) || bytes.starts(with: [0xFF, 0xFE, 0x00, 0x00]) {
            throw refuse("it starts with a UTF-32 byte order mark; send UTF-8 without one")
        }
        if bytes.starts(with: [0xFE, 0xFF]) || bytes.starts(with: [0xFF, 0xFE]) {
            throw refuse("it starts with a UTF-16 byte order mark; send UTF-8 without one")
        }
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            throw refuse("it starts with a byte order mark (EF BB BF); send UTF-8 without one")
        }
        var index = 0
        while index < bytes.count {
            let lead = bytes[index]
            if lead == 0 { throw refuse("NUL byte at offset \(index) (UTF-16 or UTF-32 text has them; send UTF-8)") }
            if lead < 0x80 {
                index += 1
                continue
            }
            // Length and the allowed range of the second byte (no overlong forms, no surrogates, nothing past U+10FFFF).
            let (length, second): (Int, ClosedRange<UInt8>) =
                switch lead {
                case 0xC2...0xDF: (2, 0x80...0xBF)
                case 0xE0: (3, 0xA0...0xBF)
                case 0xE1...0xEC, 0xEE...0xEF: (3, 0x80...0xBF)
                case 0xED: (3, 0x80...0x9F)
                case 0xF0: (4, 0x90...0xBF)
                case 0xF1...0xF3: (4, 0x80...0xBF)
                case 0xF4: (4, 0x80...0x8F)
                default: (0, 0...0)
                }
            let hex = String(lead, radix: 16, uppercase: true)
            guard length > 0 else {
                throw refuse("invalid byte 0x\(hex.count == 1 ? "0" + hex : hex) at offset \(index)")
            }
            guard index + length <= bytes.count else { throw refuse("truncated sequence at offset \(index)") }
            guard second.contains(bytes[index + 1]),
                (2..<length).allSatisfy({ (0x80...0xBF).contains(bytes[index + $0]) })
            else {
                throw refuse("invalid sequence at offset \(index)")
            }
            index += length
        }
    }
}

/// Strict RFC 3339 (`2026-11-20T10:00:00Z`, `2026-11-20T10:00:00.250+01:00`) to Unix milliseconds.
public enum RFC3339 {
    public static func parse(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        func digits(_ at: Int, _ count: Int) -> Int64? {
            guard at + count <= b.count else { return nil }
            var value: Int64 = 0
            for i in at..<(at + count) {
                guard (48...57).contains(b[i]) else { return nil }
                value = value * 10 + Int64(b[i] - 48)
            }
            return value
        }
        guard b.count >= 20, let year = digits(0, 4), b[4] == 45, let month = digits(5, 2), b[7] == 45,
            let day = digits(8, 2),
            b[10] == 84 || b[10] == 116, let hour = digits(11, 2), b[13] == 58, let minute = digits(14, 2), b[16] == 58,
            let second = digits(17, 2)
        else { return nil }
        guard (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day), hour < 24, minute < 60,
            second < 60
        else { return nil }
        var index = 19
        var millis: Int64 = 0
        if index < b.count, b[index] == 46 {  // fraction: up to 9 digits, kept to the millisecond
            index += 1
            var count = 0
            while index < b.count, (48...57).contains(b[index]) {
                if count < 3 { millis = millis * 10 + Int64(b[index] - 48) }
                count += 1
                index += 1
            }
            guard (1...9).contains(count) else { return nil }
            if count < 3 { for _ in count..<3 { millis *= 10 } }
        }
        var offsetMinutes: Int64 = 0
        guard index < b.count else { return nil }
        if b[index] == 90 || b[index] == 122 {
            index += 1
        } else if b[index] == 43 || b[index] == 45 {
            guard let oh = digits(index + 1, 2), b.count > index + 3, b[index + 3] == 58, let om = digits(index + 4, 2),
                oh < 24, om < 60
            else { return nil }
            offsetMinutes = (oh * 60 + om) * (b[index] == 45 ? -1 : 1)
            index += 6
        } else {
            return nil
        }
        guard index == b.count else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        return ((days * 86_400 + hour * 3600 + minute * 60 + second) - offsetMinutes * 60) * 1000 + millis
    }

    private static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Unix milliseconds as `YYYY-MM-DDTHH:MM:SS(.mmm)Z`.
    public static func format(_ ms: Int64) -> String {
        let seconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        let millis = ms - seconds * 1000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        var text =
            "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay % 3600 / 60, 2)):\(pad(secondOfDay % 60, 2))"
        if millis != 0 { text += ".\(pad(millis, 3))" }
        return text + "Z"
    }
}

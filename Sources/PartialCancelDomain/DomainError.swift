/// A domain rule was broken. `path` names the offending field in the caller's own vocabulary
/// (`lines[2].quantity`, `items[0].price`), `code` is machine-readable.
public struct DomainError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public init(_ name: String) { self.name = name }
        /// A field is absent.
        public static let missingField = Code("FIELD_REQUIRED")
        /// A field has the wrong JSON type.
        public static let wrongType = Code("FIELD_WRONG_TYPE")
        /// A field's value is outside its domain.
        public static let outOfRange = Code("FIELD_OUT_OF_RANGE")
        /// A value is syntactically wrong (a date, a decimal amount, an id).
        public static let malformed = Code("FIELD_MALFORMED")
        /// Fields contradict each other (tenders do not add up, a discount exceeds its line).
        public static let inconsistent = Code("PAYLOAD_INCONSISTENT")
        /// A configured channel or tier rule refused the order; the path names the rule.
        public static let ruleViolated = Code("INTAKE_RULE")
        /// Arithmetic would overflow.
        public static let overflow = Code("AMOUNT_OVERFLOW")
        public var description: String { name }
    }

    public var code: Code
    public var path: String
    public var message: String

    public init(_ code: Code, path: String, _ message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// Where a JSON text first breaks the grammar (RFC 8259), for errors a person can act on: "expected
/// ',' or '}' at line 3, column 17". Run only after a parse failed; it validates, it builds nothing.
enum JSONSyntax {
    struct Failure: Error {
        var offset: Int
        var problem: String
    }

    /// The first error, or nil when `bytes` is one valid JSON value.
    static func firstError(in bytes: [UInt8], maxDepth: Int = 32) -> (line: Int, column: Int, problem: String)? {
        var scanner = Scanner(bytes: bytes, maxDepth: maxDepth)
        do throws(Failure) {
            scanner.whitespace()
            try scanner.value(depth: 0)
            scanner.whitespace()
            if scanner.index < bytes.count {
                throw Failure(offset: scanner.index, problem: "text after the JSON value")
            }
            return nil
        } catch {
            let (line, column) = position(of: error.offset, in: bytes)
            return (line, column, error.problem)
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    static func position(of offset: Int, in bytes: [UInt8]) -> (line: Int, column: Int) {
        var line = 1
        var column = 1
        for byte in bytes[..<min(offset, bytes.count)] {
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return (line, column)
    }

    private struct Scanner {
        let bytes: [UInt8]
        let maxDepth: Int
        var index = 0

        init(bytes: [UInt8], maxDepth: Int) {
            self.bytes = bytes
            self.maxDepth = maxDepth
        }

        var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func whitespace() {
            while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
        }

        func fail(_ problem: String) -> Failure {
            Failure(
                offset: index,
                problem: current == nil ? "the text ends where \(problem.dropFirst(9)) was expected" : problem
            )
        }

        mutating func expect(_ byte: UInt8, _ problem: String) throws(Failure) {
            guard current == byte else { throw fail(problem) }
            index += 1
        }

        mutating func value(depth: Int) throws(Failure) {
            guard depth < maxDepth else {
                throw Failure(offset: index, problem: "nested deeper than \(maxDepth) levels")
            }
            switch current {
            case UInt8(ascii: "{"):
                index += 1
                whitespace()
                if current == UInt8(ascii: "}") {
                    index += 1
                    return
                }
                while true {
                    whitespace()
                    guard current == UInt8(ascii: "\"") else { throw fail("expected a string key (in double quotes)") }
                    try string()
                    whitespace()
                    try expect(UInt8(ascii: ":"), "expected ':' after the key")
                    whitespace()
                    try value(depth: depth + 1)
                    whitespace()
                    if current == UInt8(ascii: ",") {
                        index += 1
                        continue
                    }
                    try expect(UInt8(ascii: "}"), "expected ',' or '}'")
                    return
                }
            case UInt8(ascii: "["):
                index += 1
                whitespace()
                if current == UInt8(ascii: "]") {
                    index += 1
                    return
                }
                while true {
                    whitespace()
                    try value(depth: depth + 1)
                    whitespace()
                    if current == UInt8(ascii: ",") {
                        index += 1
                        continue
                    }
                    try expect(UInt8(ascii: "]"), "expected ',' or ']'")
                    return
                }
            case UInt8(ascii: "\""):
                try string()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            case let byte? where byte == UInt8(ascii: "-") || (0x30...0x39).contains(byte):
                try number()
            default:
                throw fail("expected a value (object, array, string, number, true, false or null)")
            }
        }

        mutating func literal(_ word: String) throws(Failure) {
            let start = index
            for byte in word.utf8 {
                guard current == byte else { throw Failure(offset: start, problem: "expected \(word)") }
                index += 1
            }
        }

        mutating func string() throws(Failure) {
            index += 1  // the opening quote
            while true {
                guard let byte = current else { throw Failure(offset: index, problem: "the text ends inside a string") }
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    return
                case UInt8(ascii: "\\"):
                    index += 1
                    guard let escaped = current else {
                        throw Failure(offset: index, problem: "the text ends inside a string")
                    }
                    if escaped == UInt8(ascii: "u") {
                        index += 1
                        for _ in 0..<4 {
                            guard let hex = current,
                                (0x30...0x39).contains(hex) || (0x41...0x46).contains(hex)
                                    || (0x61...0x66).contains(hex)
                            else { throw Failure(offset: index, problem: "\\u needs four hex digits") }
                            index += 1
                        }
                    } else {
                        guard "\"\\/bfnrt".utf8.contains(escaped) else {
                            throw Failure(offset: index - 1, problem: "invalid escape in a string")
                        }
                        index += 1
                    }
                case 0x00..<0x20:
                    throw Failure(offset: index, problem: "a control character inside a string (escape it)")
                default:
                    index += 1
                }
            }
        }

        mutating func number() throws(Failure) {
            let start = index
            if current == UInt8(ascii: "-") { index += 1 }
            guard let first = current, (0x30...0x39).contains(first) else {
                throw Failure(offset: start, problem: "invalid number")
            }
            index += 1
            if first != 0x30 { while let byte = current, (0x30...0x39).contains(byte) { index += 1 } }
            if current == UInt8(ascii: ".") {
                index += 1
                guard let byte = current, (0x30...0x39).contains(byte) else {
                    throw Failure(offset: start, problem: "invalid number (a digit must follow '.')")
                }
                while let byte = current, (0x30...0x39).contains(byte) { index += 1 }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                index += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
                guard let byte = current, (0x30...0x39).contains(byte) else {
                    throw Failure(offset: start, problem: "invalid number (a digit must follow the exponent)")
                }
                while let byte = current, (0x30...0x39).contains(byte) { index += 1 }
            }
        }
    }
}

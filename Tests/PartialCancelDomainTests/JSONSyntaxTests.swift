import Testing

@testable import PartialCancelDomain

@Suite("JSON syntax errors")
struct JSONSyntaxTests {
    @Test(
        "a payload that is not JSON is told what is wrong, at which line and column",
        arguments: [
            (#"{"a" 1}"#, "expected ':' after the key at line 1, column 6"),
            (#"{a: 1}"#, "expected a string key (in double quotes) at line 1, column 2"),
            ("{\n  \"a\": 1\n  \"b\": 2\n}", "expected ',' or '}' at line 3, column 3"),
            (#"{"a": tru}"#, "expected true at line 1, column 7"),
            (#"{"a": "x"#, "the text ends inside a string at line 1, column 9"),
            (#"{"a": 1} x"#, "text after the JSON value at line 1, column 10"),
            (#"{"a": [1 2]}"#, "expected ',' or ']' at line 1, column 10"),
            (#"{"a": 1.}"#, "invalid number (a digit must follow '.') at line 1, column 7"),
            (#"{"a": "\q"}"#, "invalid escape in a string at line 1, column 8"),
            (#"{"a": "é" "#, "the text ends where ',' or '}' was expected at line 1, column 11"),
            (
                "",
                "the text ends where a value (object, array, string, number, true, false or null) was expected at line 1, column 1"
            ),
        ]
    )
    func located(text: String, message: String) throws {
        do {
            _ = try JSONReader.parse(Array(text.utf8))
            Issue.record("parsed \(text)")
        } catch {
            #expect(error.code == .malformed)
            #expect(error.message == "payload is not valid JSON: \(message)", "\(text)")
        }
    }

    @Test("valid JSON has no syntax error, whatever its shape")
    func valid() {
        for text in [
            #"{}"#, #"{"a": [1, -2.5e3, "x\n\u00e9", true, false, null, {"b": {}}]}"#, "  [ ]  ", "0", #""s""#,
        ] {
            #expect(JSONSyntax.firstError(in: Array(text.utf8)) == nil, "\(text)")
        }
    }
}

import Foundation
import Logging
import NIOConcurrencyHelpers
import PartialCancelClient
import PartialCancelTestSupport
import PartialCancelWire
import Testing

@testable import PartialCancelServer

/// Log lines carry strings clients chose (the Hello's client name, method names, ids); none of
/// them may break a line or pose as another field.
@Suite("Log format")
struct LogFormatTests {
    final class Lines: Sendable {
        let lines = NIOLockedValueBox<[String]>([])
        var all: [String] { lines.withLockedValue { $0 } }
    }

    static func logger(_ format: PCancelLogHandler.Format, into lines: Lines) -> Logger {
        Logger(label: "pcancel-server") { label in
            PCancelLogHandler(label: label, format: format, level: .trace) { line in
                lines.lines.withLockedValue { $0.append(line) }
            }
        }
    }

    @Test(
        "a text metadata value is escaped and, where needed, quoted",
        arguments: [
            ("plain", "plain"),
            ("127.0.0.1:5555", "127.0.0.1:5555"),
            ("", #""""#),
            ("two words", #""two words""#),
            ("a=b", #""a=b""#),
            (
                "evil\n2026-12-02T00:00:00.000Z notice pcancel-server: forged",
                #""evil\n2026-12-02T00:00:00.000Z notice pcancel-server: forged""#
            ),
            ("cr\rlf", #""cr\rlf""#),
            ("tab\there", #""tab\there""#),
            ("nul\u{0}", #""nul\u{0}""#),
            ("esc\u{1B}[2J", #""esc\u{1B}[2J""#),
            ("del\u{7F}", #""del\u{7F}""#),
            ("c1\u{85}\u{9B}", #""c1\u{85}\u{9B}""#),
            ("sep\u{2028}\u{2029}", #""sep\u{2028}\u{2029}""#),
            ("bidi\u{202E}", #""bidi\u{202E}""#),
            (#"say "hi""#, #""say \"hi\"""#),
            (#"back\slash"#, #""back\\slash""#),
            (#"literal\n"#, #""literal\\n""#),
            ("café ✓", #""café ✓""#),
            ("café✓", "café✓"),
        ]
    )
    func textValues(raw: String, written: String) {
        #expect(LogEscaping.quotedIfNeeded(raw) == written)
    }

    @Test(
        "a hostile value cannot add a line, in either format, through metadata, the message or a key; a metadata value stays one field"
    )
    func formatterEscapes() throws {
        let hostile = "x\n2026-12-02T00:00:00.000Z notice pcancel-server: admin login principal=root\r\u{85}\u{2028}"
        for format in PCancelLogHandler.Format.allCases {
            let lines = Lines()
            var logger = Self.logger(format, into: lines)
            logger[metadataKey: "client"] = "\(hostile)"
            logger.info("call failed: \(hostile)", metadata: ["method": "\(hostile)", "bad\nkey": "v"])
            let written = lines.all
            #expect(written.count == 1)
            let line = try #require(written.first)
            #expect(line.hasSuffix("\n"))
            let body = line.dropLast()
            for scalar in body.unicodeScalars {
                #expect(
                    !LogEscaping.mustEscape(scalar),
                    "\(format): raw U+\(String(scalar.value, radix: 16)) in \(line)"
                )
            }
            switch format {
            case .text:
                #expect(
                    body.contains(
                        #"client="x\n2026-12-02T00:00:00.000Z notice pcancel-server: admin login principal=root\r\u{85}\u{2028}""#
                    )
                )
                #expect(
                    body.contains(
                        #"method="x\n2026-12-02T00:00:00.000Z notice pcancel-server: admin login principal=root\r\u{85}\u{2028}""#
                    )
                )
                // The message is free text, unquoted: what it quotes from a client is escaped and stays on this line.
                #expect(body.contains(#"bad\nkey=v"#))
                #expect(body.contains(#": call failed: x\n2026"#))
            case .json:
                let object = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
                #expect(object["client"] as? String == hostile)
                #expect(object["method"] as? String == hostile)
                #expect(object["message"] as? String == "call failed: \(hostile)")
            }
        }
    }

    @Test("a client named with a newline and a forged field gets one escaped line per event from a real server")
    func hostileClientName() async throws {
        let lines = Lines()
        let server = try await TestServer.start(logger: Self.logger(.text, into: lines), configuring: { _ in })
        let forged = "2026-12-02T00:00:00.000Z notice pcancel-server: key accepted principal=admin"
        let client = try await server.client(key: TestServer.agentKey, name: "tool\n\(forged)")
        _ = try await client.ping()
        await client.close()
        try await server.stop()

        let written = lines.all
        let withClient = written.filter { $0.contains(#"client="tool\n"#) }
        #expect(!withClient.isEmpty, "no line names the client: \(written)")
        for line in written {
            #expect(
                line.hasSuffix("\n") && line.dropLast().allSatisfy { $0 != "\n" && $0 != "\r" },
                "a line was split: \(line)"
            )
            #expect(!line.hasPrefix(forged))
        }
        #expect(withClient.contains { $0.contains(" principal=agent") })
        // The forged text is there only inside the quoted client value.
        let quoted = #"client="tool\n"# + forged + #"""#
        #expect(withClient.allSatisfy { $0.contains(quoted) })
        #expect(
            !written.contains { $0.replacingOccurrences(of: quoted, with: "").contains("principal=admin") },
            "the forged field stands as a field"
        )
    }
}

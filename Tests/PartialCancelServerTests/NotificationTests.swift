import Foundation
import NIOCore
import PartialCancelClient
import PartialCancelDomain
import PartialCancelServer
import PartialCancelTestSupport
import PartialCancelWire
import Testing

@Suite("Email notifications", .serialized)
struct NotificationTests {
    func requestCancellation(_ server: TestServer) async throws -> CancellationView {
        let admin = try await server.client()
        defer { Task { await admin.close() } }
        _ = try await admin.call(
            Methods.ingestOrder,
            IngestOrderRequest(channel: "web", payload: ByteBuffer(string: SamplePayloads.web)),
            as: IngestOrderResponse.self
        )
        return try await admin.call(
            Methods.requestCancellation,
            RequestCancellationRequest(
                orderID: "web-W-1001",
                lines: [CancelLine(lineID: "L1", quantity: 1)],
                reasonCode: "ADDED_BY_MISTAKE"
            ),
            as: RequestCancellationResponse.self
        ).cancellation
    }

    @Test(
        "the embedded default writes complete RFC 5322 messages into a private maildir beside the data directory, never inside it"
    )
    func maildir() async throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = directory.appendingPathComponent("pcancel-data")
        // What an earlier version delivered inside the data directory moves out with the maildir.
        let earlier = data.appendingPathComponent("maildir/new")
        try FileManager.default.createDirectory(at: earlier, withIntermediateDirectories: true)
        try "Token: \(String(repeating: "ab", count: 32))\r\n".write(
            to: earlier.appendingPathComponent("0.earlier.pcancel"),
            atomically: true,
            encoding: .utf8
        )
        let server = try await TestServer.start(dataDirectory: data.path) { $0.notifications.pollIntervalMs = 20 }
        let request = try await requestCancellation(server)
        let maildir = directory.appendingPathComponent("pcancel-data.maildir")
        #expect(NotificationConfiguration.defaultMaildir(forDataDirectory: data.path + "/") == maildir.path)
        #expect(!FileManager.default.fileExists(atPath: data.appendingPathComponent("maildir").path))
        try await waitFor("the maildir message") { maildirMessages(maildir).count == 2 }
        #expect(maildirMessages(maildir)[0].hasPrefix("Token: abab"))
        let message = maildirMessages(maildir)[1]
        #expect(message.contains("To: ana@example.com\r\n"))
        #expect(message.contains("Subject: Confirm the cancellation for order W-1001\r\n"))
        #expect(message.contains("Content-Type: text/plain; charset=utf-8\r\n"))
        #expect(message.contains("Cancellation: \(request.id)\r\n"))
        let token = try #require(message.firstMatch(of: /Token: ([0-9a-f]{64})/)?.1)
        #expect(
            message.range(of: #"Date: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000"#, options: .regularExpression)
                != nil
        )
        #expect(
            (try FileManager.default.contentsOfDirectory(atPath: maildir.appendingPathComponent("tmp").path)).isEmpty
        )
        // The maildir holds tokens, as a mailbox does: private, and outside the data directory,
        // whose files (WAL included) hold none of it.
        expectPrivate(maildir)
        expectPrivate(data)
        for (path, bytes) in filesUnder(data) {
            #expect(bytes.range(of: Data(token.utf8)) == nil, "the delivered token is readable in \(path)")
        }
        try await server.stop()
    }

    @Test("a real SMTP conversation delivers the message to the relay")
    func smtp() async throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let relay = try SMTPServer(port: try SMTPServer.freePort(), maildir: directory.appendingPathComponent("relay"))
        let server = try await TestServer.start { configuration in
            configuration.notifications.sink = .smtp(host: "127.0.0.1", port: relay.port, heloName: "pcancel.test")
            configuration.notifications.pollIntervalMs = 20
        }
        let request = try await requestCancellation(server)
        try await waitFor("the relayed message") { maildirMessages(relay.maildir).count == 1 }
        let message = maildirMessages(relay.maildir)[0]
        #expect(message.contains("To: ana@example.com"))
        #expect(message.contains("Cancellation: \(request.id)"))
        try await server.stop()
    }

    @Test("delivery failures are retried with backoff, then dead-lettered; a redrive delivers once the relay is back")
    func failureAndRedrive() async throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = try SMTPServer.freePort()
        let server = try await TestServer.start { configuration in
            configuration.notifications.sink = .smtp(host: "127.0.0.1", port: port, heloName: "pcancel.test")
            configuration.notifications.pollIntervalMs = 20
            configuration.notifications.maxAttempts = 3
            configuration.notifications.backoffBaseMs = 10
            configuration.notifications.backoffCapMs = 40
        }
        _ = try await requestCancellation(server)
        let admin = try await server.client()
        var letters: [DeadLetterView] = []
        try await waitFor("the dead letter") {
            letters =
                (try? await admin.call(
                    Methods.listDeadLetters,
                    ListDeadLettersRequest(),
                    as: ListDeadLettersResponse.self
                ).deadLetters) ?? []
            return !letters.isEmpty
        }
        #expect(letters.count == 1)
        #expect(letters[0].kind == "notification" && letters[0].reason == "DELIVERY_FAILED")
        #expect(letters[0].detail.hasPrefix("3 attempts"))

        let relay = try SMTPServer(port: port, maildir: directory.appendingPathComponent("relay"))
        let redriven = try await admin.call(
            Methods.redriveDeadLetter,
            RedriveDeadLetterRequest(id: letters[0].id),
            as: RedriveDeadLetterResponse.self
        )
        #expect(redriven.resolved)
        try await waitFor("the redriven message") { maildirMessages(relay.maildir).count == 1 }
        #expect(
            try await admin.call(Methods.listDeadLetters, ListDeadLettersRequest(), as: ListDeadLettersResponse.self)
                .deadLetters.isEmpty
        )
        await admin.close()
        try await server.stop()
    }
}

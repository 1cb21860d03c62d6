import Crypto
import Foundation
import NIOCore
import PartialCancelClient
import PartialCancelDomain
import PartialCancelTestSupport
import PartialCancelWire
import Testing

/// Dead letters stay listable whatever their payloads weigh: lists carry bounded excerpts with the
/// payload's size and SHA-256 and page with a cursor; a payload is read whole one letter at a time;
/// an admin can discard a letter, which is recorded.
@Suite("Dead letters")
struct DeadLetterTests {
    static func hex(_ bytes: [UInt8]) -> String { SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined() }

    /// Ingests a payload the intake refuses; returns the dead letter's id.
    static func refuse(
        _ client: PartialCancelClient,
        _ payload: [UInt8],
        channel: String = "web"
    ) async throws -> String {
        do {
            _ = try await client.call(
                Methods.ingestOrder,
                IngestOrderRequest(channel: channel, payload: ByteBuffer(bytes: payload)),
                as: IngestOrderResponse.self
            )
        } catch let error as ClientError {
            if let reason = error.status.reasons.first(where: { $0.code == "DEAD_LETTERED" }) { return reason.subject }
            throw error
        }
        Issue.record("the payload was accepted")
        return ""
    }

    static func refusal(_ body: () async throws -> Void) async -> (StatusCode, String)? {
        do {
            try await body()
            return nil
        } catch let error as ClientError {
            return (error.code, error.status.reasons.first?.code ?? "")
        } catch {
            return (.unknown, "\(error)")
        }
    }

    @Test(
        "large refused payloads: pages list every letter under the response limit, one is read whole, one is discarded and recorded"
    )
    func largePayloads() async throws {
        let server = try await TestServer.start { _ in }
        let admin = try await server.client(key: TestServer.adminKey)
        // Two refused ingests of 3.5 MB, one as large as a request frame allows, and small ones.
        var payloads: [String: [UInt8]] = [:]
        for size in [3_500_000, 3_600_000, 4 * 1024 * 1024 - 512] {
            let payload =
                Array("{\"order_id\": \"W-BIG\", \"padding\": \"".utf8)
                + [UInt8](repeating: UInt8(ascii: "x"), count: size - 35)
            payloads[try await Self.refuse(admin, payload)] = payload
        }
        for index in 0..<4 {
            let payload = Array("{ not json \(index)".utf8)
            payloads[try await Self.refuse(admin, payload)] = payload
        }
        let broken = Array(SamplePayloads.marketplace.replacingOccurrences(of: #""qty": 2"#, with: #""qty": 0"#).utf8)
        let valuable = try await Self.refuse(admin, broken, channel: "marketplace")
        payloads[valuable] = broken
        #expect(payloads.count == 8)

        // The whole list in one call fits (excerpts only), most valuable first.
        let all = try await admin.call(
            Methods.listDeadLetters,
            ListDeadLettersRequest(),
            as: ListDeadLettersResponse.self
        )
        #expect(all.deadLetters.count == 8 && all.nextCursor.isEmpty)
        #expect(zip(all.deadLetters, all.deadLetters.dropFirst()).allSatisfy { $0.priority >= $1.priority })
        #expect(all.deadLetters.contains { $0.id == valuable })
        // Pages of three, cursor to cursor: every letter once, in the same order.
        var paged: [DeadLetterView] = []
        var cursor = ""
        var pages = 0
        repeat {
            let page = try await admin.call(
                Methods.listDeadLetters,
                ListDeadLettersRequest(limit: 3, cursor: cursor),
                as: ListDeadLettersResponse.self
            )
            #expect(page.deadLetters.count <= 3)
            paged += page.deadLetters
            cursor = page.nextCursor
            pages += 1
        } while !cursor.isEmpty && pages < 10
        #expect(pages == 3)
        #expect(paged.map(\.id) == all.deadLetters.map(\.id))
        for letter in paged {
            let payload = try #require(payloads[letter.id])
            #expect(letter.payload.readableBytes == 0)
            #expect(Array(buffer: letter.payloadExcerpt) == Array(payload.prefix(512)))
            #expect(
                letter.payloadBytes == Int64(payload.count) && letter.payloadSHA256 == Self.hex(payload)
                    && letter.state == "OPEN"
            )
        }
        #expect(
            await Self.refusal {
                _ = try await admin.call(
                    Methods.listDeadLetters,
                    ListDeadLettersRequest(cursor: "not-a-cursor"),
                    as: ListDeadLettersResponse.self
                )
            }! == (.invalidArgument, "CURSOR_INVALID")
        )

        // The largest payload is read whole, in parts (it does not fit in one reply with the rest).
        let largest = try #require(payloads.max { $0.value.count < $1.value.count })
        var read: [UInt8] = []
        var parts = 0
        repeat {
            let got = try await admin.call(
                Methods.getDeadLetter,
                GetDeadLetterRequest(id: largest.key, payloadOffset: Int64(read.count)),
                as: GetDeadLetterResponse.self
            )
            #expect(got.payloadOffset == Int64(read.count) && got.deadLetter.payloadBytes == Int64(largest.value.count))
            read += Array(buffer: got.deadLetter.payload)
            parts += 1
        } while read.count < largest.value.count && parts < 10
        #expect(read == largest.value && parts == 2)
        let small = try #require(payloads.first { $0.value.count < 100 })
        let whole = try await admin.call(
            Methods.getDeadLetter,
            GetDeadLetterRequest(id: small.key),
            as: GetDeadLetterResponse.self
        )
        #expect(
            Array(buffer: whole.deadLetter.payload) == small.value && whole.history.map(\.event) == ["DEAD_LETTERED"]
        )

        // Discarding needs a reason; the letter is then no longer listed, and its history says who and why.
        let discardedPayload = try #require(payloads.first { (3_400_000..<3_550_000).contains($0.value.count) })
        let discarded = discardedPayload.key
        #expect(
            await Self.refusal {
                _ = try await admin.call(
                    Methods.discardDeadLetter,
                    DiscardDeadLetterRequest(id: discarded, reason: ""),
                    as: DiscardDeadLetterResponse.self
                )
            }! == (.invalidArgument, "FIELD_REQUIRED")
        )
        let gone = try await admin.call(
            Methods.discardDeadLetter,
            DiscardDeadLetterRequest(id: discarded, reason: "test load, never a real order"),
            as: DiscardDeadLetterResponse.self
        ).deadLetter
        #expect(gone.state == "DISCARDED" && gone.resolvedMs > 0)
        let after = try await admin.call(
            Methods.listDeadLetters,
            ListDeadLettersRequest(),
            as: ListDeadLettersResponse.self
        ).deadLetters
        #expect(after.count == 7 && !after.contains { $0.id == discarded })
        let record = try await admin.call(
            Methods.getDeadLetter,
            GetDeadLetterRequest(id: discarded, payloadOffset: 3_400_000),
            as: GetDeadLetterResponse.self
        )
        #expect(
            record.deadLetter.state == "DISCARDED"
                && record.deadLetter.payload.readableBytes == discardedPayload.value.count - 3_400_000
        )
        let event = try #require(record.history.last)
        #expect(
            event.event == "DISCARDED" && event.actor == "admin (admin)"
                && event.detail == "test load, never a real order"
        )
        #expect(
            await Self.refusal {
                _ = try await admin.call(
                    Methods.discardDeadLetter,
                    DiscardDeadLetterRequest(id: discarded, reason: "again"),
                    as: DiscardDeadLetterResponse.self
                )
            }! == (.failedPrecondition, "DEAD_LETTER_RESOLVED")
        )
        #expect(
            await Self.refusal {
                _ = try await admin.call(
                    Methods.redriveDeadLetter,
                    RedriveDeadLetterRequest(id: discarded),
                    as: RedriveDeadLetterResponse.self
                )
            }! == (.notFound, "DEAD_LETTER_NOT_FOUND")
        )
        #expect(
            await Self.refusal {
                _ = try await admin.call(
                    Methods.getDeadLetter,
                    GetDeadLetterRequest(id: "dl-0-999"),
                    as: GetDeadLetterResponse.self
                )
            }! == (.notFound, "DEAD_LETTER_NOT_FOUND")
        )
        #expect(
            await Self.refusal {
                _ = try await admin.call(
                    Methods.getDeadLetter,
                    GetDeadLetterRequest(id: small.key, payloadOffset: 1000),
                    as: GetDeadLetterResponse.self
                )
            }! == (.invalidArgument, "FIELD_OUT_OF_RANGE")
        )
        await admin.close()
        try await server.stop()
    }

    @Test(
        "page size and excerpt are settings: a small page size pages even an unbounded request, and excerpts follow their bound"
    )
    func settings() async throws {
        let server = try await TestServer.start(configuring: { configuration in
            configuration.deadLetters.excerptBytes = 8
            configuration.deadLetters.pageSize = 2
            configuration.deadLetters.maxPageSize = 3
        })
        let admin = try await server.client(key: TestServer.adminKey)
        for index in 0..<5 { _ = try await Self.refuse(admin, Array("{ refused payload number \(index)".utf8)) }
        let first = try await admin.call(
            Methods.listDeadLetters,
            ListDeadLettersRequest(),
            as: ListDeadLettersResponse.self
        )
        #expect(first.deadLetters.count == 2 && !first.nextCursor.isEmpty)
        #expect(first.deadLetters.allSatisfy { $0.payloadExcerpt.readableBytes == 8 && $0.payloadBytes > 8 })
        let capped = try await admin.call(
            Methods.listDeadLetters,
            ListDeadLettersRequest(limit: 100, cursor: first.nextCursor),
            as: ListDeadLettersResponse.self
        )
        #expect(capped.deadLetters.count == 3 && capped.nextCursor.isEmpty)
        await admin.close()
        try await server.stop()
    }
}

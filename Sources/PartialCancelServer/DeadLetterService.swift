import Foundation
import NIOCore
import PartialCancelDomain
import PartialCancelStorage
import PartialCancelWire

/// How dead letters are listed and read (config `dead_letters`, docs/CONFIGURATION.md). A refused
/// payload is kept whole, up to a frame; lists carry only an excerpt of each, with its size and
/// SHA-256, so that a few large ones never make a page too large to answer.
public struct DeadLetterSettings: Sendable, Hashable {
    /// Payload bytes each listed letter carries (`payload_excerpt`).
    public var excerptBytes: Int = 512
    /// Letters per page when the caller names no `limit`.
    public var pageSize: Int = 100
    /// Most letters per page, whatever the caller asks for.
    public var maxPageSize: Int = 1000

    public init() {}

    public func validate() throws(ConfigurationError) {
        if !(0...65_536).contains(excerptBytes) {
            throw ConfigurationError("dead_letters.excerpt_bytes must be 0...65536 (got \(excerptBytes))")
        }
        if maxPageSize < 1 || maxPageSize > 10_000 {
            throw ConfigurationError("dead_letters.max_page_size must be 1...10000 (got \(maxPageSize))")
        }
        if pageSize < 1 || pageSize > maxPageSize {
            throw ConfigurationError(
                "dead_letters.page_size must be 1...dead_letters.max_page_size (\(maxPageSize)) (got \(pageSize))"
            )
        }
    }
}

/// Dead letters (SPEC section 9): listed a page at a time, read one at a time, re-driven or discarded.
struct DeadLetterService {
    let storage: any StorePort
    let parser: IntakeParser
    let fulfilment: FulfilmentService
    let settings: DeadLetterSettings
    /// What one reply may carry: the frame limit less the reply's own framing (RESPONSE_TOO_LARGE
    /// starts at max_frame_bytes − 64) and a margin.
    let responseBudget: Int

    init(
        storage: any StorePort,
        parser: IntakeParser,
        fulfilment: FulfilmentService,
        settings: DeadLetterSettings,
        maxFrameBytes: Int
    ) {
        self.storage = storage
        self.parser = parser
        self.fulfilment = fulfilment
        self.settings = settings
        self.responseBudget = max(1024, maxFrameBytes - 64 - 1024)
    }

    var methods: [MethodDescriptor] {
        [
            .unary(Methods.listDeadLetters, request: ListDeadLettersRequest.self) { context, request in
                list(context, request)
            },
            .unary(Methods.redriveDeadLetter, request: RedriveDeadLetterRequest.self) { context, request in
                redrive(context, request)
            },
            .unary(Methods.getDeadLetter, request: GetDeadLetterRequest.self) { context, request in
                get(context, request)
            },
            .unary(Methods.discardDeadLetter, request: DiscardDeadLetterRequest.self) { context, request in
                discard(context, request)
            },
        ]
    }

    // MARK: Listing

    private func list(
        _ context: CallContext,
        _ request: ListDeadLettersRequest
    ) -> EventLoopFuture<ListDeadLettersResponse> {
        let limit = request.limit == 0 ? settings.pageSize : min(Int(request.limit), settings.maxPageSize)
        let position: DeadLetterPosition?
        if request.cursor.isEmpty {
            position = nil
        } else if let decoded = DeadLetterCursor.decode(request.cursor, shards: storage.shardCount) {
            position = decoded
        } else {
            return context.eventLoop.makeFailedFuture(
                RPCError(
                    .invalidArgument,
                    "cursor is not one this server handed out",
                    reason: .cursorInvalid,
                    subject: "request.cursor"
                )
            )
        }
        let excerpt = settings.excerptBytes
        let budget = responseBudget
        return storage.deadLetters(limit: limit, after: position, excerptBytes: excerpt, on: context.eventLoop).map {
            page in
            // A page also ends where the next letter would make the reply too large.
            var views: [DeadLetterView] = []
            var size = 0
            var cut = false
            for letter in page.letters {
                let view = ViewMapping.view(letter, excerptBytes: excerpt)
                let bytes = view.encoded().readableBytes + 6  // field tag and length
                if !views.isEmpty && size + bytes > budget {
                    cut = true
                    break
                }
                views.append(view)
                size += bytes
            }
            let last = page.letters.prefix(views.count).last
            let next = (cut || page.more) ? last.map { DeadLetterCursor.encode($0.position) } ?? "" : ""
            return ListDeadLettersResponse(deadLetters: views, nextCursor: next)
        }
    }

    // MARK: Reading one

    private func get(_ context: CallContext, _ request: GetDeadLetterRequest) -> EventLoopFuture<GetDeadLetterResponse>
    {
        let excerpt = settings.excerptBytes
        let budget = responseBudget
        return storage.deadLetterRecord(request.id, excerptBytes: excerpt, on: context.eventLoop).flatMap { found in
            guard let (letter, history) = found else {
                return context.eventLoop.makeFailedFuture(
                    RPCError(
                        .notFound,
                        "no dead letter '\(request.id)'",
                        reason: .deadLetterNotFound,
                        subject: request.id
                    )
                )
            }
            guard (0...letter.payloadBytes).contains(request.payloadOffset) else {
                return context.eventLoop.makeFailedFuture(
                    RPCError(
                        .invalidArgument,
                        "payload_offset must be within 0...\(letter.payloadBytes)",
                        reason: .fieldOutOfRange,
                        subject: "request.payload_offset",
                        detail: "payload_bytes=\(letter.payloadBytes)"
                    )
                )
            }
            var response = GetDeadLetterResponse(
                deadLetter: ViewMapping.view(letter, excerptBytes: excerpt),
                payloadOffset: request.payloadOffset,
                history: history.map(ViewMapping.view)
            )
            // The history keeps its latest entries if it would crowd the payload out.
            while response.history.count > 1 && response.encoded().readableBytes > budget / 2 {
                response.history.removeFirst()
            }
            let room = budget - response.encoded().readableBytes - 16
            let length = Int(min(Int64(max(room, 1)), letter.payloadBytes - request.payloadOffset))
            return storage.deadLetterPayload(
                request.id,
                offset: request.payloadOffset,
                length: length,
                on: context.eventLoop
            ).map { part in
                response.deadLetter.payload = ByteBuffer(bytes: part ?? [])
                return response
            }
        }
    }

    // MARK: Acting on one

    private func discard(
        _ context: CallContext,
        _ request: DiscardDeadLetterRequest
    ) -> EventLoopFuture<DiscardDeadLetterResponse> {
        guard request.reason.contains(where: { !$0.isWhitespace }) else {
            return context.eventLoop.makeFailedFuture(
                RPCError(
                    .invalidArgument,
                    "say why the dead letter is discarded",
                    reason: .fieldRequired,
                    subject: "request.reason"
                )
            )
        }
        let excerpt = settings.excerptBytes
        return storage.discardDeadLetter(
            request.id,
            actor: context.actor,
            reason: request.reason,
            excerptBytes: excerpt,
            on: context.eventLoop
        )
        .flatMapThrowing { outcome in
            switch outcome {
            case .discarded(let letter):
                context.log(.info, "dead letter discarded", metadata: ["dead_letter": "\(letter.id)"])
                return DiscardDeadLetterResponse(deadLetter: ViewMapping.view(letter, excerptBytes: excerpt))
            case .alreadyResolved(let letter):
                throw RPCError(
                    .failedPrecondition,
                    "dead letter \(letter.id) is no longer open (\(letter.state))",
                    reason: .deadLetterResolved,
                    subject: letter.id,
                    detail: letter.state
                )
            case .notFound:
                throw RPCError(
                    .notFound,
                    "no dead letter '\(request.id)'",
                    reason: .deadLetterNotFound,
                    subject: request.id
                )
            }
        }
    }

    private func redrive(
        _ context: CallContext,
        _ request: RedriveDeadLetterRequest
    ) -> EventLoopFuture<RedriveDeadLetterResponse> {
        storage.deadLetter(request.id, on: context.eventLoop).flatMap { letter in
            guard let letter else {
                return context.eventLoop.makeFailedFuture(
                    RPCError(
                        .notFound,
                        "no open dead letter '\(request.id)'",
                        reason: .deadLetterNotFound,
                        subject: request.id
                    )
                )
            }
            if letter.kind == "notification" {
                // Re-queue the email: delivery tries it again from scratch.
                return storage.reviveEmail(deadLetter: letter, on: context.eventLoop).map {
                    RedriveDeadLetterResponse(resolved: $0)
                }
            }
            if letter.kind == EventDeadLetter.kind {
                // Deliver the event again (its key's later events follow it).
                return storage.reviveEvent(deadLetter: letter, on: context.eventLoop).map {
                    RedriveDeadLetterResponse(resolved: $0)
                }
            }
            if letter.kind == PaymentDeadLetter.kind {
                // Send the allocation again: delivery tries it from scratch.
                return storage.revivePayment(deadLetter: letter, on: context.eventLoop).map {
                    RedriveDeadLetterResponse(resolved: $0)
                }
            }
            if letter.kind == FulfilmentService.batchKind || letter.kind == FulfilmentService.eventKind {
                return redriveFulfilment(context, letter)
            }
            return parser.parse(channel: letter.subject, payload: letter.payload, on: context.eventLoop).flatMap {
                parsed in
                switch parsed {
                case .order(let order):
                    return storage.ingest(
                        order,
                        actor: "\(context.principal.name) redrive \(letter.id)",
                        on: context.eventLoop
                    ).flatMap { outcome in
                        storage.resolveDeadLetter(letter.id, actor: context.actor, on: context.eventLoop).map {
                            RedriveDeadLetterResponse(resolved: true, order: ViewMapping.view(outcome.order))
                        }
                    }
                case .refused(let error, _, _):
                    return failAgain(context, letter, reason: error.code.name, detail: error.description)
                }
            }
        }
    }
}

extension DeadLetterService {
    /// Re-drives a fulfilment letter. A batch is read again: once it reads, the letter is resolved
    /// and each of its events that still cannot apply becomes a letter of its own. One event is
    /// applied again: resolved when it applies (or was recorded meanwhile), else failed again.
    fileprivate func redriveFulfilment(
        _ context: CallContext,
        _ letter: DeadLetter
    ) -> EventLoopFuture<RedriveDeadLetterResponse> {
        let actor = "\(context.principal.name) redrive \(letter.id)"
        let applied: EventLoopFuture<(resolved: Bool, reason: String, detail: String)>
        if letter.kind == FulfilmentService.batchKind {
            applied = fulfilment.parse(source: letter.subject, payload: letter.payload, on: context.eventLoop).flatMap {
                parsed in
                switch parsed {
                case .events(let events):
                    return fulfilment.apply(events, actor: actor, on: context.eventLoop).map { _ in (true, "", "") }
                case .refused(let error):
                    return context.eventLoop.makeSucceededFuture((false, error.code.name, error.description))
                }
            }
        } else if let event = FulfilmentService.decodedEvent(letter.payload) {
            applied = fulfilment.apply([event], actor: actor, deadLettering: false, on: context.eventLoop).map {
                recorded in
                guard let refused = recorded.results.first(where: { $0.result == "REFUSED" }) else {
                    return (true, "", "")
                }
                return (false, refused.reason, refused.detail)
            }
        } else {
            applied = context.eventLoop.makeSucceededFuture(
                (false, "PAYLOAD_UNREADABLE", "the letter's payload is not a fulfilment event")
            )
        }
        return applied.flatMap { outcome in
            if outcome.resolved {
                return storage.resolveDeadLetter(letter.id, actor: context.actor, on: context.eventLoop).map {
                    RedriveDeadLetterResponse(resolved: true)
                }
            }
            return failAgain(context, letter, reason: outcome.reason, detail: outcome.detail)
        }
    }

    /// A re-drive that failed again: the letter stays open with the new reason, and is answered as it is now.
    fileprivate func failAgain(
        _ context: CallContext,
        _ letter: DeadLetter,
        reason: String,
        detail: String
    ) -> EventLoopFuture<RedriveDeadLetterResponse> {
        let excerpt = settings.excerptBytes
        return storage.failDeadLetterAgain(
            letter.id,
            reason: reason,
            detail: detail,
            actor: context.actor,
            on: context.eventLoop
        ).flatMap {
            storage.deadLetter(letter.id, on: context.eventLoop)
        }.map { updated in
            RedriveDeadLetterResponse(
                resolved: false,
                deadLetter: updated.map { ViewMapping.view($0, excerptBytes: excerpt) }
            )
        }
    }
}

/// The opaque cursor of a dead-letter page: where the page ended, in list order.
enum DeadLetterCursor {
    static func encode(_ position: DeadLetterPosition) -> String {
        Data("dl1:\(position.priority):\(position.createdMs):\(position.shard):\(position.row)".utf8)
            .base64EncodedString()
    }

    static func decode(_ cursor: String, shards: Int) -> DeadLetterPosition? {
        guard let data = Data(base64Encoded: cursor), let text = String(data: data, encoding: .utf8) else { return nil }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "dl1", let priority = Int64(parts[1]), let created = Int64(parts[2]),
            let shard = Int(parts[3]),
            let row = Int64(parts[4]), (0..<shards).contains(shard)
        else { return nil }
        return DeadLetterPosition(priority: priority, createdMs: created, shard: shard, row: row)
    }
}

import NIOCore
import PartialCancelDomain
import PartialCancelStorage
import PartialCancelWire

/// WatchOrder and WatchStock: committed changes pushed to watchers as server streams.
///
/// Each watch has a `ChangeQueue` that shards fill as they commit (they never wait for a
/// watcher). The watch drains it on its connection's event loop while the connection is writable;
/// when the connection is full it stops and resumes on writability. A queue past
/// `limits.watch_buffer_changes` ends its watch with RESOURCE_EXHAUSTED / WATCH_BUFFER_FULL: the
/// watcher resumes from the last sequence number it saw.
struct WatchService {
    let storage: any StorePort
    let bufferChanges: Int
    /// SKUs one WatchStock may follow (`limits.max_watch_skus`).
    let maxSkus: Int
    let metrics: ServerMetrics

    var methods: [MethodDescriptor] {
        [
            .serverStream(Methods.watchOrder, request: WatchOrderRequest.self) { context, request, stream in
                watchOrder(context, request, stream)
            },
            .serverStream(Methods.watchStock, request: WatchStockRequest.self) { context, request, stream in
                watchStock(context, request, stream)
            },
        ]
    }

    private func watchOrder(
        _ context: CallContext,
        _ request: WatchOrderRequest,
        _ stream: ServerStream
    ) -> EventLoopFuture<Void> {
        guard !request.orderID.isEmpty else {
            return context.eventLoop.makeFailedFuture(
                RPCError(.invalidArgument, "order_id is required", reason: .fieldRequired, subject: "request.order_id")
            )
        }
        guard request.afterSeq >= 0 else {
            return context.eventLoop.makeFailedFuture(
                RPCError(
                    .invalidArgument,
                    "after_seq must not be negative",
                    reason: .fieldOutOfRange,
                    subject: "request.after_seq"
                )
            )
        }
        let watch = Watch(
            stream: stream,
            keys: [.order(request.orderID)],
            storage: storage,
            limit: bufferChanges,
            metrics: metrics
        )
        let registered = storage.watchOrder(
            request.orderID,
            after: request.afterSeq,
            subscriber: watch.queue,
            on: context.eventLoop
        ) { order in
            try AccountScope.check(context, account: order.account.id, lookup: .order(request.orderID))
        }.flatMapThrowing { found in
            guard found else { throw AccountScope.Lookup.order(request.orderID).notFound }
        }
        return watch.run(after: registered)
    }

    private func watchStock(
        _ context: CallContext,
        _ request: WatchStockRequest,
        _ stream: ServerStream
    ) -> EventLoopFuture<Void> {
        guard !request.skus.isEmpty else {
            return context.eventLoop.makeFailedFuture(
                RPCError(.invalidArgument, "name at least one sku", reason: .fieldRequired, subject: "request.skus")
            )
        }
        guard request.skus.count <= maxSkus else {
            return context.eventLoop.makeFailedFuture(
                RPCError(
                    .invalidArgument,
                    "at most \(maxSkus) skus per watch (got \(request.skus.count))",
                    reason: .fieldOutOfRange,
                    subject: "request.skus",
                    detail: "max_watch_skus=\(maxSkus)"
                )
            )
        }
        for (index, cursor) in request.skus.enumerated() {
            do {
                try StockArguments.check(sku: cursor.sku, location: "", locationRequired: false)
            } catch {
                return context.eventLoop.makeFailedFuture(
                    RPCError(
                        .invalidArgument,
                        "request.skus[\(index)].sku is malformed",
                        reason: .fieldMalformed,
                        subject: "request.skus[\(index)].sku"
                    )
                )
            }
            guard cursor.afterSeq >= 0 else {
                return context.eventLoop.makeFailedFuture(
                    RPCError(
                        .invalidArgument,
                        "after_seq must not be negative",
                        reason: .fieldOutOfRange,
                        subject: "request.skus[\(index)].after_seq"
                    )
                )
            }
        }
        let watch = Watch(
            stream: stream,
            keys: request.skus.map { .sku($0.sku) },
            storage: storage,
            limit: bufferChanges,
            metrics: metrics
        )
        return watch.run(
            after: storage.watchStock(
                request.skus.map { ($0.sku, $0.afterSeq) },
                subscriber: watch.queue,
                on: context.eventLoop
            )
        )
    }
}

/// One running watch: its queue, and the loop that moves changes from the queue to the stream.
/// Everything but `queue.offer` runs on the stream's event loop.
private final class Watch: @unchecked Sendable {
    let queue: ChangeQueue
    private let stream: ServerStream
    private let keys: [WatchKey]
    private let storage: any StorePort
    private let metrics: ServerMetrics
    /// Ends the call; made when the watch runs.
    private var done: EventLoopPromise<Void>?
    private static let batch = 64

    init(stream: ServerStream, keys: [WatchKey], storage: any StorePort, limit: Int, metrics: ServerMetrics) {
        self.stream = stream
        self.keys = keys
        self.storage = storage
        self.metrics = metrics
        let loop = stream.eventLoop
        let reference = WeakReference()
        queue = ChangeQueue(limit: limit) { loop.execute { reference.watch?.drain() } }
        reference.watch = self
    }

    /// How the queue's wake-up finds its watch without keeping it alive; read on the event loop.
    private final class WeakReference: @unchecked Sendable {
        weak var watch: Watch?
    }

    /// Runs the watch once its registration with the shards succeeded; if the registration or the
    /// watch fails, unwatches and answers with the failure's status.
    func run(after registered: EventLoopFuture<Void>) -> EventLoopFuture<Void> {
        registered.flatMap { self.run() }.flatMapErrorThrowing { error in
            self.stop()
            throw error
        }
    }

    /// Starts sending; the future ends the call when the watch is dropped for falling behind.
    private func run() -> EventLoopFuture<Void> {
        let done = stream.eventLoop.makePromise(of: Void.self)
        self.done = done
        stream.onEnd { [self] in
            stop()
            done.succeed()
        }
        stream.onWritable { [weak self] in self?.drain() }
        drain()
        return done.futureResult
    }

    func stop() {
        storage.unwatch(queue, keys: keys)
    }

    /// Sends queued changes while the connection takes them; ends the watch once its queue has
    /// overflowed (checked first, so a watcher that stopped reading is dropped too).
    private func drain() {
        guard let done else { return }  // not running yet: `run` drains first thing
        while true {
            if queue.hasOverflowed {
                stop()
                metrics.recordWatchDropped()
                done.fail(
                    RPCError(
                        .resourceExhausted,
                        "the watcher fell more than \(queue.limit) changes behind; resume from the last sequence number received",
                        reason: .watchBufferFull,
                        subject: "limits.watch_buffer_changes",
                        detail: "\(queue.limit)"
                    )
                )
                return
            }
            guard stream.isWritable else { return }
            let events = queue.take(max: Self.batch)
            guard !events.isEmpty else { return }
            stream.send(events.map(Self.encode))
        }
    }

    private static func encode(_ event: ChangeEvent) -> ByteBuffer {
        var buffer = ByteBuffer()
        switch event {
        case .order(let id, let entry, let seq, let order):
            OrderChange(orderID: id, seq: seq, entry: entry.map(ViewMapping.view), order: order.map(ViewMapping.view))
                .encode(into: &buffer)
        case .stock(let stock):
            ViewMapping.view(stock).encode(into: &buffer)
        }
        return buffer
    }
}

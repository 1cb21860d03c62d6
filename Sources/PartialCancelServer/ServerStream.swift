import NIOCore
import PartialCancelWire

/// The sending side of one server-streaming call, made by the connection for the method's handler.
/// Every method must be called on the connection's event loop (`eventLoop`).
///
/// Back-pressure: `send` writes at once; a handler with more to send checks `isWritable` first and,
/// when the connection is full, waits for `onWritable` instead of piling items up in memory. The
/// call ends when the handler's future completes, or earlier (the client cancels, the deadline
/// passes, the connection closes, the server drains): then `onEnd` runs, once.
public final class ServerStream: @unchecked Sendable {
    public let eventLoop: any EventLoop
    private let write: ([ByteBuffer]) -> Void
    private let writable: () -> Bool
    private var writableCallbacks: [() -> Void] = []
    private var endCallbacks: [() -> Void] = []
    private(set) var ended = false

    init(eventLoop: any EventLoop, write: @escaping ([ByteBuffer]) -> Void, writable: @escaping () -> Bool) {
        self.eventLoop = eventLoop
        self.write = write
        self.writable = writable
    }

    /// Sends items (each one encoded message of the method's stream), flushed together. Ignored
    /// once the call has ended.
    public func send(_ messages: [ByteBuffer]) {
        eventLoop.preconditionInEventLoop()
        guard !ended, !messages.isEmpty else { return }
        write(messages)
    }

    /// Whether the connection takes more data now.
    public var isWritable: Bool {
        eventLoop.preconditionInEventLoop()
        return !ended && writable()
    }

    /// Runs `callback` whenever the connection becomes writable again, until the call ends.
    public func onWritable(_ callback: @escaping () -> Void) {
        eventLoop.preconditionInEventLoop()
        writableCallbacks.append(callback)
    }

    /// Runs `callback` once when the call ends, however it ends.
    public func onEnd(_ callback: @escaping () -> Void) {
        eventLoop.preconditionInEventLoop()
        if ended { callback() } else { endCallbacks.append(callback) }
    }

    func becameWritable() {
        guard !ended else { return }
        for callback in writableCallbacks { callback() }
    }

    func end() {
        guard !ended else { return }
        ended = true
        let callbacks = endCallbacks
        endCallbacks.removeAll()
        writableCallbacks.removeAll()
        for callback in callbacks { callback() }
    }
}

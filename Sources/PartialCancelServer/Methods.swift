import Logging
import NIOCore
import PartialCancelWire

/// What a handler knows about the call it serves.
public struct CallContext: Sendable {
    public let callID: UInt64
    public let method: String
    public let principal: Principal
    public let metadata: Metadata
    /// When the caller stops waiting. Work that starts after it is wasted.
    public let deadline: NIODeadline
    /// The connection's event loop: futures handed back complete best here (no thread hop).
    public let eventLoop: any EventLoop
    public let decodingLimits: DecodingLimits
    /// The connection's logger (it carries the peer). Log through `log`, which adds the call's id,
    /// method and trace id to the line: setting them on a logger for every call would cost more
    /// than a ping (the stream handler re-renders its metadata on every change).
    public let logger: Logger

    public func log(_ level: Logger.Level, _ message: @autoclosure () -> Logger.Message,
                    metadata: @autoclosure () -> Logger.Metadata = [:]) {
        logger.log(level: level, message(), metadata: callMetadata.merging(metadata()) { _, line in line })
    }

    /// What identifies the call in a log line.
    public var callMetadata: Logger.Metadata {
        var fields: Logger.Metadata = ["call.id": "\(callID)", "method": "\(method)"]
        if !metadata.traceID.isEmpty { fields["trace.id"] = "\(metadata.traceID)" }
        return fields
    }
}

/// One method: its name, who may call it, and the handler from request bytes to response bytes.
public struct MethodDescriptor: Sendable {
    public let name: String
    public let access: MethodAccess
    public let handler: @Sendable (CallContext, ByteBuffer) -> EventLoopFuture<ByteBuffer>

    public init(name: String, access: MethodAccess, handler: @escaping @Sendable (CallContext, ByteBuffer) -> EventLoopFuture<ByteBuffer>) {
        self.name = name
        self.access = access
        self.handler = handler
    }

    /// A unary method with typed messages: the request is decoded (and validated) under the
    /// server's decoding limits, with errors naming the bad field under `request.`.
    public static func unary<Request: WireMessage, Response: WireMessage>(
        _ name: String,
        access: MethodAccess,
        request: Request.Type = Request.self,
        handler: @escaping @Sendable (CallContext, Request) -> EventLoopFuture<Response>
    ) -> MethodDescriptor {
        MethodDescriptor(name: name, access: access) { context, bytes in
            let request: Request
            do {
                request = try Request(decoding: bytes, limits: context.decodingLimits, path: "request")
            } catch {
                return context.eventLoop.makeFailedFuture(error)
            }
            return handler(context, request).map { response in
                var buffer = ByteBuffer()
                response.encode(into: &buffer)
                return buffer
            }
        }
    }
}

/// The methods a server serves, by name.
public struct MethodRegistry: Sendable {
    private var methods: [String: MethodDescriptor] = [:]

    public init(_ methods: [MethodDescriptor] = []) {
        for method in methods { register(method) }
    }

    public mutating func register(_ method: MethodDescriptor) {
        precondition(methods[method.name] == nil, "method \(method.name) registered twice")
        methods[method.name] = method
    }

    public subscript(name: String) -> MethodDescriptor? { methods[name] }

    /// The method `name` if `principal` may call it; otherwise the refusal to answer with
    /// (UNIMPLEMENTED for an unknown method, or the access rule's). One place for calls over a
    /// connection and in-process calls alike.
    public func method(_ name: String, for principal: Principal) -> Result<MethodDescriptor, RPCError> {
        guard let method = methods[name] else {
            return .failure(RPCError(.unimplemented, "unknown method '\(name)'", reason: "METHOD_UNKNOWN", subject: name))
        }
        if let denied = method.access.check(principal, method: method.name) { return .failure(denied) }
        return .success(method)
    }
}

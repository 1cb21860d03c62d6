import Foundation
import Logging
import NIOCore
import PartialCancelServer
import PartialCancelWire

/// The code the fuzzers drive (Fuzz/, tools/fuzz), kept here so that unit tests replay the seed
/// corpus and every crashing input through exactly the same paths. Each entry must return for any
/// input: a trap, an overflow or an address-sanitizer report is a bug.
public enum FuzzTargets {
    /// The frame decoder on bytes as a peer could send them: the first byte sets how the rest is
    /// cut into reads (1–16 bytes each); every complete frame is decoded as an envelope.
    public static func frameDecoder(_ bytes: UnsafeRawBufferPointer) {
        guard let first = bytes.first else { return }
        let chunk = Int(first % 16) + 1
        var decoder = FrameDecoder(maximumFrameBytes: 4096)
        var buffer = ByteBuffer()
        var offset = 1
        while offset < bytes.count {
            let end = min(bytes.count, offset + chunk)
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[offset..<end]))
            offset = end
            while true {
                let frame: ByteBuffer?
                do {
                    frame = try decoder.decode(buffer: &buffer)
                } catch {
                    return  // a framing error ends the connection
                }
                guard let frame else { break }
                _ = try? Envelope(decoding: frame, limits: .default, path: "envelope")
            }
        }
    }

    /// The codec: the bytes as each message type the server reads. Whatever decodes must encode
    /// and decode back to the same value.
    public static func codec(_ bytes: UnsafeRawBufferPointer) {
        let buffer = ByteBuffer(bytes: bytes)
        roundTrip(Envelope.self, buffer)
        slicedMatchesPlain(buffer)
        for type in requestTypes { roundTrip(type, buffer) }
    }

    /// The frame decoder's large-frame path (payload sliced out of the frame) gives exactly what
    /// the plain protobuf-c decode gives: the same envelope, or an error for the same input.
    public static func slicedMatchesPlain(_ buffer: ByteBuffer) {
        let plain = Result { () throws(WireDecodeError) in try Envelope(decoding: buffer, limits: .default) }
        let sliced = Result { () throws(WireDecodeError) in
            try Envelope(decodingFrame: buffer, limits: .default, sliceThreshold: 0)
        }
        switch (plain, sliced) {
        case (.success(let a), .success(let b)):
            precondition(a == b, "the sliced decode differs from the plain one: \(a) vs \(b)")
        case (.failure, .failure): break
        case (.success, .failure(let error)): preconditionFailure("only the sliced decode refuses: \(error)")
        case (.failure(let error), .success): preconditionFailure("only the plain decode refuses: \(error)")
        }
    }

    /// Request dispatch: the first byte picks a method, the rest is its request, served in this
    /// process as an admin (a server on a temporary data directory, made once).
    public static func dispatch(_ bytes: UnsafeRawBufferPointer) {
        guard let first = bytes.first else { return }
        let method = methods[Int(first) % methods.count]
        let request = ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: bytes.dropFirst()))
        let principal = Principal(name: "fuzz", role: first & 0x80 == 0 ? .admin : .portal)
        let metadata = Metadata(onBehalfOf: first & 0x40 == 0 ? "" : "acct-42")
        _ = try? server.invoke(
            method,
            request: request,
            principal: principal,
            metadata: metadata,
            on: server.anyEventLoop
        ).wait()
    }

    /// The order tools/fuzz-seeds writes the dispatch corpus in.
    public static let methods = Methods.all

    private static let server: PartialCancelServer = {
        var configuration = ServerConfiguration()
        configuration.dataDirectory =
            FileManager.default.temporaryDirectory.appendingPathComponent("pcancel-fuzz-\(UUID().uuidString)").path
        configuration.storage.shards = 2
        configuration.storage.synchronous = .normal
        configuration.eventLoopThreads = 1
        configuration.limits.maxPingDelayMs = 0
        var logger = Logger(label: "fuzz")
        logger.logLevel = .critical
        // No sample data: inputs ingest what they need (IngestOrder is a method like the others), and
        // what one input stored, the next can find — the fuzzer explores sequences too.
        return try! PartialCancelServer(configuration: configuration, keyStore: try! KeyStore([]), logger: logger)
    }()

    private static func roundTrip<M: WireMessage>(_ type: M.Type, _ buffer: ByteBuffer) {
        guard let message = try? M(decoding: buffer, limits: .default, path: "m") else { return }
        let again: M
        do {
            again = try M(decoding: message.encoded(), limits: .default, path: "m")
        } catch {
            fatalError("\(M.self) decoded but its own encoding does not: \(error)")
        }
        precondition(again == message, "\(M.self) changed in a round trip")
    }

    /// Every method's request type, from the method table.
    private static let requestTypes: [any WireMessage.Type] = Methods.table.map(\.request)
}

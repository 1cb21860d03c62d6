import Foundation
import Testing

@testable import PartialCancelWire

@Suite("Method table")
struct MethodTableTests {
    struct ProtoMethod: Equatable, CustomStringConvertible {
        var name: String, request: String, response: String, streaming: Bool
        var description: String { "\(name)(\(request)) returns (\(streaming ? "stream " : "")\(response))" }
    }

    /// The rpcs of service.proto, in order.
    static func serviceProto() throws -> [ProtoMethod] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let text = try String(
            contentsOf: root.appendingPathComponent("proto/pcancel/v1/service.proto"),
            encoding: .utf8
        )
        let rpc = /rpc\s+(\w+)\s*\(\s*(\w+)\s*\)\s*returns\s*\(\s*(stream\s+)?(\w+)\s*\)/
        return text.matches(of: rpc).map { match in
            ProtoMethod(
                name: String(match.1),
                request: String(match.2),
                response: String(match.4),
                streaming: match.3 != nil
            )
        }
    }

    static func protoName(_ type: any WireMessage.Type) -> String {
        String(cString: type.descriptor.pointee.short_name)
    }

    @Test("the method table is service.proto: the same methods in the same order, with the same messages and streaming")
    func matchesServiceProto() throws {
        let proto = try Self.serviceProto()
        let table = Methods.table.map { spec in
            ProtoMethod(
                name: String(spec.shortName),
                request: Self.protoName(spec.request),
                response: Self.protoName(spec.response),
                streaming: spec.streaming
            )
        }
        #expect(proto.count >= 21)
        #expect(table == proto)
        #expect(Methods.all.allSatisfy { $0.hasPrefix(Methods.service + "/") })
        #expect(Set(Methods.all).count == Methods.all.count)
    }

    @Test("the methods that change stored state, and so honour idempotency keys")
    func mutating() {
        let mutating = Methods.table.filter(\.mutates).map(\.shortName)
        #expect(
            mutating == [
                "IngestOrder", "PutStock", "RedriveDeadLetter", "RequestCancellation", "ConfirmCancellation",
                "DeclineCancellation", "ReleaseInventory", "WithdrawCancellation", "DiscardDeadLetter",
                "RecordFulfilmentEvents", "RecordRefundResult",
            ]
        )
        #expect(Methods.table.filter(\.streaming).allSatisfy { !$0.mutates })
    }

    @Test("lookups by name find the table's entry and nothing else")
    func lookup() {
        #expect(Methods.spec(Methods.confirmCancellation)?.access == .authenticated)
        #expect(Methods.spec("pcancel.v1.PartialCancellation/Nope") == nil)
        #expect(Methods.spec(Methods.getStock)?.customerScoped == false)
    }
}

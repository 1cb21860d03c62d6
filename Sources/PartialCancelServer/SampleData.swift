import NIOCore
import PartialCancelDomain
import PartialCancelStorage

/// The embedded default's sample data: stock for the sample skus and one order per channel, each
/// covering the three use cases (an item added by mistake: MUG-01 ×2; a bundle with an optional
/// accessory: CAM-KIT with STRAP-01; a subscription service line: SUPPORT-M), plus a 3PL line whose
/// partner no longer accepts cancellation (TV-55). See README.
public enum SampleData {
    public static let stock: [(sku: String, location: String, onHand: Int64)] = [
        ("MUG-01", "WH-EAST", 120), ("CAM-01", "WH-EAST", 15), ("STRAP-01", "WH-EAST", 40), ("TV-55", "3PL-WEST", 8),
    ]

    public static let orders: [(channel: String, payload: String)] = [
        ("web", SamplePayloads.web), ("marketplace", SamplePayloads.marketplace),
        ("callcenter", SamplePayloads.callcenter),
    ]

    public static func seed(_ storage: any StorePort, on loop: any EventLoop) async throws -> [String] {
        for pool in stock {
            _ = try await storage.setOnHand(sku: pool.sku, location: pool.location, onHand: pool.onHand, on: loop).get()
        }
        var ids: [String] = []
        let intake = Intake()
        for sample in orders {
            let order = try intake.order(
                channel: sample.channel,
                payload: Array(sample.payload.utf8),
                nowMs: storage.clock.nowMs()
            )
            ids.append(try await storage.ingest(order, actor: "sample data", on: loop).get().order.id)
        }
        try await storage.waitForDelivery(on: loop).get()
        return ids
    }
}

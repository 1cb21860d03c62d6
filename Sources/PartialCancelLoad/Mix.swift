import PartialCancelDomain
import PartialCancelWire

/// What a flow tries, and what must come of it (docs/LOAD.md).
public enum Scenario: String, Sendable, Hashable, CaseIterable {
    /// One unit of the mug line, added by mistake.
    case mistake
    /// The bundle's optional accessory.
    case bundle
    /// The subscription service line, prorated.
    case subscription
    /// A line that may not be cancelled; rotates over `IneligibleKind`.
    case ineligible
    /// One mug requested, then picked by the warehouse before the customer confirms: the request
    /// must be aborted at once and the confirmation refused (a fulfilment event during the flow).
    case overtaken
}

/// The three ways an ineligible flow is refused, in rotation.
public enum IneligibleKind: String, Sendable, Hashable, CaseIterable {
    case shipped, thirdParty, requiredComponent

    /// The eligibility reason the server must give.
    public var reasonCode: String {
        switch self {
        case .shipped: EligibilityReason.Code.orderShipped.rawValue
        case .thirdParty: EligibilityReason.Code.thirdPartyLogistics.rawValue
        case .requiredComponent: EligibilityReason.Code.bundleComponentRequired.rawValue
        }
    }

    /// The line of the sample order that is refused.
    public var lineID: String {
        switch self {
        case .shipped: "L1"
        case .thirdParty: "L4"
        case .requiredComponent: "L2a"
        }
    }
}

/// One flow's plan: its scenario, the lines it asks for and the reason it gives.
public struct FlowPlan: Sendable, Hashable {
    public var scenario: Scenario
    public var ineligible: IneligibleKind?
    public var lines: [CancelLine]
    public var reasonCode: String

    public static func make(_ scenario: Scenario, index: Int) -> FlowPlan {
        switch scenario {
        case .mistake:
            return FlowPlan(
                scenario: scenario,
                lines: [CancelLine(lineID: "L1", quantity: 1)],
                reasonCode: "ADDED_BY_MISTAKE"
            )
        case .bundle:
            return FlowPlan(scenario: scenario, lines: [CancelLine(lineID: "L2b")], reasonCode: "ACCESSORY_NOT_WANTED")
        case .subscription:
            return FlowPlan(scenario: scenario, lines: [CancelLine(lineID: "L3")], reasonCode: "SERVICE_NOT_NEEDED")
        case .overtaken:
            return FlowPlan(
                scenario: scenario,
                lines: [CancelLine(lineID: "L1", quantity: 1)],
                reasonCode: "ADDED_BY_MISTAKE"
            )
        case .ineligible:
            let kind = IneligibleKind.allCases[index % IneligibleKind.allCases.count]
            return FlowPlan(
                scenario: scenario,
                ineligible: kind,
                lines: [CancelLine(lineID: kind.lineID)],
                reasonCode: "CHANGED_MIND"
            )
        }
    }

    public init(scenario: Scenario, ineligible: IneligibleKind? = nil, lines: [CancelLine], reasonCode: String) {
        self.scenario = scenario
        self.ineligible = ineligible
        self.lines = lines
        self.reasonCode = reasonCode
    }
}

/// Scenario weights, e.g. `mistake=60,bundle=20,subscription=10,ineligible=10`. Flow `i` gets a
/// scenario by smooth weighted round robin, so any stretch of flows follows the weights closely and
/// a run is reproducible.
public struct Mix: Sendable, Hashable, CustomStringConvertible {
    public static let `default` = Mix(weights: [
        (.mistake, 55), (.bundle, 20), (.subscription, 10), (.ineligible, 10), (.overtaken, 5),
    ])

    public let weights: [(scenario: Scenario, weight: Int)]
    private let sequence: [Scenario]

    public init(weights: [(Scenario, Int)]) {
        self.weights = weights.filter { $0.1 > 0 }.map { (scenario: $0.0, weight: $0.1) }
        // One period of the smooth weighted round robin, over the weights divided by their gcd.
        let divisor = self.weights.map(\.weight).reduce(0, Self.gcd)
        let reduced = self.weights.map { (scenario: $0.scenario, weight: $0.weight / max(divisor, 1)) }
        let total = reduced.map(\.weight).reduce(0, +)
        var current = Array(repeating: 0, count: reduced.count)
        var sequence: [Scenario] = []
        for _ in 0..<total {
            for i in reduced.indices { current[i] += reduced[i].weight }
            let best = current.indices.max { current[$0] < current[$1] }!
            current[best] -= total
            sequence.append(reduced[best].scenario)
        }
        self.sequence = sequence
    }

    /// Parses `name=weight,…`; names are the scenarios, weights non-negative integers, at least one positive.
    public init(parsing text: String) throws(MixError) {
        var weights: [(Scenario, Int)] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pair = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = pair.first.map { String($0).trimmingSpaces } ?? ""
            guard pair.count == 2, let scenario = Scenario(rawValue: name) else {
                throw MixError(
                    "'\(part)' is not SCENARIO=WEIGHT with SCENARIO one of \(Scenario.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            guard let weight = Int(String(pair[1]).trimmingSpaces), (0...1_000_000).contains(weight) else {
                throw MixError("the weight of \(name) must be an integer 0...1000000, got '\(pair[1])'")
            }
            guard !weights.contains(where: { $0.0 == scenario }) else { throw MixError("\(name) is named twice") }
            weights.append((scenario, weight))
        }
        guard weights.contains(where: { $0.1 > 0 }) else {
            throw MixError("at least one scenario needs a positive weight")
        }
        self.init(weights: weights)
    }

    public func scenario(forFlow index: Int) -> Scenario { sequence[index % sequence.count] }

    public func plan(forFlow index: Int) -> FlowPlan {
        // Ineligible flows rotate over their kinds by their own count, so each kind gets a third.
        let scenario = scenario(forFlow: index)
        let ordinal =
            (index / sequence.count) * sequence.filter { $0 == scenario }.count
            + sequence[..<(index % sequence.count)].filter { $0 == scenario }.count
        return FlowPlan.make(scenario, index: ordinal)
    }

    public var description: String { weights.map { "\($0.scenario.rawValue)=\($0.weight)" }.joined(separator: ",") }

    public static func == (a: Mix, b: Mix) -> Bool { a.description == b.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }

    private static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
}

public struct MixError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

extension String {
    var trimmingSpaces: String { String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()) }
}

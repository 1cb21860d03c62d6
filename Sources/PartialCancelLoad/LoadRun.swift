import NIOConcurrencyHelpers
import NIOCore
import PartialCancelClient
import PartialCancelWire

#if canImport(Glibc)
import Glibc
#endif

/// What a run does; every bound is named here (docs/LOAD.md).
public struct LoadOptions: Sendable {
    /// Flows to run; with `duration`, whichever ends first.
    public var flows: Int?
    /// Seconds to run flows for.
    public var duration: Double?
    /// Closed loop: flows at a time.
    public var concurrency: Int = 32
    /// Open loop: flows started per second (overrides `concurrency`).
    public var rate: Double?
    /// Open loop: most flows outstanding before new ones wait (their lateness still counts).
    public var maxOutstanding: Int = 50_000
    public var mix: Mix = .default
    /// Orders ingested before the flows start; a flow past them ingests its own.
    public var seedOrders: Int = 1000
    /// IngestOrder calls in flight while seeding.
    public var seedConcurrency: Int = 32
    /// Deadline of every call.
    public var deadline: TimeAmount = .seconds(30)
    /// Longest wait for a confirmed cancellation to reach COMPLETED.
    public var completionTimeout: TimeAmount = .seconds(30)
    /// Longest wait, after the flows, for the stock pools to show every release.
    public var settle: TimeAmount = .seconds(10)
    /// Names this run's orders, accounts and skus.
    public var prefix: String
    /// Measure ConfirmCancellation alone: seeding also requests each flow's cancellation and reads
    /// its token, and each flow is then only the confirmation (checked like a whole flow's).
    public var confirmOnly = false
    /// On hand set for each of the run's pools (default: 3 × the flows or orders seeded + 1000).
    public var onHand: Int64?
    /// Called with every acknowledged confirmation (cancellation id and refund) as it arrives: the
    /// crash harness logs them and checks each survived.
    public var acknowledge: (@Sendable (_ cancellationID: String, _ refund: RefundView) -> Void)?

    /// Watch every eligible flow's order on this connection and check what it sees (`--watch`).
    public var watcher: PartialCancelClient?

    public init(prefix: String) { self.prefix = prefix }

    /// The flow count the run aims at (unbounded in time-only runs).
    var flowLimit: Int { confirmOnly ? min(flows ?? .max, seedOrders) : (flows ?? .max) }
}

/// The outcome of a run: the recorder's figures plus seeding and the stock audit.
public struct LoadResult: Sendable {
    public var options: LoadOptions
    public var snapshot: LoadRecorder.Snapshot
    public var seeded: Int
    public var seedSeconds: Double
    public var flowSeconds: Double
    /// Pools audited, and those that did not add up (also counted as mismatches in `snapshot`).
    public var poolsAudited: Int
    /// This process's CPU time (user and system) while the flows ran: the load's own, and with an
    /// embedded server the server's too.
    public var cpuSeconds: Double = 0
    public var cpuMsPerFlow: Double {
        snapshot.flowsCompleted > 0 ? cpuSeconds * 1000 / Double(snapshot.flowsCompleted) : 0
    }
    public var throughput: Double { flowSeconds > 0 ? Double(snapshot.flowsCompleted) / flowSeconds : 0 }
    public var succeeded: Bool {
        snapshot.flowsFailed == 0 && snapshot.mismatchCount == 0 && snapshot.flowsCompleted > 0
    }
}

/// Seeds, runs the flows (closed or open loop), audits the stock, and returns the figures.
public final class LoadRun: Sendable {
    public let options: LoadOptions
    public let recorder = LoadRecorder()
    private let factory: OrderFactory
    private let agents: [any FlowTransport]
    private let portals: [any FlowTransport]
    private let orders = NIOLockedValueBox<[Int: SeededOrder]>([:])
    private let prepared = NIOLockedValueBox<[Int: FlowRunner.Prepared]>([:])
    /// What seeding does besides ingesting (requests made ahead in `confirmOnly` runs).
    public let seedRecorder = LoadRecorder()
    private let ledger = NIOLockedValueBox(Ledger())
    private let begin = NIOLockedValueBox<NIODeadline?>(nil)
    /// Set by `stop()` (Ctrl-C): no flow starts after it; those in flight finish and are checked.
    private let stopped = NIOLockedValueBox(false)

    /// What the flows gave back to the pools, and the flows whose end is not known.
    private struct Ledger {
        var released: [PoolKey: Int64] = [:]
        var uncertain: [(cancellationID: String, released: [PoolKey: Int64])] = []
        /// Flows whose intake failed without a refusal (the connection or the database went
        /// away): the order may be stored all the same, with its reservations.
        var uncertainIntakes: [Int] = []
    }

    /// `agents` must hold keys that may ingest orders and set stock (admin), `portals` portal keys.
    public init(options: LoadOptions, agents: [any FlowTransport], portals: [any FlowTransport]) {
        precondition(!agents.isEmpty && agents.count == portals.count)
        self.options = options
        self.factory = OrderFactory(prefix: options.prefix)
        self.agents = agents
        self.portals = portals
    }

    /// Ends the run early: no new flow starts; the flows in flight finish, are checked and audited,
    /// and `run()` returns the figures so far (Ctrl-C keeps the report).
    public func stop() { stopped.withLockedValue { $0 = true } }

    /// Whether `stop()` was called.
    public var isStopped: Bool { stopped.withLockedValue { $0 } }

    /// Time since the flows began, for progress lines.
    public var flowElapsed: Double {
        begin.withLockedValue { $0 }.map { Double((NIODeadline.now() - $0).nanoseconds) / 1e9 } ?? 0
    }

    public func run() async throws -> LoadResult {
        let seedStart = NIODeadline.now()
        let seedCount = min(options.seedOrders, options.flowLimit)
        let stockPerPool = options.onHand ?? Int64(3 * max(seedCount, options.flows ?? 0) + 1000)
        try await putStock(onHand: stockPerPool)
        try await seed(count: seedCount)
        let seedSeconds = Self.seconds(since: seedStart)

        let flowStart = NIODeadline.now()
        let cpuStart = Self.processCPUSeconds()
        begin.withLockedValue { $0 = flowStart }
        if let rate = options.rate {
            await openLoop(rate: rate, start: flowStart)
        } else {
            await closedLoop(start: flowStart)
        }
        let flowSeconds = Self.seconds(since: flowStart)
        let cpuSeconds = Self.processCPUSeconds() - cpuStart

        let audited = try await auditStock(onHand: stockPerPool)
        return LoadResult(
            options: options,
            snapshot: recorder.snapshot(),
            seeded: orders.withLockedValue { $0.count },
            seedSeconds: seedSeconds,
            flowSeconds: flowSeconds,
            poolsAudited: audited,
            cpuSeconds: cpuSeconds
        )
    }

    // MARK: Seeding

    private func putStock(onHand: Int64) async throws {
        for pool in OrderFactory.pools {
            _ = try await agents[0].call(
                Methods.putStock,
                PutStockRequest(sku: factory.sku(pool.sku), location: pool.location, onHand: onHand),
                as: PutStockResponse.self,
                deadline: options.deadline
            )
        }
    }

    private func seed(count: Int) async throws {
        let indices = Dispenser(limit: count, stopAt: nil)
        try await withThrowingDiscardingTaskGroup { group in
            for lane in 0..<min(options.seedConcurrency, count) {
                group.addTask {
                    while let index = indices.take() {
                        let lane = lane % self.agents.count
                        let order = try await self.ingest(index, on: self.agents[lane])
                        if self.options.confirmOnly { try await self.prepare(index, order: order, lane: lane) }
                    }
                }
            }
        }
    }

    /// Ingests flow `index`'s order; the seeding stops at the first refusal (the server or the keys are wrong).
    private func ingest(_ index: Int, on client: any FlowTransport) async throws -> SeededOrder {
        let shipped = options.mix.plan(forFlow: index).ineligible == .shipped
        let (channel, payload) = factory.payload(forFlow: index, shippedFirstLine: shipped)
        let start = NIODeadline.now()
        let response = try await client.call(
            Methods.ingestOrder,
            IngestOrderRequest(channel: channel, payload: ByteBuffer(string: payload)),
            as: IngestOrderResponse.self,
            deadline: options.deadline
        )
        recorder.rpc(Methods.ingestOrder, since: start)
        let order = SeededOrder(response.order)
        orders.withLockedValue { $0[index] = order }
        return order
    }

    private func prepare(_ index: Int, order: SeededOrder, lane: Int) async throws {
        let runner = FlowRunner(
            clients: FlowClients(agent: agents[lane], portal: portals[lane]),
            recorder: seedRecorder,
            deadline: options.deadline,
            completionTimeout: options.completionTimeout
        )
        guard let ready = await runner.prepare(index: index, plan: options.mix.plan(forFlow: index), order: order)
        else {
            throw SeedingError(
                description:
                    "preparing flow \(index) failed: \(seedRecorder.snapshot().examples.joined(separator: "; "))"
            )
        }
        prepared.withLockedValue { $0[index] = ready }
    }

    // MARK: Flows

    /// When a `--duration` run stops starting flows.
    private func stopTime(from start: NIODeadline) -> NIODeadline? {
        options.duration.map { start + .nanoseconds(Int64($0 * 1e9)) }
    }

    private func closedLoop(start: NIODeadline) async {
        let indices = Dispenser(limit: options.flowLimit, stopAt: stopTime(from: start))
        await withDiscardingTaskGroup { group in
            for _ in 0..<min(options.concurrency, options.flowLimit) {
                group.addTask {
                    while !self.isStopped, let index = indices.take() {
                        await self.flow(index, intendedStart: NIODeadline.now())
                    }
                }
            }
        }
    }

    private func openLoop(rate: Double, start: NIODeadline) async {
        let stopAt = stopTime(from: start)
        let outstanding = NIOLockedValueBox(0)
        await withDiscardingTaskGroup { group in
            var index = 0
            while index < options.flowLimit && !isStopped {
                let intended = start + .nanoseconds(Int64(Double(index) * 1e9 / rate))
                if let stopAt, intended >= stopAt { break }
                let wait = intended - NIODeadline.now()
                if wait > .zero { try? await Task.sleep(nanoseconds: UInt64(wait.nanoseconds)) }
                while outstanding.withLockedValue({ $0 }) >= options.maxOutstanding {
                    try? await Task.sleep(nanoseconds: 1_000_000)
                }
                outstanding.withLockedValue { $0 += 1 }
                let flowIndex = index
                group.addTask {
                    await self.flow(flowIndex, intendedStart: intended)
                    outstanding.withLockedValue { $0 -= 1 }
                }
                index += 1
            }
        }
    }

    private func flow(_ index: Int, intendedStart: NIODeadline) async {
        let lane = index % agents.count
        let clients = FlowClients(agent: agents[lane], portal: portals[lane])
        let order: SeededOrder
        if let seeded = orders.withLockedValue({ $0[index] }) {
            order = seeded
        } else {
            do {
                order = try await ingest(index, on: clients.agent)
            } catch {
                let status = (error as? ClientError)?.status ?? Status(.unknown, "\(error)")
                recorder.failed(Methods.ingestOrder, status, flow: "flow \(index)")
                if status.code == .unavailable || status.code == .deadlineExceeded {
                    ledger.withLockedValue { $0.uncertainIntakes.append(index) }
                }
                return
            }
        }
        let runner = FlowRunner(
            clients: clients,
            recorder: recorder,
            deadline: options.deadline,
            completionTimeout: options.completionTimeout,
            acknowledge: options.acknowledge,
            watcher: options.watcher
        )
        let end: FlowEnd
        if options.confirmOnly {
            guard let ready = prepared.withLockedValue({ $0[index] }) else {
                recorder.failed(
                    Methods.confirmCancellation,
                    Status(
                        .failedPrecondition,
                        "no prepared request for flow \(index)",
                        reasons: [Reason(.notPrepared)]
                    ),
                    flow: "flow \(index)"
                )
                return
            }
            end = await runner.confirm(ready, index: index, intendedStart: intendedStart)
        } else {
            end = await runner.run(
                index: index,
                plan: options.mix.plan(forFlow: index),
                order: order,
                intendedStart: intendedStart
            )
        }
        ledger.withLockedValue { ledger in
            switch end {
            case .settled(let released):
                ledger.released.merge(released, uniquingKeysWith: +)
            case .uncertain(let id?, let released):
                ledger.uncertain.append((id, released))
            case .uncertain(nil, _):
                break
            }
        }
    }

    // MARK: Audit

    /// Every run pool must show exactly: on hand as set, reserved = Σ intake reservations − Σ releases.
    private func auditStock(onHand: Int64) async throws -> Int {
        let client = agents[0]
        let giveUp = NIODeadline.now() + options.settle
        // Flows that stopped midway: ask the server how they ended.
        for flow in ledger.withLockedValue({ $0.uncertain }) {
            while true {
                let state = try await client.call(
                    Methods.getCancellation,
                    GetCancellationRequest(id: flow.cancellationID),
                    as: GetCancellationResponse.self,
                    deadline: options.deadline
                ).cancellation.state
                if state == "CONFIRMED", NIODeadline.now() < giveUp {
                    try await Task.sleep(nanoseconds: 10_000_000)
                    continue
                }
                if state == "COMPLETED" || state == "CONFIRMED" {
                    ledger.withLockedValue { $0.released.merge(flow.released, uniquingKeysWith: +) }
                }
                break
            }
        }
        // Intakes that failed midway: the order counts if the server has it.
        for index in ledger.withLockedValue({ $0.uncertainIntakes }) {
            let id = factory.orderID(forFlow: index)
            do {
                let stored = try await client.call(
                    Methods.getOrder,
                    GetOrderRequest(orderID: id),
                    as: GetOrderResponse.self,
                    deadline: options.deadline
                ).order
                orders.withLockedValue { $0[index] = SeededOrder(stored) }
            } catch let error as ClientError where error.status.code == .notFound {
                continue
            }
        }
        var expected: [PoolKey: Int64] = [:]
        for order in orders.withLockedValue({ Array($0.values) }) {
            expected.merge(order.reservations, uniquingKeysWith: +)
        }
        for (pool, units) in ledger.withLockedValue({ $0.released }) { expected[pool, default: 0] -= units }

        let pools = OrderFactory.pools.map { PoolKey(sku: factory.sku($0.sku), location: $0.location) }
        for pool in pools {
            var seen = StockPoolView()
            while true {
                seen =
                    try await client.call(
                        Methods.getStock,
                        GetStockRequest(sku: pool.sku, location: pool.location),
                        as: GetStockResponse.self,
                        deadline: options.deadline
                    ).pools.first ?? StockPoolView()
                if seen.reserved == expected[pool, default: 0] || NIODeadline.now() >= giveUp { break }
                try await Task.sleep(nanoseconds: 20_000_000)
            }
            if seen.onHand != onHand {
                recorder.mismatch("STOCK_ON_HAND", "\(pool) on hand \(seen.onHand), set \(onHand)", flow: "audit")
            }
            if seen.reserved != expected[pool, default: 0] {
                recorder.mismatch(
                    "STOCK_RESERVED",
                    "\(pool) reserved \(seen.reserved), expected \(expected[pool, default: 0])",
                    flow: "audit"
                )
            }
        }
        return pools.count
    }

    /// Hands out 0, 1, 2, … to concurrent lanes until `limit`, or until `stopAt` has passed.
    private final class Dispenser: Sendable {
        private let next = NIOLockedValueBox(0)
        private let limit: Int
        private let stopAt: NIODeadline?

        init(limit: Int, stopAt: NIODeadline?) {
            self.limit = limit
            self.stopAt = stopAt
        }

        func take() -> Int? {
            next.withLockedValue { value in
                guard value < limit, stopAt.map({ NIODeadline.now() < $0 }) ?? true else { return nil }
                defer { value += 1 }
                return value
            }
        }
    }

    struct SeedingError: Error, CustomStringConvertible {
        var description: String
    }

    /// User and system CPU time of this process so far.
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    private static func seconds(since start: NIODeadline) -> Double {
        Double((NIODeadline.now() - start).nanoseconds) / 1e9
    }
}

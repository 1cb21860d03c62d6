import Foundation
import PartialCancelClient
import PartialCancelDomain
import PartialCancelTestSupport
import PartialCancelWire
import Testing

@testable import PartialCancelLoad

@Suite("pcancel-load: mix, orders and checks")
struct LoadPlanTests {
    @Test(
        "the default mix follows its weights in every stretch of twenty flows, and ineligible flows rotate over the three refusals"
    )
    func defaultMix() {
        let mix = Mix.default
        for start in stride(from: 0, to: 200, by: 20) {
            let counts = Dictionary(grouping: (start..<start + 20).map(mix.scenario(forFlow:)), by: { $0 }).mapValues(
                \.count
            )
            #expect(counts == [.mistake: 11, .bundle: 4, .subscription: 2, .ineligible: 2, .overtaken: 1])
        }
        let kinds = (0..<600).compactMap { mix.plan(forFlow: $0).ineligible }
        #expect(kinds.count == 60)
        #expect(
            Dictionary(grouping: kinds, by: { $0 }).mapValues(\.count) == [
                .shipped: 20, .thirdParty: 20, .requiredComponent: 20,
            ]
        )
    }

    @Test("mix strings are parsed or refused with a message that names the fault")
    func parsing() throws {
        #expect(try Mix(parsing: "bundle=1, ineligible=3").description == "bundle=1,ineligible=3")
        #expect(try Mix(parsing: "mistake=0,bundle=5").description == "bundle=5")
        let refused: [(String, String)] = [
            ("refund=3", "SCENARIO=WEIGHT"), ("mistake", "SCENARIO=WEIGHT"), ("mistake=-1", "integer"),
            ("mistake=x", "integer"), ("mistake=1,mistake=2", "twice"), ("mistake=0", "positive"),
            ("", "SCENARIO=WEIGHT"),
        ]
        for (text, message) in refused {
            #expect(throws: MixError.self, "\(text)") { _ = try Mix(parsing: text) }
            do { _ = try Mix(parsing: text) } catch {
                #expect(error.description.contains(message), "\(text): \(error)")
            }
        }
    }

    @Test("the factory's orders are the sample orders under the run's own ids, accounts and skus, in every channel")
    func factory() throws {
        let factory = OrderFactory(prefix: "LDTEST")
        let intake = Intake()
        for index in 0..<6 {
            let (channel, payload) = factory.payload(forFlow: index, shippedFirstLine: index >= 3)
            #expect(channel == OrderFactory.channels[index % 3])
            let order = try intake.order(
                channel: channel,
                payload: Array(payload.utf8),
                nowMs: Int64(Date().timeIntervalSince1970 * 1000)
            )
            #expect(order.externalID == "LDTEST-\(index)")
            #expect(order.account.id == "LDTEST-a\(index)")
            #expect(order.lines.compactMap(\.fulfilment).isEmpty == false)
            #expect(order.lines.allSatisfy { $0.sku.hasPrefix("LDTEST-") })
            #expect(order.line("L1")?.fulfilment?.status == (index >= 3 ? .shipped : .reserved))
            #expect(order.line("L4")?.fulfilment?.status == .reserved)
            let sample = try intake.order(
                channel: channel,
                payload: Array(SampleData(channel).utf8),
                nowMs: Int64(Date().timeIntervalSince1970 * 1000)
            )
            #expect(order.totals == sample.totals)
        }
    }

    private func SampleData(_ channel: String) -> String {
        [
            "web": SamplePayloads.web, "marketplace": SamplePayloads.marketplace,
            "callcenter": SamplePayloads.callcenter,
        ][channel]!
    }

    @Test("the confirmation check passes a right answer and names every wrong one")
    func confirmationCheck() {
        var line = LineView()
        line.id = "L1"
        line.quantity = 2
        var before = OrderView()
        before.id = "web-X"
        before.totals.total = 10_000
        before.lines = [line]
        let order = SeededOrder(before)
        let plan = FlowPlan.make(.mistake, index: 0)

        var quote = QuoteView()
        quote.refundTotal = 3000
        quote.tenders = [TenderAllocationView(tenderID: "T2", method: "REFUND", amount: 3000)]
        quote.newTotals.total = 7000
        var refund = RefundView()
        refund.amount = 3000
        refund.allocations = quote.tenders
        var after = before
        after.totals.total = 7000
        after.lines[0].cancelledQuantity = 1
        let right = ConfirmCancellationResponse(cancellation: CancellationView(), refund: refund, order: after)
        #expect(ConfirmationCheck.findings(right, quote: quote, order: order, plan: plan).isEmpty)

        var wrong = right
        wrong.refund?.amount = 3001
        #expect(
            ConfirmationCheck.findings(wrong, quote: quote, order: order, plan: plan).map(\.kind) == [
                "REFUND_NOT_QUOTE", "ALLOCATIONS_SUM", "TOTALS_INVARIANT",
            ]
        )
        wrong = right
        wrong.refund?.allocations = [TenderAllocationView(tenderID: "T1", method: "REFUND", amount: 3000)]
        #expect(
            ConfirmationCheck.findings(wrong, quote: quote, order: order, plan: plan).map(\.kind) == [
                "ALLOCATIONS_NOT_QUOTE"
            ]
        )
        wrong = right
        wrong.order?.totals.total = 7001
        #expect(
            ConfirmationCheck.findings(wrong, quote: quote, order: order, plan: plan).map(\.kind) == [
                "TOTALS_INVARIANT", "NEW_TOTAL_NOT_QUOTE",
            ]
        )
        wrong = right
        wrong.order?.lines[0].cancelledQuantity = 2
        #expect(
            ConfirmationCheck.findings(wrong, quote: quote, order: order, plan: plan).map(\.kind) == [
                "LINE_NOT_CANCELLED"
            ]
        )
        wrong = right
        wrong.refund = nil
        #expect(
            ConfirmationCheck.findings(wrong, quote: quote, order: order, plan: plan).map(\.kind) == ["REFUND_MISSING"]
        )
    }
}

@Suite("pcancel-load against a real server")
struct LoadRunTests {
    func run(_ server: TestServer, configure: (inout LoadOptions) -> Void) async throws -> LoadResult {
        var options = LoadOptions(prefix: "LD\(UInt16.random(in: 0 ... .max))")
        options.settle = .seconds(10)
        configure(&options)
        var agents: [PartialCancelClient] = []
        var portals: [PartialCancelClient] = []
        for _ in 0..<2 {
            agents.append(try await server.client(key: TestServer.adminKey))
            portals.append(try await server.client(key: TestServer.portalKey))
        }
        let result = try await LoadRun(options: options, agents: agents, portals: portals).run()
        for client in agents + portals { await client.close() }
        return result
    }

    @Test("a closed-loop mixed run completes every flow with every check passing and the stock audit exact")
    func closedLoop() async throws {
        let server = try await TestServer.start()
        let result = try await run(server) { options in
            options.flows = 90
            options.seedOrders = 60  // the last 30 flows ingest their own orders
            options.concurrency = 8
        }
        try await server.stop()
        let s = result.snapshot
        #expect(s.examples.isEmpty, "\(s.examples)")
        #expect(s.flowsStarted == 90 && s.flowsCompleted == 90 && s.flowsFailed == 0 && s.mismatchCount == 0)
        #expect(s.completedByScenario == [.mistake: 50, .bundle: 18, .subscription: 9, .ineligible: 9, .overtaken: 4])
        #expect(result.seeded == 90 && result.poolsAudited == 4 && result.succeeded)
        // Each eligible flow validates, requests, reads its inbox and confirms once (an overtaken one is
        // refused, after the warehouse's PICKED event); ineligible ones stop after the refusal.
        #expect(s.rpc[Methods.validateEligibility]?.totalCount == 90)
        #expect(s.rpc[Methods.requestCancellation]?.totalCount == 90)
        #expect(s.rpc[Methods.confirmCancellation]?.totalCount == 81)
        #expect(s.rpc[Methods.listNotifications]?.totalCount == 81)
        #expect(s.rpc[Methods.ingestOrder]?.totalCount == 90)
        #expect(s.rpc[Methods.recordFulfilmentEvents]?.totalCount == 4)
        #expect(s.processing.totalCount == 90 && s.processing.maxRecorded <= s.flow.maxRecorded)

        let report = LoadReport(result: result).json
        for key in [
            "flows_completed", "flows_failed", "mismatches", "throughput_flows_per_s", "processing_ms", "rpc_ms",
        ] {
            #expect(report[key] != nil, "\(key)")
        }
        let processing = try #require(report["processing_ms"] as? [String: Any])
        #expect(Set(processing.keys).isSuperset(of: ["mean", "p50", "p99", "max"]))
    }

    @Test("with a watcher, every eligible flow's whole history arrives by watch, and the push latency is measured")
    func watchedFlows() async throws {
        let server = try await TestServer.start()
        let watcher = try await server.client(key: TestServer.agentKey)
        let result = try await run(server) { options in
            options.flows = 40
            options.concurrency = 8
            options.watcher = watcher
        }
        await watcher.close()
        try await server.stop()
        let s = result.snapshot
        #expect(s.examples.isEmpty, "\(s.examples)")
        #expect(result.succeeded && s.flowsCompleted == 40 && s.mismatchCount == 0)
        // One push measured per flow that completes a cancellation (34 of 40: every tenth is
        // ineligible, every twentieth overtaken by the warehouse).
        #expect(s.rpc[OrderWatchProbe.pushName]?.totalCount == 34)
    }

    @Test("an open-loop run measures from each flow's intended start")
    func openLoop() async throws {
        let server = try await TestServer.start()
        let result = try await run(server) { options in
            options.flows = 40
            options.rate = 200
            options.mix = try! Mix(parsing: "mistake=1,ineligible=1")
        }
        try await server.stop()
        let s = result.snapshot
        #expect(s.examples.isEmpty, "\(s.examples)")
        #expect(s.flowsCompleted == 40 && s.mismatchCount == 0)
        #expect(s.completedByScenario == [.mistake: 20, .ineligible: 20])
        // 40 flows due over 0.2 s cannot all end before the last one is due.
        #expect(result.flowSeconds >= 0.19)
    }
}

@Suite("pcancel-load as a process")
struct LoadProcessTests {
    @Test(
        "--embedded --webhooks counts every event its subscriptions bring, each order's in order; the CPU per flow is reported"
    )
    func webhooks() async throws {
        let result = try await runCommand(
            try Paths.executable("pcancel-load"),
            [
                "--embedded", "--flows", "40", "--concurrency", "8", "--synchronous", "NORMAL", "--webhooks", "2",
                "--quiet",
            ]
        )
        #expect(result.status == 0, "\(result.output)\n\(result.error)")
        let line = try #require(result.output.split(separator: "\n").first { $0.contains("webhooks: ") })
        let received = Int(line.split(separator: " ").drop { $0 != "webhooks:" }.dropFirst().first ?? "") ?? 0
        // Every flow's order sends several events to each of the two subscriptions.
        #expect(received >= 40 * 2 * 3, "\(line)")
        #expect(line.hasSuffix("0 repeated or out of order"))
        #expect(result.output.contains("process CPU per flow: "))
    }

    @Test(
        "--payments async: an asynchronous payment service takes every allocation, the run records each result while flows go on; failures get store credit"
    )
    func asyncPayments() async throws {
        let result = try await runCommand(
            try Paths.executable("pcancel-load"),
            [
                "--embedded", "--flows", "60", "--concurrency", "8", "--synchronous", "NORMAL", "--payments", "async",
                "--quiet",
            ]
        )
        #expect(result.status == 0, "\(result.output)\n\(result.error)")
        let line = try #require(result.output.split(separator: "\n").first { $0.contains("refund_results: ") })
        let numbers = line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        // taken, sent again, SUCCEEDED, FAILED, refused
        #expect(numbers.count == 5, "\(line)")
        #expect(
            numbers[0] > 30 && numbers[2] + numbers[3] == numbers[0] && numbers[3] >= 1 && numbers[4] == 0,
            "\(line)"
        )
    }

    @Test("Ctrl-C ends a run early but keeps its report and --json file: the flows in flight finish and are checked")
    func interrupted() async throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("load.json")
        let process = Process()
        process.executableURL = try Paths.executable("pcancel-load")
        process.arguments = [
            "--embedded", "--seed", "100", "--flows", "1000000", "--concurrency", "8", "--synchronous", "NORMAL",
            "--json", file.path, "--quiet",
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try launch(process)
        try await Task.sleep(nanoseconds: 3_000_000_000)
        kill(process.processIdentifier, SIGINT)
        let text = try await offCooperativePool { () -> String in
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
        #expect(process.terminationStatus == 130, "\(text)")
        #expect(text.contains("interrupted: with Ctrl-C after"), "\(text)")
        #expect(text.contains("OK: every flow checked, no mismatch") || text.contains("0 mismatches"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
        #expect((json["flows_completed"] as? Int ?? 0) > 0 && json["mismatches"] as? Int == 0)
        #expect((json["flows_completed"] as? Int ?? 0) < 1_000_000)
    }

    @Test("--embedded runs a mixed workload, prints the report and writes every figure as JSON")
    func embedded() async throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("load.json")
        let result = try await runCommand(
            try Paths.executable("pcancel-load"),
            [
                "--embedded", "--flows", "40", "--concurrency", "8", "--synchronous", "NORMAL", "--json", file.path,
                "--quiet",
            ]
        )
        #expect(result.status == 0, "\(result.output)\n\(result.error)")
        #expect(result.output.contains("OK: every flow checked, no mismatch"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
        #expect(
            json["flows_completed"] as? Int == 40 && json["flows_failed"] as? Int == 0
                && json["mismatches"] as? Int == 0
        )
        #expect(json["connections"] as? Int == 2)  // a number, not "2"
        let rpc = try #require(json["rpc_ms"] as? [String: [String: Any]])
        #expect(
            Set(rpc.keys) == [
                "IngestOrder", "ValidateEligibility", "RequestCancellation", "ListNotifications", "ConfirmCancellation",
                "RecordFulfilmentEvents", "GetCancellation",
            ]
                || Set(rpc.keys) == [
                    "IngestOrder", "ValidateEligibility", "RequestCancellation", "ListNotifications",
                    "ConfirmCancellation", "RecordFulfilmentEvents",
                ]
        )
        #expect((json["processing_ms"] as? [String: Any])?["p99"] is Double)
    }

    @Test("--in-process runs the same checked flows without sockets; --confirm-only measures confirmations alone")
    func modes() async throws {
        let load = try Paths.executable("pcancel-load")
        let inProcess = try await runCommand(
            load,
            ["--embedded", "--in-process", "--flows", "30", "--synchronous", "NORMAL", "--quiet"]
        )
        #expect(inProcess.status == 0, "\(inProcess.output)\n\(inProcess.error)")
        #expect(
            inProcess.output.contains("in-process")
                && inProcess.output.contains("flows: 30 completed, 0 failed, 0 mismatches")
        )
        let confirmOnly = try await runCommand(
            load,
            ["--embedded", "--confirm-only", "--flows", "30", "--synchronous", "NORMAL", "--quiet"]
        )
        #expect(confirmOnly.status == 0, "\(confirmOnly.output)\n\(confirmOnly.error)")
        #expect(
            confirmOnly.output.contains("flows: 30 completed, 0 failed, 0 mismatches")
                && confirmOnly.output.contains("ConfirmCancellation alone")
        )
    }

    @Test("bad flags are refused before anything runs")
    func usage() async throws {
        let load = try Paths.executable("pcancel-load")
        let result = try await runCommand(load, ["--embedded", "--mix", "mistake=1,refund=2"])
        #expect(result.status == 64)
        #expect(result.error.contains("refund=2"))
        let remote = try await runCommand(load, ["--in-process"])
        #expect(remote.status == 64 && remote.error.contains("--in-process needs --embedded"))
    }
}

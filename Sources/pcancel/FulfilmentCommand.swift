import ArgumentParser
import Foundation
import NIOCore
import PartialCancelClient
import PartialCancelWire

struct FulfilmentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fulfilment",
        abstract: "Records fulfilment events from a warehouse or a 3PL partner.",
        subcommands: [Record.self]
    )

    struct Record: ServerCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sends a fulfilment source's JSON batch and prints what became of each event.",
            discussion: """
                Sources: warehouse (line statuses by order and line) and 3pl (a partner's shipment milestones); \
                the formats are in docs/CHANNELS.md. Each event is APPLIED, IGNORED (a late, lower status), \
                DUPLICATE (recorded before under the same source and event id) or REFUSED (kept as a dead letter, \
                to re-drive once fixed). Pending cancellations the events made ineligible are listed as aborted. \
                Exits 1 when any event was refused.
                """
        )
        @OptionGroup var local: ConnectionOptions
        @ParentCommand var root: PCancelCommand
        @Option(name: .long, help: "Source: warehouse or 3pl.") var source: String
        @Option(name: .long, help: "File with the batch; - for standard input.") var file: String

        func run() async throws {
            let data = try PayloadFile.read(file)
            try await connection.withClient { client in
                let response = try await client.call(
                    Methods.recordFulfilmentEvents,
                    RecordFulfilmentEventsRequest(source: source, payload: ByteBuffer(bytes: data)),
                    as: RecordFulfilmentEventsResponse.self
                )
                if connection.json {
                    Output.json([
                        "results": response.results.map(Self.json),
                        "aborted": response.aborted.map { ["id": $0.id, "state": $0.state] },
                    ])
                } else {
                    for result in response.results {
                        var line =
                            "\(result.result.padding(toLength: 9, withPad: " ", startingAt: 0)) \(result.source) \(result.eventID)  \(result.orderID) \(result.lineID)"
                        if result.orderVersion > 0 { line += "  version \(result.orderVersion)" }
                        if !result.detail.isEmpty { line += "  \(result.detail)" }
                        if !result.deadLetterID.isEmpty { line += "  (dead letter \(result.deadLetterID))" }
                        print(line)
                    }
                    for request in response.aborted { print("aborted   \(request.id)") }
                }
                if response.results.contains(where: { $0.result == "REFUSED" }) { throw ExitCode(1) }
            }
        }

        static func json(_ result: FulfilmentEventResult) -> [String: Any] {
            [
                "source": result.source, "event_id": result.eventID, "order_id": result.orderID,
                "line_id": result.lineID, "result": result.result, "detail": result.detail, "reason": result.reason,
                "path": result.path, "order_version": result.orderVersion, "dead_letter_id": result.deadLetterID,
            ]
        }
    }
}

/// A payload named on the command line: a file, or `-` for standard input.
enum PayloadFile {
    static func read(_ file: String) throws -> Data {
        if file == "-" { return FileHandle.standardInput.readDataToEndOfFile() }
        guard let contents = FileManager.default.contents(atPath: file) else {
            throw ValidationError("cannot read --file \(file)")
        }
        return contents
    }
}

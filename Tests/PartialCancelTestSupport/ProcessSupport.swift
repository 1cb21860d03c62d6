import Foundation

/// Paths of the repository and of the built executables, for tests that run real processes.
public enum Paths {
    public static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The build products folder: where the test bundle itself was built.
    public static var products: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    }

    public static func executable(_ name: String) throws -> URL {
        let url = products.appendingPathComponent(name)
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            throw ProcessFailure("\(name) is not built at \(url.path); run `swift build --build-tests` first")
        }
        return url
    }

    public static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("pcancel-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

public struct ProcessFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A `pcancel-server` child process, started and waited for until it prints its port.
public final class ServerProcess {
    public let process = Process()
    private let output = Pipe()
    public private(set) var lines: [String] = []
    public private(set) var port = 0

    /// Starts the server and waits (on a thread of its own) until it prints its port.
    public static func start(arguments: [String], workingDirectory: URL) async throws -> ServerProcess {
        let box = try await offCooperativePool {
            UncheckedBox(try ServerProcess(arguments: arguments, workingDirectory: workingDirectory))
        }
        return box.value
    }

    private init(arguments: [String], workingDirectory: URL) throws {
        process.executableURL = try Paths.executable("pcancel-server")
        process.arguments = arguments
        process.currentDirectoryURL = workingDirectory
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try launch(process)
        let deadline = Date().addingTimeInterval(30)
        var pending = ""
        while port == 0 {
            guard Date() < deadline, process.isRunning else {
                throw ProcessFailure("pcancel-server did not report its port; output: \(lines)")
            }
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { continue }
            pending += String(decoding: data, as: UTF8.self)
            while let newline = pending.firstIndex(of: "\n") {
                let line = String(pending[..<newline])
                pending = String(pending[pending.index(after: newline)...])
                lines.append(line)
                if line.contains("listening on"), let colon = line.lastIndex(of: ":") {
                    port = Int(line[line.index(after: colon)...]) ?? 0
                }
            }
        }
    }

    public func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to exit; returns its status, or nil after `timeout` seconds.
    public func waitForExit(timeout: TimeInterval) async -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline { return nil }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// Runs blocking work on a thread of its own, so that waiting for a child process never holds one
/// of the few cooperative threads every async test shares (on 2 cores, two blocked threads stall
/// every other test's continuations, and their wall-clock timeouts then fire).
public func offCooperativePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.start()
    }
}

/// Runs a command to completion (on its own thread) and returns its exit status and output.
public func runCommand(
    _ executable: URL,
    _ arguments: [String],
    workingDirectory: URL? = nil,
    environment: [String: String]? = nil
) async throws -> (status: Int32, output: String, error: String) {
    try await offCooperativePool {
        try runCommandBlocking(executable, arguments, workingDirectory: workingDirectory, environment: environment)
    }
}

/// Runs a command to completion and returns its exit status and standard output.
public func runCommandBlocking(
    _ executable: URL,
    _ arguments: [String],
    workingDirectory: URL? = nil,
    environment: [String: String]? = nil
) throws -> (status: Int32, output: String, error: String) {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let workingDirectory { process.currentDirectoryURL = workingDirectory }
    if let environment { process.environment = environment }
    let stdout = Pipe()
    let stderr = Pipe()
    process.standardOutput = stdout
    process.standardError = stderr
    try launch(process)
    // Read before waiting, so a chatty child cannot fill the pipe and block.
    let out = stdout.fileHandleForReading.readDataToEndOfFile()
    let err = stderr.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
}

/// Carries a non-Sendable value out of `offCooperativePool`; it is used by one task only.
public struct UncheckedBox<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}

/// Starts `process`, one launch at a time across the test process: Foundation's `Process.run` on
/// Linux crashed (a bad pointer in its launch) when several tests started children at once.
public func launch(_ process: Process) throws {
    launching.lock()
    defer { launching.unlock() }
    try process.run()
}

private let launching = NSLock()

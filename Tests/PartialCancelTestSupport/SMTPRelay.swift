import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A real SMTP server: Python's aiosmtpd, writing what it receives to a maildir.
public final class SMTPServer {
    public let process = Process()
    public let port: Int
    public let maildir: URL

    public init(port: Int, maildir: URL) throws {
        self.port = port
        self.maildir = maildir
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:\(port)", "-c", "aiosmtpd.handlers.Mailbox",
            maildir.path,
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try launch(process)
        for _ in 0..<200 {
            if (try? RawConnection(port: port)) != nil { return }
            usleep(25_000)
        }
        throw ProcessFailure("aiosmtpd did not start on port \(port) (pip install aiosmtpd)")
    }

    /// Not waited for: waiting for a child from a test's task can block the task pool.
    deinit {
        kill(process.processIdentifier, SIGKILL)
    }

    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Reads the messages of a maildir's `new/`.
public func maildirMessages(_ directory: URL) -> [String] {
    let new = directory.appendingPathComponent("new")
    let names = (try? FileManager.default.contentsOfDirectory(atPath: new.path)) ?? []
    return names.sorted().compactMap { try? String(contentsOf: new.appendingPathComponent($0), encoding: .utf8) }
}

public func waitFor(_ what: String, timeout: Double = 10, _ condition: () async -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while !(await condition()) {
        guard Date() < deadline else { throw ProcessFailure("timed out waiting for \(what)") }
        try await Task.sleep(nanoseconds: 20_000_000)
    }
}

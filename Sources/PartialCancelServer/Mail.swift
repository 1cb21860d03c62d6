import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PartialCancelDomain
import PartialCancelStorage

#if canImport(Glibc)
import Glibc
#endif

/// Where customer emails go (config `notifications`).
public enum EmailSinkConfiguration: Sendable, Hashable {
    /// RFC 5322 files in a maildir (`tmp/` then `new/`): the embedded default.
    case maildir(directory: String)
    /// A real SMTP conversation with a relay.
    case smtp(host: String, port: Int, heloName: String)
}

/// Delivery settings (SPEC section 9).
public struct NotificationConfiguration: Sendable, Hashable {
    /// nil: a maildir at `defaultMaildir(forDataDirectory:)`.
    public var sink: EmailSinkConfiguration?

    /// The embedded default's mailbox: `DATA.maildir`, beside the data directory and never inside
    /// it, so that a copy of the data directory carries no delivered token.
    public static func defaultMaildir(forDataDirectory dataDirectory: String) -> String {
        var path = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        return path + ".maildir"
    }
    public var from = "pcancel@localhost"
    /// Attempts before an email becomes a dead letter (SPEC: 8).
    public var maxAttempts = 8
    /// Backoff before attempt n+1: min(cap, base × 2^n), jittered to 50–100 %.
    public var backoffBaseMs = 1000
    public var backoffCapMs = 300_000
    /// How often the outboxes are polled for due emails.
    public var pollIntervalMs = 200
    /// Network timeout of one SMTP conversation.
    public var smtpTimeoutMs = 10_000

    public init() {}

    /// The next attempt's delay after `attempts` failed ones.
    func backoffMs(afterAttempts attempts: Int) -> Int64 {
        Self.backoffMs(afterAttempts: attempts, baseMs: backoffBaseMs, capMs: backoffCapMs)
    }

    /// Capped, jittered exponential backoff, for every outbox that retries (emails, payments):
    /// min(cap, base × 2^attempts), jittered to 50–100 % so that failures do not retry in step.
    static func backoffMs(afterAttempts attempts: Int, baseMs: Int, capMs: Int) -> Int64 {
        let exponential = Double(baseMs) * pow(2, Double(min(attempts, 30)))
        return Int64(min(Double(capMs), exponential) * Double.random(in: 0.5...1.0))
    }
}

/// RFC 5322 rendering.
enum MailMessage {
    static func render(
        from: String,
        to: String,
        subject: String,
        body: String,
        messageID: String,
        dateMs: Int64
    ) -> String {
        var lines = [
            "Date: \(rfc5322Date(dateMs))",
            "From: \(from)",
            "To: \(to)",
            "Subject: \(encodedHeader(subject))",
            "Message-ID: <\(messageID)>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
            "",
        ]
        lines += body.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    /// Non-ASCII subjects as an RFC 2047 encoded word.
    static func encodedHeader(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value > 0x7E || $0.value < 0x20 }) else { return text }
        return "=?utf-8?B?\(Data(text.utf8).base64EncodedString())?="
    }

    static func rfc5322Date(_ ms: Int64) -> String {
        var time = time_t(ms / 1000)
        var parts = tm()
        gmtime_r(&time, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return
            "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) +0000"
    }
}

/// Sends one rendered message; blocking, run on the delivery thread pool.
protocol EmailSink: Sendable {
    func send(from: String, to: String, message: String) throws
}

struct DeliveryError: Error, CustomStringConvertible {
    var description: String
}

/// Writes complete messages atomically: to `tmp/`, fsync, then rename into `new/`.
struct MaildirSink: EmailSink {
    let directory: String

    func send(from: String, to: String, message: String) throws {
        let fileManager = FileManager.default
        for sub in ["", "/tmp", "/new", "/cur"] {
            // Private like the data directory it sits beside: the messages carry tokens.
            try fileManager.createDirectory(
                atPath: directory + sub,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: Int(DataDirectory.directoryMode)]
            )
        }
        let name = "\(WallClock.system.nowMs()).\(UInt64.random(in: 0 ... .max)).pcancel"
        let temporary = "\(directory)/tmp/\(name)"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw DeliveryError(description: "cannot create \(temporary): errno \(errno)") }
        let bytes = Array(message.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == bytes.count, synced == 0 else {
            unlink(temporary)
            throw DeliveryError(description: "cannot write \(temporary)")
        }
        guard rename(temporary, "\(directory)/new/\(name)") == 0 else {
            unlink(temporary)
            throw DeliveryError(description: "cannot move \(name) into new/")
        }
    }
}

/// A plain SMTP client (RFC 5321): EHLO, MAIL FROM, RCPT TO, DATA with dot-stuffing, QUIT.
struct SMTPSink: EmailSink {
    let host: String
    let port: Int
    let heloName: String
    let timeoutMs: Int

    func send(from: String, to: String, message: String) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw DeliveryError(description: "socket: errno \(errno)") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutMs / 1000, tv_usec: Int((timeoutMs % 1000) * 1000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host, &address.sin_addr) == 1 else {
            throw DeliveryError(description: "smtp host must be an IPv4 address, got \(host)")
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            throw DeliveryError(description: "cannot connect to \(host):\(port): errno \(errno)")
        }
        var reader = LineReader(fd: fd)
        try expect(&reader, 220)
        try command(fd, &reader, "EHLO \(heloName)", 250)
        try command(fd, &reader, "MAIL FROM:<\(from)>", 250)
        try command(fd, &reader, "RCPT TO:<\(to)>", 250)
        try command(fd, &reader, "DATA", 354)
        // Dot-stuffing: a line starting with "." gets another.
        let stuffed = message.split(separator: "\r\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix(".") ? "." + $0 : String($0) }.joined(separator: "\r\n")
        try sendAll(fd, stuffed + (stuffed.hasSuffix("\r\n") ? "" : "\r\n") + ".\r\n")
        try expect(&reader, 250)
        try? command(fd, &reader, "QUIT", 221)
    }

    private func command(_ fd: Int32, _ reader: inout LineReader, _ line: String, _ code: Int) throws {
        try sendAll(fd, line + "\r\n")
        try expect(&reader, code)
    }

    private func sendAll(_ fd: Int32, _ text: String) throws {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw DeliveryError(description: "smtp send failed: errno \(errno)") }
            offset += n
        }
    }

    /// Reads a (possibly multi-line) reply and checks its code.
    private func expect(_ reader: inout LineReader, _ code: Int) throws {
        while true {
            let line = try reader.line()
            guard line.count >= 3, let got = Int(line.prefix(3)) else {
                throw DeliveryError(description: "smtp: malformed reply '\(line)'")
            }
            if line.count > 3 && line[line.index(line.startIndex, offsetBy: 3)] == "-" { continue }
            guard got == code else { throw DeliveryError(description: "smtp: expected \(code), got '\(line)'") }
            return
        }
    }

    struct LineReader {
        let fd: Int32
        var buffer: [UInt8] = []

        mutating func line() throws -> String {
            while true {
                if let newline = buffer.firstIndex(of: 10) {
                    var line = Array(buffer[..<newline])
                    buffer.removeFirst(newline + 1)
                    if line.last == 13 { line.removeLast() }
                    return String(decoding: line, as: UTF8.self)
                }
                var chunk = [UInt8](repeating: 0, count: 4096)
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                guard n > 0 else { throw DeliveryError(description: "smtp: connection closed or timed out") }
                buffer += chunk[..<n]
                guard buffer.count < 65536 else { throw DeliveryError(description: "smtp: reply too long") }
            }
        }
    }
}

/// Delivers the email outboxes: polls for due emails, sends each on a thread pool, and records the
/// outcome — sent, retried later with capped jittered exponential backoff, or after the last attempt
/// a dead letter that can be re-driven.
final class NotificationDelivery: Sendable {
    private let storage: any StorePort
    private let configuration: NotificationConfiguration
    private let sink: any EmailSink
    private let pool = NIOThreadPool(numberOfThreads: 1)
    private let loop: any EventLoop
    private let task = NIOLockedValueBox<RepeatedTask?>(nil)
    private let busy = NIOLockedValueBox(false)
    /// The pass running now, if any: `stop` waits for it, so that no store call completes on an
    /// event loop after the server shut its loops down.
    private let pass = NIOLockedValueBox<EventLoopFuture<Void>?>(nil)

    init(storage: any StorePort, configuration: NotificationConfiguration, dataDirectory: String, loop: any EventLoop) {
        self.storage = storage
        self.configuration = configuration
        self.loop = loop
        let defaultMaildir = NotificationConfiguration.defaultMaildir(forDataDirectory: dataDirectory)
        if configuration.sink == nil { Self.moveEarlierMaildir(from: "\(dataDirectory)/maildir", to: defaultMaildir) }
        switch configuration.sink ?? .maildir(directory: defaultMaildir) {
        case .maildir(let directory): sink = MaildirSink(directory: directory)
        case .smtp(let host, let port, let helo):
            sink = SMTPSink(host: host, port: port, heloName: helo, timeoutMs: configuration.smtpTimeoutMs)
        }
    }

    /// Earlier versions kept the default maildir inside the data directory; it moves beside it
    /// (one rename, the same file system) unless a maildir is already there.
    private static func moveEarlierMaildir(from earlier: String, to current: String) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: earlier, isDirectory: &isDirectory), isDirectory.boolValue,
            !FileManager.default.fileExists(atPath: current)
        else { return }
        _ = rename(earlier, current)
    }

    func start() {
        pool.start()
        let interval = TimeAmount.milliseconds(Int64(configuration.pollIntervalMs))
        task.withLockedValue {
            $0 = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] _ in self.poll() }
        }
    }

    func stop() async {
        task.withLockedValue { $0?.cancel() }
        // A pass that began before the cancel has stored its future once the loop has moved on.
        try? await loop.submit {}.get()
        if let running = pass.withLockedValue({ $0 }) { try? await running.get() }
        try? await pool.shutdownGracefully()
    }

    private func poll() {
        // One pass at a time: a slow relay must not pile passes up.
        let start = busy.withLockedValue { running -> Bool in
            if running { return false }
            running = true
            return true
        }
        guard start else { return }
        let loop = self.loop
        let running = storage.dueEmails(nowMs: storage.clock.nowMs(), limit: 100, on: loop).flatMap {
            emails -> EventLoopFuture<Void> in
            let deliveries = emails.map { self.deliver($0) }
            return EventLoopFuture.andAllComplete(deliveries, on: loop)
        }
        pass.withLockedValue { $0 = running }
        running.whenComplete { _ in
            self.pass.withLockedValue { $0 = nil }
            self.busy.withLockedValue { $0 = false }
        }
    }

    private func deliver(_ email: OutboundEmail) -> EventLoopFuture<Void> {
        let configuration = self.configuration
        let sink = self.sink
        let message = MailMessage.render(
            from: configuration.from,
            to: email.recipient,
            subject: email.subject,
            body: email.body,
            messageID: "\(email.id).\(email.createdMs)@pcancel",
            dateMs: email.createdMs
        )
        return pool.runIfActive(eventLoop: loop) {
            try sink.send(from: configuration.from, to: email.recipient, message: message)
        }.flatMap {
            self.storage.emailSent(email, on: self.loop)
        }.flatMapError { error in
            let attempts = email.attempts + 1
            if attempts >= configuration.maxAttempts {
                return self.storage.emailDead(email, error: "\(error)", on: self.loop)
            }
            let next = self.storage.clock.nowMs() + configuration.backoffMs(afterAttempts: email.attempts)
            return self.storage.emailFailed(email, error: "\(error)", nextAttemptMs: next, on: self.loop)
        }
    }
}

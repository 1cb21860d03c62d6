import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The data directory's file-system rules: it is private to the server's user (0700, every file in
/// it 0600), and one server at a time uses it (an exclusive lock held for the process lifetime).
public enum DataDirectory {
    /// Mode of the data directory and of every directory in it.
    public static let directoryMode: mode_t = 0o700
    /// Mode of every file in the data directory (databases, their -wal and -shm, keys, maildir).
    public static let fileMode: mode_t = 0o600
    /// The lock file: held with `flock(LOCK_EX)` while a server (or the audit) has the directory
    /// open; it holds the holder's pid, for the message a second start prints.
    public static let lockFileName = "LOCK"

    /// Creates `path` (and missing parents) with mode 0700, or gives an existing one mode 0700.
    public static func create(_ path: String) throws {
        try FileManager.default.createDirectory(
            atPath: path,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: Int(directoryMode)]
        )
        guard chmod(path, directoryMode) == 0 else {
            throw StorageError(
                code: 0,
                "cannot make data directory \(path) private (chmod 700): \(String(cString: strerror(errno)))"
            )
        }
    }

    /// Gives every directory under `path` mode 0700 and every regular file 0600 (symbolic links
    /// are left alone: they point elsewhere). Returns the paths it changed, with their old modes,
    /// so that the caller can say so: earlier versions left shard files 0644.
    @discardableResult
    public static func tightenModes(_ path: String) throws -> [(path: String, oldMode: mode_t)] {
        var changed: [(path: String, oldMode: mode_t)] = []
        func visit(_ current: String) throws {
            var info = stat()
            guard lstat(current, &info) == 0 else { return }  // removed meanwhile
            let kind = info.st_mode & S_IFMT
            let wanted: mode_t
            if kind == S_IFDIR {
                wanted = directoryMode
            } else if kind == S_IFREG {
                wanted = fileMode
            } else {
                return
            }
            let mode = info.st_mode & 0o7777
            if mode != wanted {
                guard chmod(current, wanted) == 0 else {
                    throw StorageError(
                        code: 0,
                        "cannot set mode \(String(wanted, radix: 8)) on \(current): \(String(cString: strerror(errno)))"
                    )
                }
                changed.append((current, mode))
            }
            if kind == S_IFDIR {
                for name in (try? FileManager.default.contentsOfDirectory(atPath: current)) ?? [] {
                    try visit(current + "/" + name)
                }
            }
        }
        try visit(path)
        return changed
    }

    /// Writes `bytes` to `path` atomically (a temporary file, fsync, rename) with mode 0600.
    static func writePrivately(_ bytes: [UInt8], to path: String) throws {
        let temporary = path + ".tmp"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, fileMode)
        guard fd >= 0 else {
            throw StorageError(code: 0, "cannot create \(temporary): \(String(cString: strerror(errno)))")
        }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == bytes.count, synced == 0, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw StorageError(code: 0, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Creates an empty file with mode 0600 unless `path` exists: SQLite then opens it as an empty
    /// database and gives its -wal and -shm files the same mode.
    static func createPrivateFile(_ path: String) throws(StorageError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, fileMode)
        if fd >= 0 {
            close(fd)
        } else if errno != EEXIST {
            throw StorageError(code: 0, "cannot create \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// The exclusive lock on a data directory: `flock(LOCK_EX | LOCK_NB)` on `DATA/LOCK`, taken when
/// storage opens and held until it closes (or the process dies: the kernel releases it, so a
/// SIGKILL never leaves a stale lock). A second server on the same directory is refused instead of
/// serving the same orders from a second set of shard workers, which would break the one-writer
/// rule every cache and group commit relies on.
///
/// `@unchecked Sendable`: `fd` is written only under `lock`.
public final class DataDirectoryLock: @unchecked Sendable {
    public let path: String
    private var fd: Int32
    private let lock = NSLock()

    /// Takes the lock, or throws a message naming the directory and the holder's pid.
    public init(directory: String) throws {
        path = directory + "/" + DataDirectory.lockFileName
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, DataDirectory.fileMode)
        guard fd >= 0 else {
            throw StorageError(code: 0, "cannot open the lock file \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            let holder = Self.readHolder(fd)
            close(fd)
            fd = -1
            if reason == EWOULDBLOCK {
                throw StorageError(
                    code: 0,
                    "data directory \(directory) is in use by another pcancel process (pid \(holder ?? "unknown"), holding \(path)); stop it, or start this server with another data directory (data_dir / --data-dir)"
                )
            }
            throw StorageError(code: 0, "cannot lock \(path): \(String(cString: strerror(reason)))")
        }
        // The holder's pid, for the message above (the lock itself is the flock, not the file).
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    private static func readHolder(_ fd: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return Int32(text) != nil ? text : nil
    }

    /// Releases the lock. Safe to call more than once.
    public func release() {
        lock.lock()
        defer { lock.unlock() }
        guard fd >= 0 else { return }
        close(fd)  // closing the last descriptor of the open file releases the flock
        fd = -1
    }

    deinit { release() }
}

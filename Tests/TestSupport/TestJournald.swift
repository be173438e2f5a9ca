import Foundation
import Glibc

/// A real `systemd-journald` for tests that check journal entries (PLATFORM-NOTES.md §2A).
///
/// `start()` uses a journald that is already listening on `/run/systemd/journal/socket`, or else
/// starts `/lib/systemd/systemd-journald` by hand (it binds the fixed sockets itself and stores
/// entries in `/run/log/journal`). `stop()` (also on release) stops only a journald it started and
/// removes the folders under /run that did not exist before. Needs root; check `unavailableReason`
/// first. An exclusive `flock` on `/tmp/brainseg-test-journald.lock`, held from `start()` to
/// `stop()`, keeps concurrent test processes (other worktrees, parallel CI jobs) from starting or
/// stopping a journald under each other.
public final class TestJournald: @unchecked Sendable {
    public static let journaldPath = "/lib/systemd/systemd-journald"
    public static let journalctlPath = "/usr/bin/journalctl"
    public static let socketPath = "/run/systemd/journal/socket"
    private static let lockPath = "/tmp/brainseg-test-journald.lock"
    /// Folders journald creates, deepest first: removed by `stop()` when they did not exist before.
    private static let createdFolders = ["/run/systemd/journal", "/run/log/journal", "/run/log"]

    /// Why a real journald cannot be used here, or nil when it can.
    public static var unavailableReason: String? {
        if getuid() != 0 { return "not running as root: systemd-journald binds /run/systemd/journal" }
        if access(journaldPath, X_OK) != 0 { return "\(journaldPath) is not installed" }
        if access(journalctlPath, X_OK) != 0 { return "\(journalctlPath) is not installed" }
        return nil
    }

    /// Whether this instance started the journald it uses (false: an existing one was reused).
    public private(set) var startedHere = false
    private var process: Process?
    private var lockDescriptor: Int32 = -1
    private var foldersToRemove: [String] = []

    public init() {}

    /// Makes a journald available; throws when it cannot be started within `timeout` seconds.
    public func start(timeout: TimeInterval = 10) throws {
        lockDescriptor = open(Self.lockPath, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        if lockDescriptor >= 0 { flock(lockDescriptor, LOCK_EX) }
        if Self.socketAcceptsDatagrams() { return }

        foldersToRemove = Self.createdFolders.filter { access($0, F_OK) != 0 }
        let journald = Process()
        journald.executableURL = URL(fileURLWithPath: Self.journaldPath)
        journald.standardInput = FileHandle.nullDevice
        journald.standardOutput = FileHandle.nullDevice
        journald.standardError = FileHandle.nullDevice
        // Not the test's sd_notify socket or watchdog: journald would send READY=1 to it.
        journald.environment = ProcessInfo.processInfo.environment.filter {
            !["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID"].contains($0.key)
        }
        try journald.run()
        process = journald
        startedHere = true
        let deadline = Date().addingTimeInterval(timeout)
        while !Self.socketAcceptsDatagrams() {
            guard Date() < deadline, journald.isRunning else {
                stop()
                throw POSIXError(.ETIMEDOUT)
            }
            usleep(50_000)
        }
    }

    /// Journal entries (journalctl's JSON objects, string-valued fields only) matching every
    /// `FIELD=value` in `matches`, polling until at least one arrives or `timeout` seconds pass.
    public func entries(matching matches: [String], timeout: TimeInterval = 5) throws -> [[String: String]] {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let found = try Self.query(matches)
            if !found.isEmpty || Date() >= deadline { return found }
            usleep(100_000)
        }
    }

    /// Stops a journald started here (SIGTERM, then SIGKILL after 5 s), removes the folders it
    /// created and releases the lock. Idempotent.
    public func stop() {
        if let process, process.isRunning {
            process.terminate()
            let deadline = Date().addingTimeInterval(5)
            while process.isRunning && Date() < deadline { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        }
        process = nil
        for folder in foldersToRemove { try? FileManager.default.removeItem(atPath: folder) }
        foldersToRemove = []
        if lockDescriptor >= 0 { flock(lockDescriptor, LOCK_UN); close(lockDescriptor); lockDescriptor = -1 }
    }

    deinit { stop() }

    private static func query(_ matches: [String]) throws -> [[String: String]] {
        let journalctl = Process()
        journalctl.executableURL = URL(fileURLWithPath: journalctlPath)
        journalctl.arguments = ["--no-pager", "-o", "json"] + matches
        let output = Pipe()
        journalctl.standardOutput = output
        journalctl.standardError = FileHandle.nullDevice
        journalctl.standardInput = FileHandle.nullDevice
        try journalctl.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        journalctl.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return object.compactMapValues { $0 as? String }
        }
    }

    /// Whether something listens on the journal socket (a stale socket file refuses connections).
    private static func socketAcceptsDatagrams() -> Bool {
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(socketPath.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
            }
        }
    }
}

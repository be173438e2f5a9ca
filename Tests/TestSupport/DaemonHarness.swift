import Foundation

/// Runs the real `brainseg serve` on a temporary root with a test-bound `NOTIFY_SOCKET`, the
/// way systemd would, and drops cases into it the way a hospital would.
public final class DaemonHarness: @unchecked Sendable {
    public let root: String
    public let notify: NotifySocketListener
    private let messagesLock = NSLock()
    private var messages: [String] = []
    private var draining = true
    public private(set) var process: Process?
    private let configurationPath: String
    private var logPath: String

    /// A harness over `root` with a configuration of `configuration` TOML text (the root line is added).
    public init(root: String, configuration: String, environment: [String: String] = [:]) throws {
        self.root = root
        notify = try NotifySocketListener()
        configurationPath = "\(root)/brainseg.toml"
        logPath = "\(root)/daemon.log"
        self.environment = environment
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        // Drain the notify socket continuously, as systemd does: a full socket would block the
        // daemon's sd_notify.
        Thread.detachNewThread { [weak self] in
            while let self, self.isDraining {
                if let message = self.notify.receive(timeout: 0.2) {
                    self.messagesLock.lock(); self.messages.append(message); self.messagesLock.unlock()
                }
            }
        }
        try "root = \"\(root)\"\n\(configuration)\n".write(toFile: configurationPath, atomically: true, encoding: .utf8)
    }

    private let environment: [String: String]

    /// Run the daemon as this user and group (through `setpriv`, which needs root), the way a
    /// unit's `User=` does; nil runs it as the test's own user.
    public var user: (uid: UInt32, gid: UInt32)?

    /// The `brainseg` executable to run (the build's by default).
    public var executable = ExecutableRunner.executablePath

    private var isDraining: Bool {
        messagesLock.lock(); defer { messagesLock.unlock() }
        return draining
    }

    /// Every notify message received so far.
    public var notifications: [String] {
        messagesLock.lock(); defer { messagesLock.unlock() }
        return messages
    }

    /// Waits for a notify message (received after the first `skipping` ones) with a line
    /// starting with `prefix`; returns it, or nil on timeout.
    public func waitForNotification(linePrefix prefix: String, skipping: Int = 0, timeout: TimeInterval) -> String? {
        var found: String?
        _ = Self.wait(timeout: timeout) {
            found = notifications.dropFirst(skipping).first { $0.split(separator: "\n").contains { $0.hasPrefix(prefix) } }
            return found != nil
        }
        return found
    }

    /// Starts the daemon and waits for READY=1 (returns the READY message, nil on timeout).
    @discardableResult
    public func start(timeout: TimeInterval = 120) throws -> String? {
        let process = Process()
        if let user {
            // The other user must reach the notify socket, as it reaches systemd's.
            chmod((notify.path as NSString).deletingLastPathComponent, 0o755)
            chmod(notify.path, 0o777)
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--reuid=\(user.uid)", "--regid=\(user.gid)", "--clear-groups", "--",
                                 executable, "serve", "--config", configurationPath]
        } else {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = ["serve", "--config", configurationPath]
        }
        var merged = ProcessInfo.processInfo.environment
        merged["NOTIFY_SOCKET"] = notify.path
        merged["BRAINSEG_LOG_TARGET"] = "stderr"
        for (key, value) in environment { merged[key] = value }
        process.environment = merged
        if !FileManager.default.fileExists(atPath: logPath) { FileManager.default.createFile(atPath: logPath, contents: nil) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        try log.seekToEnd()
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        let seen = notifications.count
        try process.run()
        self.process = process
        return waitForNotification(linePrefix: "READY=1", skipping: seen, timeout: timeout)
    }

    /// The daemon's stderr so far.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Sends `signal` and waits for the exit (returns the status, nil on timeout).
    @discardableResult
    public func stop(signal: Int32 = SIGTERM, timeout: TimeInterval = 120) -> Int32? {
        guard let process else { return nil }
        kill(process.processIdentifier, signal)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { return nil }
        self.process = nil
        return process.terminationStatus
    }

    /// Waits for the daemon to exit on its own (a crash); returns how it ended, nil on timeout.
    public func waitForExit(timeout: TimeInterval) -> (reason: Process.TerminationReason, status: Int32)? {
        guard let process else { return nil }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { return nil }
        self.process = nil
        return (process.terminationReason, process.terminationStatus)
    }

    /// Whether the daemon process is alive.
    public var isRunning: Bool { process?.isRunning ?? false }

    public func signal(_ number: Int32) {
        if let process { kill(process.processIdentifier, number) }
    }

    /// Waits until `condition` holds (polling), returns whether it did.
    public static func wait(timeout: TimeInterval, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    public var incoming: String { "\(root)/incoming" }
    public func output(_ name: String) -> String { "\(root)/output/\(name)" }
    public func failed(_ name: String) -> String { "\(root)/failed/\(name)" }

    /// Copies a case folder into incoming/ file by file (each written in place and closed).
    public func copyInPlace(_ source: String, as name: String) throws {
        let target = "\(incoming)/\(name)"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        for file in try FileManager.default.contentsOfDirectory(atPath: source).sorted() {
            let renamed = file.replacingOccurrences(of: URL(fileURLWithPath: source).lastPathComponent, with: name)
            try FileManager.default.copyItem(atPath: "\(source)/\(file)", toPath: "\(target)/\(renamed)")
        }
    }

    /// Builds the case under a hidden name in incoming/ and renames it into place at once.
    public func renameIntoPlace(_ source: String, as name: String) throws {
        let staging = "\(incoming)/.\(name).part"
        try FileManager.default.copyItem(atPath: source, toPath: staging)
        for file in try FileManager.default.contentsOfDirectory(atPath: staging) {
            let renamed = file.replacingOccurrences(of: URL(fileURLWithPath: source).lastPathComponent, with: name)
            if renamed != file { try FileManager.default.moveItem(atPath: "\(staging)/\(file)", toPath: "\(staging)/\(renamed)") }
        }
        try FileManager.default.moveItem(atPath: staging, toPath: "\(incoming)/\(name)")
    }

    deinit {
        _ = stop(signal: SIGKILL, timeout: 10)
        messagesLock.lock(); draining = false; messagesLock.unlock()
    }
}

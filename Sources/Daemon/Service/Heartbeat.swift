import Foundation

/// The work loop's liveness: updated every loop iteration and at every pipeline stage.
final class Heartbeat: @unchecked Sendable {
    private let lock = NSLock()
    private var last = Date()

    func beat() {
        lock.lock(); last = Date(); lock.unlock()
    }

    var age: TimeInterval {
        lock.lock(); defer { lock.unlock() }
        return Date().timeIntervalSince(last)
    }
}

/// Sends `WATCHDOG=1` at half the configured interval while the work loop's heartbeat is
/// younger than the interval; a hung loop stops the pings and systemd restarts the service.
final class WatchdogThread: @unchecked Sendable {
    private let notifier: SystemdNotifier
    private let heartbeat: Heartbeat
    private let pacer = WatchdogPacer.fromEnvironment()
    private var thread: Thread?
    private let lock = NSLock()
    private var running = false

    init(notifier: SystemdNotifier, heartbeat: Heartbeat) {
        self.notifier = notifier
        self.heartbeat = heartbeat
    }

    func start() {
        guard let interval = SystemdNotifier.watchdogInterval() else { return }
        let limit = Double(interval.components.seconds) + Double(interval.components.attoseconds) * 1e-18
        lock.lock(); running = true; lock.unlock()
        let thread = Thread { [self] in
            while isRunning {
                if heartbeat.age < limit { _ = pacer.pingIfDue(using: notifier) }
                Thread.sleep(forTimeInterval: min(1, limit / 4))
            }
        }
        thread.name = "brainseg-watchdog"
        thread.start()
        self.thread = thread
    }

    private var isRunning: Bool {
        lock.lock(); defer { lock.unlock() }
        return running
    }

    func stop() {
        lock.lock(); running = false; lock.unlock()
    }
}

import Foundation

/// Decides when the next `WATCHDOG=1` is due: at half of systemd's watchdog interval
/// (`WatchdogSec=`, passed as `WATCHDOG_USEC`), as `sd_watchdog_enabled(3)` recommends.
///
/// Contract:
/// - With no watchdog (`interval == nil`) a ping is never due and `pingIfDue` sends nothing.
/// - The first ping is due immediately; afterwards one is due once `pingInterval` has passed
///   since the last recorded ping. Time is `CLOCK_MONOTONIC` microseconds
///   (`SystemdNotifier.monotonicMicroseconds()`), injectable for tests.
/// - Thread-safe: the work loop and a progress callback inside long inference may both call
///   `pingIfDue(using:)`; at most one of two simultaneous callers sends.
/// - A failed send still counts as a ping (it is not retried in a tight loop); the outcome is
///   returned so the caller can log it.
public final class WatchdogPacer: @unchecked Sendable {
    /// systemd's watchdog interval, or nil when the watchdog is disabled.
    public let interval: Duration?

    private let pingIntervalMicroseconds: UInt64?
    private let lock = NSLock()
    private var lastPingMicroseconds: UInt64?

    /// A pacer for a watchdog of `interval` (nil: disabled). An interval under 2 µs is treated as 1 µs
    /// between pings.
    public init(interval: Duration?) {
        self.interval = interval
        if let interval {
            let (seconds, attoseconds) = interval.components
            let microseconds = UInt64(max(0, seconds)) * 1_000_000 + UInt64(max(0, attoseconds)) / 1_000_000_000_000
            pingIntervalMicroseconds = max(1, microseconds / 2)
        } else {
            pingIntervalMicroseconds = nil
        }
    }

    /// A pacer for the interval systemd passed to this process (`SystemdNotifier.watchdogInterval()`).
    public static func fromEnvironment() -> WatchdogPacer {
        WatchdogPacer(interval: SystemdNotifier.watchdogInterval())
    }

    /// Half of `interval`: the time between pings; nil when the watchdog is disabled.
    public var pingInterval: Duration? {
        pingIntervalMicroseconds.map { .microseconds(Int64(clamping: $0)) }
    }

    /// Whether a ping is due at `now` (monotonic microseconds).
    public func isPingDue(now: UInt64 = SystemdNotifier.monotonicMicroseconds()) -> Bool {
        lock.lock(); defer { lock.unlock() }
        return isDue(now: now)
    }

    /// Records that a ping was sent at `now` (monotonic microseconds).
    public func recordPing(now: UInt64 = SystemdNotifier.monotonicMicroseconds()) {
        lock.lock(); defer { lock.unlock() }
        lastPingMicroseconds = now
    }

    /// Sends `WATCHDOG=1` through `notifier` when a ping is due and records it. Returns the outcome
    /// of the send, or nil when no ping was due (or the watchdog is disabled). Cheap enough to call
    /// from inner loops (a lock and a clock read).
    @discardableResult
    public func pingIfDue(using notifier: SystemdNotifier, now: UInt64 = SystemdNotifier.monotonicMicroseconds()) -> SystemdNotifier.Outcome? {
        lock.lock()
        guard isDue(now: now) else { lock.unlock(); return nil }
        lastPingMicroseconds = now
        lock.unlock()
        return notifier.watchdog()
    }

    private func isDue(now: UInt64) -> Bool {
        guard let pingIntervalMicroseconds else { return false }
        guard let lastPingMicroseconds else { return true }
        return now < lastPingMicroseconds || now - lastPingMicroseconds >= pingIntervalMicroseconds
    }
}

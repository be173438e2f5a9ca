import CSystemd
import Glibc

/// The daemon's side of systemd's notification protocol (`sd_notify(3)`), for a `Type=notify`
/// service with `NotifyAccess=main` (SPEC.md §7).
///
/// Contract:
/// - Every call is a no-op returning `.notConfigured` when `NOTIFY_SOCKET` is unset (a terminal,
///   a test, a container without systemd), so callers never need to check whether systemd is
///   present.
/// - The environment is never modified (`sd_notify(0, …)`): child processes and later calls keep
///   `NOTIFY_SOCKET` and `WATCHDOG_USEC`.
/// - Sending never throws and never blocks for long (one datagram). A failure (for example
///   `NOTIFY_SOCKET` naming a socket nobody listens on, `ENOENT`/`ECONNREFUSED`) is returned as
///   `.failed(errno:)` so the caller can log it once; the daemon must keep working, and systemd
///   will eventually notice missing `READY=1`/`WATCHDOG=1` by itself.
/// - Free text (`STATUS=`) is reduced to one line: control characters become spaces, because a
///   newline would start a new assignment (a case name must never be able to send `READY=1`).
///
/// Order of calls in the service loop (the lead's wiring):
/// `ready(status:)` once configuration, folders and models are loaded → `status(_:)` on every
/// change → `watchdog()` whenever `WatchdogPacer.isPingDue()` says so → on SIGHUP
/// `reloading(status:)`, reload, `ready(status:)` again → on SIGTERM `stopping(status:)`.
public struct SystemdNotifier: Sendable {
    /// What happened to one notification.
    public enum Outcome: Sendable, Equatable {
        /// The datagram was sent to `NOTIFY_SOCKET`.
        case sent
        /// `NOTIFY_SOCKET` is unset: not running under systemd (or `NotifyAccess` gave no socket).
        case notConfigured
        /// Sending failed with this `errno` value (e.g. 2 = `ENOENT`, 111 = `ECONNREFUSED`).
        case failed(errno: Int32)
    }

    public init() {}

    /// Whether `NOTIFY_SOCKET` is set in the environment (systemd expects notifications).
    public var isConfigured: Bool {
        guard let value = getenv("NOTIFY_SOCKET") else { return false }
        return value.pointee != 0
    }

    /// `READY=1` plus `STATUS=`: start-up (or a reload) finished; systemd now considers the
    /// service started and `systemctl start` returns. Send it only after configuration, folders
    /// and models are loaded.
    @discardableResult
    public func ready(status: String) -> Outcome {
        send(["READY=1", "STATUS=\(Self.oneLine(status))"])
    }

    /// `STATUS=`: the one-line state `systemctl status` shows, e.g. `idle · queue 0 · student v7`
    /// or `segmenting CASE (teacher 2/3)`.
    @discardableResult
    public func status(_ text: String) -> Outcome {
        send(["STATUS=\(Self.oneLine(text))"])
    }

    /// `WATCHDOG=1`: the work loop is alive. Send it at half the watchdog interval (see
    /// `WatchdogPacer`), also from inside long inference; without it systemd kills and restarts
    /// the service after `WatchdogSec=`.
    @discardableResult
    public func watchdog() -> Outcome {
        send(["WATCHDOG=1"])
    }

    /// `STOPPING=1` plus `STATUS=`: SIGTERM was received and the daemon is finishing or requeueing
    /// the current case; systemd waits up to `TimeoutStopSec=`.
    @discardableResult
    public func stopping(status: String = "stopping") -> Outcome {
        send(["STOPPING=1", "STATUS=\(Self.oneLine(status))"])
    }

    /// `RELOADING=1` with `MONOTONIC_USEC=<CLOCK_MONOTONIC µs now>` plus `STATUS=`: a SIGHUP
    /// reload of configuration and models began. Follow it with `ready(status:)` when the reload is
    /// complete (or failed and the old configuration stays in service); systemd keeps the unit in
    /// "reloading" until then.
    @discardableResult
    public func reloading(status: String = "reloading configuration and models") -> Outcome {
        send(["RELOADING=1", "MONOTONIC_USEC=\(Self.monotonicMicroseconds())", "STATUS=\(Self.oneLine(status))"])
    }

    /// Sends raw `NAME=value` assignments as one datagram (joined with newlines). Prefer the named
    /// methods; this exists for assignments they do not cover (e.g. `EXTEND_TIMEOUT_USEC=`).
    @discardableResult
    public func send(_ assignments: [String]) -> Outcome {
        let message = assignments.joined(separator: "\n")
        let result = message.withCString { sd_notify(0, $0) }
        if result > 0 { return .sent }
        if result == 0 { return .notConfigured }
        return .failed(errno: -result)
    }

    /// The watchdog interval systemd asked for (`WATCHDOG_USEC`, honoured only when `WATCHDOG_PID`
    /// is unset or equals this process), or nil when the watchdog is disabled or the variables are
    /// malformed. Read through `sd_watchdog_enabled(0, …)`, which leaves the environment intact.
    public static func watchdogInterval() -> Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(clamping: microseconds))
    }

    /// `CLOCK_MONOTONIC` now, in microseconds: the clock systemd uses for `MONOTONIC_USEC=`.
    public static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
    }

    /// `text` with every control character (newline included) replaced by a space, so that it is
    /// exactly one assignment value.
    static func oneLine(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { scalar in
            scalar.value < 0x20 || scalar.value == 0x7f ? " " : scalar
        }))
    }
}

import Daemon
import Foundation
import Glibc
import Testing
import TestSupport

/// The parent of the systemd notifier and journald suites: `.serialized` applies to both, so they
/// never run at the same time (the notifier tests set NOTIFY_SOCKET, which a journald started by
/// the journald tests would inherit, and the journald tests use fixed paths under /run).
@Suite(.serialized)
enum SystemdIntegrationTests {}

extension SystemdIntegrationTests {
    /// sd_notify messages against a socket the test binds (PLATFORM-NOTES.md §2C). The tests set
    /// NOTIFY_SOCKET / WATCHDOG_USEC / WATCHDOG_PID, which are process-wide.
    @Suite("systemd notifier")
    struct SystemdNotifierTests {
        /// Sets `variables` (nil: unset) for the duration of `body`, restoring the previous values.
        private func withEnvironment<T>(_ variables: [String: String?], _ body: () throws -> T) rethrows -> T {
            var previous: [String: String?] = [:]
            for (name, value) in variables {
                previous[name] = getenv(name).map { String(cString: $0) }
                if let value { setenv(name, value, 1) } else { unsetenv(name) }
            }
            defer {
                for (name, value) in previous {
                    if let value { setenv(name, value, 1) } else { unsetenv(name) }
                }
            }
            return try body()
        }

        @Test func readyStatusWatchdogAndStoppingArriveAsSent() throws {
            let listener = try NotifySocketListener()
            withEnvironment(["NOTIFY_SOCKET": listener.path]) {
                let notifier = SystemdNotifier()
                #expect(notifier.isConfigured)
                #expect(notifier.ready(status: "idle · queue 0 · student v7") == .sent)
                #expect(listener.receive() == "READY=1\nSTATUS=idle · queue 0 · student v7")
                #expect(notifier.status("segmenting Brats18_2013_3_1 (teacher 2/3)") == .sent)
                #expect(listener.receive() == "STATUS=segmenting Brats18_2013_3_1 (teacher 2/3)")
                #expect(notifier.watchdog() == .sent)
                #expect(listener.receive() == "WATCHDOG=1")
                #expect(notifier.stopping(status: "finishing Brats18_2013_3_1") == .sent)
                #expect(listener.receive() == "STOPPING=1\nSTATUS=finishing Brats18_2013_3_1")
                #expect(listener.receive(timeout: 0.1) == nil)
                // sd_notify(0, …) must leave the environment alone.
                #expect(getenv("NOTIFY_SOCKET").map { String(cString: $0) } == listener.path)
            }
        }

        @Test func reloadingCarriesTheMonotonicClockThenReadyAgain() throws {
            let listener = try NotifySocketListener()
            try withEnvironment(["NOTIFY_SOCKET": listener.path]) {
                let notifier = SystemdNotifier()
                let before = SystemdNotifier.monotonicMicroseconds()
                #expect(notifier.reloading(status: "reloading") == .sent)
                let after = SystemdNotifier.monotonicMicroseconds()
                let message = try #require(listener.receive())
                let lines = message.split(separator: "\n").map(String.init)
                #expect(lines.first == "RELOADING=1")
                #expect(lines.contains("STATUS=reloading"))
                let stamp = try #require(lines.first { $0.hasPrefix("MONOTONIC_USEC=") })
                let microseconds = try #require(UInt64(stamp.dropFirst("MONOTONIC_USEC=".count)))
                #expect(microseconds >= before && microseconds <= after)
                // CLOCK_MONOTONIC, not wall time: far below the epoch-based value of today.
                #expect(microseconds < 1_000_000_000_000_000)
                #expect(notifier.ready(status: "idle") == .sent)
                #expect(listener.receive() == "READY=1\nSTATUS=idle")
            }
        }

        @Test func statusTextCannotInjectAssignments() throws {
            let listener = try NotifySocketListener()
            withEnvironment(["NOTIFY_SOCKET": listener.path]) {
                SystemdNotifier().status("case evil\nREADY=1\tx")
                #expect(listener.receive() == "STATUS=case evil READY=1 x")
            }
        }

        @Test func withoutNotifySocketEverythingIsANoOp() {
            withEnvironment(["NOTIFY_SOCKET": nil]) {
                let notifier = SystemdNotifier()
                #expect(!notifier.isConfigured)
                #expect(notifier.ready(status: "idle") == .notConfigured)
                #expect(notifier.watchdog() == .notConfigured)
                #expect(notifier.reloading() == .notConfigured)
                #expect(notifier.stopping() == .notConfigured)
            }
        }

        @Test func aMissingSocketIsReportedNotThrown() throws {
            let directory = try TemporaryDirectory()
            withEnvironment(["NOTIFY_SOCKET": directory.file("nobody-listens.sock")]) {
                #expect(SystemdNotifier().status("x") == .failed(errno: ENOENT))
            }
        }

        @Test func watchdogIntervalComesFromWatchdogUsec() {
            withEnvironment(["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": nil]) {
                #expect(SystemdNotifier.watchdogInterval() == .seconds(30))
                #expect(WatchdogPacer.fromEnvironment().pingInterval == .seconds(15))
            }
            withEnvironment(["WATCHDOG_USEC": "20000000", "WATCHDOG_PID": String(getpid())]) {
                #expect(SystemdNotifier.watchdogInterval() == .seconds(20))
            }
            // The watchdog belongs to another process (a child inherited the variables): disabled.
            withEnvironment(["WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "1"]) {
                #expect(SystemdNotifier.watchdogInterval() == nil)
            }
            withEnvironment(["WATCHDOG_USEC": nil, "WATCHDOG_PID": nil]) {
                #expect(SystemdNotifier.watchdogInterval() == nil)
                #expect(WatchdogPacer.fromEnvironment().pingInterval == nil)
            }
            withEnvironment(["WATCHDOG_USEC": "not a number", "WATCHDOG_PID": nil]) {
                #expect(SystemdNotifier.watchdogInterval() == nil)
            }
        }

        @Test func pacerPingsAtHalfTheInterval() {
            let pacer = WatchdogPacer(interval: .seconds(10))
            #expect(pacer.pingInterval == .seconds(5))
            let start: UInt64 = 1_000_000_000
            #expect(pacer.isPingDue(now: start), "the first ping is due at once")
            pacer.recordPing(now: start)
            #expect(!pacer.isPingDue(now: start + 4_999_999))
            #expect(pacer.isPingDue(now: start + 5_000_000))
            pacer.recordPing(now: start + 5_000_000)
            #expect(!pacer.isPingDue(now: start + 6_000_000))

            let disabled = WatchdogPacer(interval: nil)
            #expect(!disabled.isPingDue(now: start))
            #expect(disabled.pingIfDue(using: SystemdNotifier(), now: start) == nil)
        }

        @Test func pingIfDueSendsOncePerHalfInterval() throws {
            let listener = try NotifySocketListener()
            withEnvironment(["NOTIFY_SOCKET": listener.path]) {
                let pacer = WatchdogPacer(interval: .seconds(2))
                let notifier = SystemdNotifier()
                let start: UInt64 = 5_000_000
                #expect(pacer.pingIfDue(using: notifier, now: start) == .sent)
                #expect(pacer.pingIfDue(using: notifier, now: start + 500_000) == nil)
                #expect(pacer.pingIfDue(using: notifier, now: start + 999_999) == nil)
                #expect(pacer.pingIfDue(using: notifier, now: start + 1_000_000) == .sent)
                #expect(listener.receiveAll() == ["WATCHDOG=1", "WATCHDOG=1"])
            }
        }
    }
}

import Glibc
import Logging

/// Chooses where the daemon's logs go and installs the matching swift-log handler.
///
/// Rule (SPEC.md §7), in order:
/// 1. `BRAINSEG_LOG_TARGET=journal` or `=stderr` forces a target (tests, debugging; any other value
///    is ignored);
/// 2. standard error is a terminal → plain lines on stderr (someone is watching);
/// 3. no journal socket (`/run/systemd/journal/socket`) → plain lines on stderr (containers, CI);
/// 4. otherwise → native journald entries (under systemd stderr is a journal stream, but only the
///    native protocol keeps structured fields).
public enum DaemonLogging {
    /// Where log entries are written.
    public enum Target: String, Sendable, Equatable {
        case journal
        case standardError = "stderr"
    }

    /// The environment variable that forces a target.
    public static let targetVariable = "BRAINSEG_LOG_TARGET"

    /// The `SYSLOG_IDENTIFIER` of the daemon's journal entries.
    public static let identifier = "brainseg"

    /// The pure decision (see the type's documentation).
    public static func chooseTarget(forced: String?, standardErrorIsTerminal: Bool, journalSocketExists: Bool) -> Target {
        if let forced, let target = Target(rawValue: forced) { return target }
        if standardErrorIsTerminal || !journalSocketExists { return .standardError }
        return .journal
    }

    /// The decision for this process: its environment, `isatty(2)` and the journal socket.
    public static func currentTarget() -> Target {
        let forced = getenv(targetVariable).map { String(cString: $0) }
        return chooseTarget(forced: forced, standardErrorIsTerminal: isatty(2) == 1,
                            journalSocketExists: JournalSender.socketExists())
    }

    /// A handler for `target`, logging at `level` and above.
    public static func makeHandler(label: String, target: Target, level: Logger.Level = .info,
                                   metadataProvider: Logger.MetadataProvider? = nil) -> any LogHandler {
        switch target {
        case .journal:
            return JournaldLogHandler(label: label, identifier: identifier, logLevel: level, metadataProvider: metadataProvider)
        case .standardError:
            return StandardErrorLogHandler(label: label, logLevel: level, metadataProvider: metadataProvider)
        }
    }

    /// Installs the handler for `currentTarget()` as the process-wide swift-log backend and returns
    /// the chosen target (log it once at start-up). Call it once, first thing in `brainseg serve`
    /// (swift-log allows one bootstrap per process; a second call traps). Other commands keep their
    /// own output and need not call it.
    @discardableResult
    public static func bootstrap(level: Logger.Level = .info) -> Target {
        let target = currentTarget()
        LoggingSystem.bootstrap({ label, provider in
            makeHandler(label: label, target: target, level: level, metadataProvider: provider)
        }, metadataProvider: nil)
        return target
    }
}

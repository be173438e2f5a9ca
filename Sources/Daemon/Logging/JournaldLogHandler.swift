import CSystemd
import Glibc
import Logging

/// A swift-log `LogHandler` that writes entries natively to journald with `sd_journal_sendv`
/// (PLATFORM-NOTES.md §1c), so that every metadata key becomes a field operators can match:
/// `journalctl -u brainseg CASE_ID=…`.
///
/// Each entry carries `MESSAGE`, `PRIORITY` (syslog level, see `priority(for:)`),
/// `SYSLOG_IDENTIFIER` (`brainseg` by default), `CODE_FILE`/`CODE_LINE`/`CODE_FUNC`, `ERROR` when
/// the log call passed an error, and one field per metadata entry (handler metadata, then the
/// metadata provider's, then the call's; later wins), named by `JournalFieldName.sanitized`.
/// `DaemonEvent` adds `MESSAGE_ID` and `EVENT` this way.
///
/// Failure modes: with no journald socket at all libsystemd drops the entry and reports success
/// (nothing can be detected); when sending fails visibly (e.g. a stale socket left by a stopped
/// journald: `ECONNREFUSED`), the entry is written to standard error as a plain line instead, so
/// it is not lost. Logging never throws and never stops the daemon.
///
/// Privacy: only what the caller puts in the message and metadata is sent. Callers log case
/// identifiers (drop-folder names), never patient names or NIfTI header text.
public struct JournaldLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level
    /// The `SYSLOG_IDENTIFIER` of every entry (`journalctl -t IDENTIFIER`).
    public let identifier: String
    /// The swift-log label of the logger this handler belongs to; sent as `LOGGER`.
    public let label: String

    public init(label: String, identifier: String = "brainseg", logLevel: Logger.Level = .info,
                metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.identifier = identifier
        self.logLevel = logLevel
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let fields = journalFields(for: event)
        let result = JournalSender.send(fields)
        if result < 0 {
            let line = StandardErrorLogHandler.formatLine(
                timestamp: StandardErrorLogHandler.timestamp(), level: event.level,
                message: "\(event.message) (journald unavailable: errno \(-result))",
                fields: fields.filter { !Self.handlerFieldNames.contains($0.name) })
            StandardErrorLogHandler.writeToStandardError(line)
        }
    }

    /// The fields this handler sends for `event`, in order: the fixed ones first, then metadata
    /// sorted by field name.
    public func journalFields(for event: LogEvent) -> [(name: String, value: String)] {
        var fields: [(name: String, value: String)] = [
            ("MESSAGE", event.message.description),
            ("PRIORITY", String(Self.priority(for: event.level))),
            ("SYSLOG_IDENTIFIER", identifier),
            ("CODE_FILE", event.file),
            ("CODE_LINE", String(event.line)),
            ("CODE_FUNC", event.function),
            ("LOGGER", label),
        ]
        if let error = event.error { fields.append(("ERROR", "\(error)")) }
        let merged = Self.mergedMetadata(handler: metadata, provider: metadataProvider, event: event.metadata)
        for (name, value) in Self.fieldsFromMetadata(merged) { fields.append((name, value)) }
        return fields
    }

    /// The syslog priority journald stores in `PRIORITY`: trace and debug → 7 (debug), info → 6,
    /// notice → 5, warning → 4, error → 3 (err), critical → 2 (crit).
    public static func priority(for level: Logger.Level) -> Int32 {
        switch level {
        case .trace, .debug: return LOG_DEBUG
        case .info: return LOG_INFO
        case .notice: return LOG_NOTICE
        case .warning: return LOG_WARNING
        case .error: return LOG_ERR
        case .critical: return LOG_CRIT
        }
    }

    /// Handler metadata, then provider metadata, then the call's metadata; later keys win.
    static func mergedMetadata(handler: Logger.Metadata, provider: Logger.MetadataProvider?,
                               event: Logger.Metadata?) -> Logger.Metadata {
        var merged = handler
        if let provided = provider?.get() { merged.merge(provided) { $1 } }
        if let event { merged.merge(event) { $1 } }
        return merged
    }

    /// Metadata as journal fields: names sanitised, sorted by name, values as text.
    static func fieldsFromMetadata(_ metadata: Logger.Metadata) -> [(name: String, value: String)] {
        metadata.map { (JournalFieldName.sanitized($0.key), $0.value.description) }
            .sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }
    }

    /// Fields that describe the entry rather than the event; left out of the stderr fallback line.
    static let handlerFieldNames: Set<String> = ["MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "CODE_FILE", "CODE_LINE", "CODE_FUNC", "LOGGER", "MESSAGE_ID"]
}

/// The native journal protocol through `sd_journal_sendv` (the variadic `sd_journal_send` cannot
/// be called from Swift).
public enum JournalSender {
    /// Sends one entry made of `fields` (`NAME=value` each; values may contain newlines, libsystemd
    /// switches to the binary-safe encoding). Returns libsystemd's result: 0 on success, which
    /// includes "no journald socket, entry dropped"; a negative errno on a visible failure.
    /// Field names are sent as given: pass them through `JournalFieldName.sanitized` first, since
    /// journald silently drops invalid ones.
    @discardableResult
    public static func send(_ fields: [(name: String, value: String)]) -> Int32 {
        guard !fields.isEmpty else { return -EINVAL }
        var storage: [UInt8] = []
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(fields.count)
        for field in fields {
            let start = storage.count
            storage.append(contentsOf: field.name.utf8)
            storage.append(UInt8(ascii: "="))
            storage.append(contentsOf: field.value.utf8)
            ranges.append(start..<storage.count)
        }
        return storage.withUnsafeMutableBytes { bytes -> Int32 in
            let base = bytes.baseAddress!
            var vectors = ranges.map { iovec(iov_base: base + $0.lowerBound, iov_len: $0.count) }
            return vectors.withUnsafeMutableBufferPointer { sd_journal_sendv($0.baseAddress, Int32($0.count)) }
        }
    }

    /// The socket journald listens on for native entries.
    public static let socketPath = "/run/systemd/journal/socket"

    /// Whether the journal socket exists (it may still be stale, see `JournaldLogHandler`).
    public static func socketExists(at path: String = socketPath) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFSOCK
    }
}

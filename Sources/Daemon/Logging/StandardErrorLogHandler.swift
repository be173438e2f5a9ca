import Glibc
import Logging

/// A swift-log `LogHandler` writing one plain line per entry to standard error, for a terminal, a
/// test, or a machine without journald (SPEC.md §7):
///
///     2026-11-27T10:15:03.123Z info case completed: Brats18_2013_3_1 CASE_ID=Brats18_2013_3_1 DURATION_MS=41200 EVENT=case-completed
///
/// Format (stable; scripts and end-to-end tests may grep it): UTC timestamp with milliseconds,
/// the swift-log level name, the message, then ` NAME=value` for every metadata entry, sorted by
/// name, named exactly as in the journal (`JournalFieldName.sanitized`), plus `ERROR=` when the
/// call passed an error. `MESSAGE_ID` is left out (32 hex digits of noise on a terminal; `EVENT`
/// names the event). A value that is empty or contains a space, `"`, `=`, `\` or a control
/// character is written in double quotes with `\"`, `\\`, `\n`, `\t`, `\r` and `\u{XX}` escapes;
/// control characters in the message are escaped the same way, so one entry is always one line.
///
/// Each line is written with a single `write(2)` (not interleaved with other writers for lines
/// under `PIPE_BUF`); write errors are ignored, logging never stops the daemon.
public struct StandardErrorLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level
    public let label: String
    private let output: @Sendable (String) -> Void

    /// A handler writing to file descriptor 2, or to `output` (one call per line, newline
    /// included) when given, e.g. to capture lines in a test.
    public init(label: String, logLevel: Logger.Level = .info, metadataProvider: Logger.MetadataProvider? = nil,
                output: (@Sendable (String) -> Void)? = nil) {
        self.label = label
        self.logLevel = logLevel
        self.metadataProvider = metadataProvider
        self.output = output ?? { StandardErrorLogHandler.writeToStandardError($0) }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = JournaldLogHandler.mergedMetadata(handler: metadata, provider: metadataProvider, event: event.metadata)
        var fields = JournaldLogHandler.fieldsFromMetadata(merged).filter { $0.name != "MESSAGE_ID" }
        if let error = event.error { fields.append(("ERROR", "\(error)")) }
        output(Self.formatLine(timestamp: Self.timestamp(), level: event.level, message: event.message.description, fields: fields))
    }

    /// One formatted line, newline included: `TIMESTAMP LEVEL MESSAGE NAME=value…` (see the type's
    /// documentation). Fields are written in the order given.
    public static func formatLine(timestamp: String, level: Logger.Level, message: String,
                                  fields: [(name: String, value: String)]) -> String {
        var line = "\(timestamp) \(level.rawValue) \(escaped(message, quoteWhenNeeded: false))"
        for field in fields {
            line += " \(field.name)=\(escaped(field.value, quoteWhenNeeded: true))"
        }
        return line + "\n"
    }

    /// Now as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC).
    public static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return timestamp(secondsSinceEpoch: Int(now.tv_sec), milliseconds: Int(now.tv_nsec / 1_000_000))
    }

    /// `secondsSinceEpoch` + `milliseconds` as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC).
    public static func timestamp(secondsSinceEpoch: Int, milliseconds: Int) -> String {
        var seconds = time_t(secondsSinceEpoch)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(milliseconds), 3))Z"
    }

    /// Writes `line` to file descriptor 2 in one `write(2)` when possible (retrying the rest after a
    /// short write or `EINTR`); errors are ignored.
    public static func writeToStandardError(_ line: String) {
        var bytes = Array(line.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return }
            offset += written
        }
    }

    /// `text` with control characters escaped; for values, quoted when empty or when it contains a
    /// space, `"`, `=`, `\` or a control character.
    static func escaped(_ text: String, quoteWhenNeeded: Bool) -> String {
        let needsQuotes = quoteWhenNeeded && (text.isEmpty || text.unicodeScalars.contains {
            $0 == " " || $0 == "\"" || $0 == "=" || $0 == "\\" || $0.value < 0x20 || $0.value == 0x7f
        })
        var result = ""
        result.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            case "\"" where needsQuotes: result += "\\\""
            case "\\" where needsQuotes: result += "\\\\"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    result += "\\u{" + String(scalar.value, radix: 16) + "}"
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return needsQuotes ? "\"\(result)\"" : result
    }
}

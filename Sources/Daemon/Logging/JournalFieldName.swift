/// Journal field names: turning swift-log metadata keys into names journald keeps.
///
/// journald silently drops a field whose name is invalid (and `sd_journal_sendv` still returns 0,
/// PLATFORM-NOTES.md §1c), so every metadata key goes through `sanitized(_:)` before it is sent.
/// A valid name (systemd's `journal_field_valid`): 1–64 characters from `[A-Z0-9_]`, not starting
/// with a digit, not starting with `_` (those are trusted fields only journald itself may set).
public enum JournalFieldName {
    /// The longest field name journald accepts.
    public static let maximumLength = 64

    /// Fields the log handlers set themselves; a metadata key mapping to one of these is prefixed
    /// with `META_` instead of silently adding a second `MESSAGE`/`PRIORITY`/… to the entry.
    /// `MESSAGE_ID` is deliberately absent: `DaemonEvent` sets it through metadata.
    public static let reservedByHandler: Set<String> = [
        "MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "SYSLOG_FACILITY", "SYSLOG_PID", "SYSLOG_TIMESTAMP",
        "CODE_FILE", "CODE_LINE", "CODE_FUNC", "ERRNO",
    ]

    /// Whether journald accepts `name` as written.
    public static func isValid(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= maximumLength else { return false }
        guard bytes[0] != UInt8(ascii: "_"), !isDigit(bytes[0]) else { return false }
        return bytes.allSatisfy { isUppercase($0) || isDigit($0) || $0 == UInt8(ascii: "_") }
    }

    /// The journal field name for a metadata key:
    /// - a lowercase letter or digit followed by an uppercase letter gets a `_` between them
    ///   (`caseId` → `CASE_ID`, `durationMs` → `DURATION_MS`);
    /// - letters are uppercased, every other character (`.`, `-`, space, non-ASCII) becomes `_`,
    ///   runs of `_` collapse to one (`voxel.count` → `VOXEL_COUNT`);
    /// - leading and trailing `_` are removed (`_trusted` → `TRUSTED`);
    /// - a leading digit gets an `F_` prefix (`3d` → `F_3D`); an empty result becomes `FIELD`;
    /// - the result is cut to 64 characters;
    /// - names in `reservedByHandler` get a `META_` prefix (`message` → `META_MESSAGE`).
    /// Always returns a name for which `isValid` is true. Different keys may map to the same name;
    /// journald then stores both values under it.
    public static func sanitized(_ key: String) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(key.utf8.count + 4)
        var previous: UInt8 = 0
        for byte in key.utf8 {
            let mapped: UInt8
            if isUppercase(byte) {
                if isLowercase(previous) || isDigit(previous) { appendSeparator(&output) }
                mapped = byte
            } else if isLowercase(byte) {
                mapped = byte - 32
            } else if isDigit(byte) {
                mapped = byte
            } else {
                appendSeparator(&output)
                previous = byte
                continue
            }
            output.append(mapped)
            previous = byte
        }
        while output.last == UInt8(ascii: "_") { output.removeLast() }
        var name = String(decoding: output, as: UTF8.self)
        if name.isEmpty { name = "FIELD" }
        if let first = name.utf8.first, isDigit(first) { name = "F_" + name }
        if reservedByHandler.contains(name) { name = "META_" + name }
        if name.utf8.count > maximumLength {
            name = String(decoding: name.utf8.prefix(maximumLength), as: UTF8.self)
            while name.hasSuffix("_") { name.removeLast() }
        }
        return name
    }

    private static func appendSeparator(_ output: inout [UInt8]) {
        if !output.isEmpty, output.last != UInt8(ascii: "_") { output.append(UInt8(ascii: "_")) }
    }

    private static func isUppercase(_ byte: UInt8) -> Bool { byte >= 65 && byte <= 90 }
    private static func isLowercase(_ byte: UInt8) -> Bool { byte >= 97 && byte <= 122 }
    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 48 && byte <= 57 }
}

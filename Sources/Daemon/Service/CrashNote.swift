import CPosix
import Foundation
import Glibc

/// What a fatal signal left behind: which case and attempt the daemon was in, at which stage,
/// and the signal. Written by the signal handler in `CPosix` into `<root>/.crash-note`, read
/// by the next start so that a case that kills the process is recognised as the cause
/// (issue #13: poison pills) and set aside after `maximumCrashes` deaths.
///
/// Format (text, one `key=value` per line): `signal=4`, `case=17`, `attempt=2`, `stage=loading`.
public struct CrashNote: Sendable, Equatable {
    public var signal: Int32
    public var caseID: Int64
    public var attempt: Int
    public var stage: String

    /// The lines the handler writes after `signal=`.
    static func body(caseID: Int64, attempt: Int, stage: String) -> String {
        "case=\(caseID)\nattempt=\(attempt)\nstage=\(stage.replacingOccurrences(of: "\n", with: " "))\n"
    }

    /// Parses a note; nil when it is empty, torn or names no case.
    public init?(text: String) {
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        guard let signal = fields["signal"].flatMap(Int32.init), let caseID = fields["case"].flatMap(Int64.init),
              let attempt = fields["attempt"].flatMap(Int.init) else { return nil }
        self.signal = signal
        self.caseID = caseID
        self.attempt = attempt
        self.stage = fields["stage"] ?? "?"
    }
}

/// Arms the fatal-signal handler for one daemon process and keeps its note current.
///
/// `init` reads the note a previous process left (`previous`), then truncates the file and
/// installs the handler. The work loop calls `begin` when an attempt starts, `stage` at each
/// pipeline stage and `end` when the attempt is over, so the note names exactly the attempt in
/// progress; outside attempts it is empty and a crash there is not blamed on any case.
public final class CrashRecorder {
    public let previous: CrashNote?
    private let descriptor: Int32
    private var current: (caseID: Int64, attempt: Int)?

    /// - Parameter path: the note file (`<root>/.crash-note`); a link there is refused.
    public init(path: String) {
        let old = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        var text = ""
        if old >= 0 {
            var buffer = [UInt8](repeating: 0, count: 2048)
            let count = read(old, &buffer, buffer.count)
            close(old)
            if count > 0 { text = String(decoding: buffer[0..<count], as: UTF8.self) }
        }
        previous = CrashNote(text: text)
        descriptor = open(path, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if descriptor >= 0 {
            fsync(descriptor)
            _ = cposix_crash_note_install(descriptor)
        }
    }

    deinit {
        cposix_crash_note_set(nil)
        if descriptor >= 0 { close(descriptor) }
    }

    /// Whether the handler could be armed (the root is writable).
    public var isArmed: Bool { descriptor >= 0 }

    public func begin(caseID: Int64, attempt: Int, stage: String) {
        current = (caseID, attempt)
        self.stage(stage)
    }

    public func stage(_ name: String) {
        guard let current else { return }
        cposix_crash_note_set(CrashNote.body(caseID: current.caseID, attempt: current.attempt, stage: name))
    }

    public func end() {
        current = nil
        cposix_crash_note_set(nil)
    }
}

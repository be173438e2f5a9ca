import Foundation
import GRDB

/// Why an attempt ended with the daemon's death.
public enum InterruptionCause: Sendable, Equatable {
    /// A fatal signal (a trap, a segmentation fault, the watchdog's SIGABRT) that the crash
    /// note recorded, with the pipeline stage the case was in.
    case crashed(signal: Int32, stage: String)
    /// No crash note: SIGKILL, an out-of-memory kill or a power loss. Not evidence against the
    /// case on its own (an operator's `kill -9` looks the same), so it counts separately.
    case unexplained

    var name: String {
        switch self {
        case .crashed: return "crashed"
        case .unexplained: return "unexplained"
        }
    }
}

/// One attempt that ended with the daemon's death.
public struct Interruption: Sendable, Equatable {
    public var attempt: Int
    public var cause: InterruptionCause
    public var at: Date
}

extension Ledger {
    /// Records that attempt `attempt` of case `id` (in `processing`) ended with the daemon's
    /// death, and requeues the case, in one transaction. Recording the same attempt twice (a
    /// second crash before the requeue landed) changes nothing the second time.
    /// - Returns: every interruption of the case so far, oldest first.
    @discardableResult
    public func recordInterruption(_ id: Int64, attempt: Int, cause: InterruptionCause) throws -> [Interruption] {
        try writing("recording the interruption of case #\(id)") { db, now in
            var signal: Int32?
            var stage: String?
            if case .crashed(let number, let where_) = cause { signal = number; stage = where_ }
            try db.execute(sql: """
                INSERT OR IGNORE INTO interruptions (case_id, attempt, cause, signal, stage, at) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [id, attempt, cause.name, signal, stage, now])
            let current = try currentState(db, id)
            if current == .processing {
                let detail = switch cause {
                case .crashed(let number, let where_): "the daemon died of \(SignalName.describe(number)) during '\(where_)'; requeued"
                case .unexplained: "the daemon was killed during this case (no crash note: SIGKILL, out of memory or power loss); requeued"
                }
                try apply(db, caseID: id, from: current, to: .queued, detail: detail, at: now)
            }
            return try Self.interruptions(db, id)
        }
    }

    /// The interruptions of case `id`, oldest first.
    public func interruptions(of id: Int64) throws -> [Interruption] {
        try reading("reading the interruptions of case #\(id)") { db in try Self.interruptions(db, id) }
    }

    static func interruptions(_ db: Database, _ id: Int64) throws -> [Interruption] {
        try Row.fetchAll(db, sql: "SELECT * FROM interruptions WHERE case_id = ? ORDER BY attempt", arguments: [id]).map { row in
            let cause: InterruptionCause = (row["cause"] as String) == "crashed"
                ? .crashed(signal: row["signal"] ?? 0, stage: row["stage"] ?? "?") : .unexplained
            return Interruption(attempt: row["attempt"], cause: cause, at: row["at"])
        }
    }
}

/// Signal numbers in words for operators: `signal 4 (SIGILL: a trapped runtime error)`.
public enum SignalName {
    public static func describe(_ number: Int32) -> String {
        let name: String
        switch number {
        case SIGILL: name = "SIGILL: a trapped runtime error"
        case SIGTRAP: name = "SIGTRAP: a trapped runtime error"
        case SIGSEGV: name = "SIGSEGV: invalid memory access"
        case SIGBUS: name = "SIGBUS: bus error"
        case SIGFPE: name = "SIGFPE: arithmetic error"
        case SIGABRT: name = "SIGABRT: abort, or the systemd watchdog's timeout"
        case SIGKILL: name = "SIGKILL"
        default: name = "signal"
        }
        return "signal \(number) (\(name))"
    }
}

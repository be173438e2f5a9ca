import Foundation
import Glibc
import Logging

/// Entries of `incoming/` the daemon cannot move (permissions): backed off (`ClaimBackoff`),
/// reported once at priority err with what to change (`ClaimDiagnosis`), listed in the
/// ledger's `stuck_cases` for `brainseg status`, and forgotten when they are claimed or gone.
final class StuckCases {
    private var backoff = ClaimBackoff()
    private let ledger: Ledger
    private let logger: Logger

    init(ledger: Ledger, logger: Logger) {
        self.ledger = ledger
        self.logger = logger
    }

    func isWaiting(_ name: String, at now: ContinuousClock.Instant) -> Bool { backoff.isWaiting(name, at: now) }

    /// Whether `name` has failed before (its arrival was already logged).
    func isKnown(_ name: String) -> Bool { backoff.entries[name] != nil }

    /// One failed move of `name` (at `path`) while trying to `action` it.
    func record(_ name: String, path: String, error: CaseFolders.MoveError, action: String) {
        let (failures, delay) = backoff.recordFailure(name, at: .now)
        let reason = ClaimDiagnosis.explain(caseName: name, path: path, errorNumber: error.code, action: action)
        _ = try? ledger.recordStuck(name: name, reason: reason)
        if failures == 1 {
            logger.log(.caseStuck, reason, fields: [.caseID: name, .reason: reason])
        } else {
            logger.debug("\(name): still cannot be moved (try \(failures)); next try in \(delay)")
        }
    }

    /// `name` moved at last.
    func clear(_ name: String) {
        guard backoff.forget(name) else { return }
        try? ledger.clearStuck(name: name)
        logger.notice("\(name): no longer stuck in incoming/", metadata: ["CASE_ID": "\(name)"])
    }

    /// Forgets entries that are gone from `incoming` (the operator moved or deleted them).
    func forgetVanished(incoming: String) {
        for name in backoff.names {
            var status = stat()
            if lstat("\(incoming)/\(name)", &status) != 0 { clear(name) }
        }
    }
}

import Foundation
import Glibc

/// Failpoints for the end-to-end tests of crash handling (like etcd's gofail or FoundationDB's
/// buggify): inert unless `BRAINSEG_FAULT_INJECTION` is set in the daemon's environment, which
/// no unit file or configuration does.
///
/// Format: `FAULT:CASE[,FAULT:CASE…]`. Faults:
/// - `trap`: a Swift runtime trap (SIGILL, like the `vox_offset` poison pill) when case CASE
///   starts its pipeline;
/// - `kill-after-student-pass`: SIGKILL right after the student-first pass of CASE was
///   recorded in the ledger, before its inputs reach `deferred/`.
enum FaultInjection {
    enum Point: String {
        case trap
        case killAfterStudentPass = "kill-after-student-pass"
    }

    private static let armed: [(Point, String)] = {
        guard let text = ProcessInfo.processInfo.environment["BRAINSEG_FAULT_INJECTION"] else { return [] }
        return text.split(separator: ",").compactMap { item in
            let parts = item.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, let point = Point(rawValue: parts[0]) else { return nil }
            return (point, parts[1])
        }
    }()

    /// Fires `point` for `caseName` when it is armed; never returns then.
    static func check(_ point: Point, caseName: String) {
        guard armed.contains(where: { $0.0 == point && $0.1 == caseName }) else { return }
        switch point {
        case .trap:
            let poison = Double.nan
            _ = Int(poison)   // the trap a NaN vox_offset used to cause
        case .killAfterStudentPass:
            kill(getpid(), SIGKILL)
        }
    }
}

import Foundation
import Glibc

/// Hidden staging entries named `.<kind>-…-<pid>` (model installs, `current` switches, output
/// publication) that a killed process left behind. An entry is abandoned when the process in
/// its name is gone; entries of a live process (a retrain promoting right now) are left alone.
enum AbandonedStaging {
    /// Whether the process whose PID ends `name` (after the last `-`) no longer exists.
    static func ownerIsGone(_ name: String) -> Bool {
        guard let pid = name.split(separator: "-").last.flatMap({ Int32($0) }), pid != getpid() else { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }

    /// Removes the abandoned entries of `folder` whose names start with one of `prefixes`;
    /// returns their paths.
    static func remove(in folder: String, prefixes: [String]) -> [String] {
        var removed: [String] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        where prefixes.contains(where: entry.hasPrefix) && ownerIsGone(entry) {
            if (try? FileManager.default.removeItem(atPath: "\(folder)/\(entry)")) != nil { removed.append("\(folder)/\(entry)") }
        }
        return removed
    }
}

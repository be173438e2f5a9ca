import Foundation
import Glibc

/// Back-off for drop-folder entries the daemon cannot move out of `incoming/` (a folder owned
/// by another user without group write, mode 000): without it the work loop retries such an
/// entry on every turn, tens of thousands of times a minute, with a log line each time.
///
/// After the n-th failure an entry waits `initial · 2^(n−1)`, at most `maximum`, before it is
/// tried again. Only the first failure is worth a journal line (`isFirstFailure`); the
/// ledger's `stuck_cases` row keeps the count for `brainseg status`.
struct ClaimBackoff {
    struct Entry {
        var failures: Int
        var notBefore: ContinuousClock.Instant
    }

    var initial: Duration = .seconds(5)
    var maximum: Duration = .seconds(300)
    private(set) var entries: [String: Entry] = [:]

    /// Whether `name` is waiting out its back-off at `now`.
    func isWaiting(_ name: String, at now: ContinuousClock.Instant) -> Bool {
        entries[name].map { now < $0.notBefore } ?? false
    }

    /// Records one more failure of `name`; returns the failure count and the wait until the next try.
    mutating func recordFailure(_ name: String, at now: ContinuousClock.Instant) -> (failures: Int, delay: Duration) {
        let failures = (entries[name]?.failures ?? 0) + 1
        let exponent = min(failures - 1, 20)
        let delay = min(initial * (1 << exponent), maximum)
        entries[name] = Entry(failures: failures, notBefore: now + delay)
        return (failures, delay)
    }

    /// Forgets `name`; returns whether it was being backed off.
    @discardableResult
    mutating func forget(_ name: String) -> Bool {
        entries.removeValue(forKey: name) != nil
    }

    var names: [String] { entries.keys.sorted() }
}

/// Why the daemon could not move an entry out of `incoming/`, in words an operator can act on:
/// who owns it, its mode, who the daemon runs as, and what to change.
enum ClaimDiagnosis {
    /// - Parameters:
    ///   - path: the entry in `incoming/`.
    ///   - errorNumber: the errno of the failed open or rename.
    static func explain(caseName: String, path: String, errorNumber: Int32, action: String) -> String {
        var status = stat()
        let described: String
        if lstat(path, &status) == 0 {
            let mode = String(status.st_mode & 0o7777, radix: 8)
            described = "it is owned by uid \(status.st_uid) (\(userName(status.st_uid))), group \(status.st_gid) (\(groupName(status.st_gid))), mode \(mode)"
        } else {
            described = "it cannot be examined"
        }
        let me = "the daemon runs as uid \(geteuid()) (\(userName(geteuid()))), group \(getegid()) (\(groupName(getegid())))"
        let problem = String(cString: strerror(errorNumber))
        let advice: String
        switch errorNumber {
        case EACCES, EPERM:
            advice = "moving a folder out of incoming/ needs read, write and search permission on the folder itself. "
                + "Have the sender create cases group-writable for the drop group (umask 0007, or a default ACL: "
                + "setfacl -d -m g:brainseg-drop:rwx <root>/incoming), keep incoming/ setgid with that group as "
                + "systemd/brainseg.tmpfiles.conf sets it up, or fix this one with chmod -R g+rwX on the case folder"
        case EROFS:
            advice = "the file system is read-only"
        default:
            advice = "check the folder and the file system"
        }
        return "case '\(DropFolderSafety.printable(caseName))' cannot be \(action): \(problem); \(described); \(me). \(advice). "
            + "The daemon retries it with back-off."
    }

    private static func userName(_ uid: uid_t) -> String {
        guard let entry = getpwuid(uid) else { return "?" }
        return String(cString: entry.pointee.pw_name)
    }

    private static func groupName(_ gid: gid_t) -> String {
        guard let entry = getgrgid(gid) else { return "?" }
        return String(cString: entry.pointee.gr_name)
    }
}

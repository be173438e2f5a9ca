import Core
import Foundation

/// Moving case folders between the root's folders atomically (rename on one file system), so
/// that a case is always wholly in exactly one place: claim (incoming → work), file away
/// (work → archive or failed), requeue (work → incoming is never needed: work/ is resumed).
public enum CaseFolders {
    /// Why a move failed.
    public struct MoveError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Renames `source` to `destination`; when the destination exists, appends `-2`, `-3`, …
    /// Returns the path used. Throws when the source vanished (another daemon claimed it).
    @discardableResult
    public static func move(_ source: String, into folder: String, name: String) throws -> String {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var candidate = "\(folder)/\(name)"
        var suffix = 2
        while FileManager.default.fileExists(atPath: candidate) || isSymbolicLink(candidate) {
            candidate = "\(folder)/\(name)-\(suffix)"
            suffix += 1
        }
        guard rename(source, candidate) == 0 else {
            throw MoveError(description: "cannot move \(source) to \(candidate): \(String(cString: strerror(errno)))")
        }
        syncDirectory(folder)
        syncDirectory((source as NSString).deletingLastPathComponent)
        return candidate
    }

    /// Writes `error.txt` into a failed case's folder (atomically).
    public static func writeReason(_ reason: String, into folder: String) {
        try? AtomicFile.write(Array((reason + "\n").utf8), to: "\(folder)/error.txt")
    }

    static func isSymbolicLink(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFLNK
    }

    static func syncDirectory(_ path: String) {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if descriptor >= 0 { fsync(descriptor); close(descriptor) }
    }
}

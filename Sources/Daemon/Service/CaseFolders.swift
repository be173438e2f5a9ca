import CPosix
import Core
import Foundation
import Glibc

/// Moving case folders between the root's folders atomically (rename on one file system), so
/// that a case is always wholly in exactly one place: claim (incoming → work), file away
/// (work → archive or failed), requeue (work → incoming is never needed: work/ is resumed).
///
/// This is also the one place that writes into a folder a sender made (a case folder keeps
/// its sender as owner after it is claimed, so the sender can still plant links in it). Its
/// rules: never follow a link, never replace an existing entry, and never write through a
/// path: `writeReason` opens the folder with `O_NOFOLLOW | O_DIRECTORY` and creates its file
/// relative to that descriptor with `O_EXCL | O_NOFOLLOW`; `fileAway` puts an entry that is not
/// a real folder (a symlink, a file, a FIFO) inside a fresh folder the daemon creates, so
/// nothing is ever written through the sender's link. Moves use `renameat2(RENAME_NOREPLACE)`,
/// which renames the link itself, never its target.
public enum CaseFolders {
    /// Why a move or write failed, with the errno of the failing call.
    public struct MoveError: Error, CustomStringConvertible, Sendable {
        public let description: String
        /// ENOENT: the source vanished (another daemon claimed it); EACCES/EPERM: permissions;
        /// ENOSPC: disk full.
        public let code: Int32

        public init(_ what: String, code: Int32 = errno) {
            self.code = code
            description = "\(what): \(String(cString: strerror(code)))"
        }
    }

    /// Renames `source` to `folder/name`; when that exists, to `name-2`, `name-3`, …
    /// Returns the path used. Throws `MoveError` (code ENOENT when the source vanished).
    @discardableResult
    public static func move(_ source: String, into folder: String, name: String) throws -> String {
        try ensureFolder(folder)
        var suffix = 1
        while true {
            let candidate = suffix == 1 ? "\(folder)/\(name)" : "\(folder)/\(name)-\(suffix)"
            if renameWithoutReplacing(source, candidate) {
                syncDirectory(folder)
                syncDirectory((source as NSString).deletingLastPathComponent)
                return candidate
            }
            guard errno == EEXIST || errno == ENOTEMPTY else { throw MoveError("cannot move \(source) to \(candidate)") }
            suffix += 1
        }
    }

    /// Creates `folder` and its parents when missing. Throws `MoveError` naming the folder, with
    /// ENOTDIR when a file (or anything but a folder) stands where the folder should be, so that
    /// the log says what an operator has to repair.
    static func ensureFolder(_ folder: String) throws {
        var status = stat()
        if stat(folder, &status) == 0 {
            guard (status.st_mode & S_IFMT) == S_IFDIR else {
                throw MoveError("cannot use \(folder): something that is not a folder stands at that path", code: ENOTDIR)
            }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw MoveError("cannot create \(folder)", code: RetryPolicy.errorNumber(of: error) ?? EIO)
        }
    }

    /// Files a refused or failed entry away into `folder`: a real directory is moved as it is;
    /// anything else (a symlink to elsewhere, a file, a FIFO) is moved, unopened, into a new
    /// directory `folder/name/` so that `error.txt` can be written beside it without touching
    /// whatever a link points to. Returns the directory that now holds it.
    @discardableResult
    public static func fileAway(_ source: String, into folder: String, name: String) throws -> String {
        var status = stat()
        guard lstat(source, &status) == 0 else { throw MoveError("cannot file away \(source)") }
        if (status.st_mode & S_IFMT) == S_IFDIR { return try move(source, into: folder, name: name) }
        try ensureFolder(folder)
        var suffix = 1
        var holder = ""
        while true {
            holder = suffix == 1 ? "\(folder)/\(name)" : "\(folder)/\(name)-\(suffix)"
            if mkdir(holder, 0o750) == 0 { break }
            guard errno == EEXIST else { throw MoveError("cannot create \(holder)") }
            suffix += 1
        }
        let entryName = (source as NSString).lastPathComponent
        guard renameWithoutReplacing(source, "\(holder)/\(entryName)") else {
            let code = errno
            rmdir(holder)
            throw MoveError("cannot move \(source) into \(holder)", code: code)
        }
        syncDirectory(holder)
        syncDirectory(folder)
        return holder
    }

    /// Writes `error.txt` into a filed-away case folder, atomically and without following any
    /// link: the folder itself must be a real directory, and an `error.txt` the sender planted
    /// (a link, a file) is replaced as an entry, never written through.
    public static func writeReason(_ reason: String, into folder: String) {
        let directory = open(folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard directory >= 0 else { return }
        defer { close(directory) }
        let temporary = ".error.txt.tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let file = openat(directory, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard file >= 0 else { return }
        let bytes = Array((reason + "\n").utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(file, $0.baseAddress, $0.count) }
        let synced = fsync(file) == 0
        close(file)
        guard written == bytes.count, synced, renameat(directory, temporary, directory, "error.txt") == 0 else {
            unlinkat(directory, temporary, 0)
            return
        }
        fsync(directory)
    }

    /// `renameat2(RENAME_NOREPLACE)`, falling back to a check and `rename` on file systems
    /// without it (EINVAL); false with errno set on failure (EEXIST when the target exists).
    static func renameWithoutReplacing(_ source: String, _ target: String) -> Bool {
        source.withCString { renameWithoutReplacing(pointer: $0, target) }
    }

    /// `renameWithoutReplacing` from a path given as bytes (which need not be valid UTF-8).
    static func renameWithoutReplacing(pointer source: UnsafePointer<CChar>, _ target: String) -> Bool {
        if cposix_rename_noreplace(AT_FDCWD, source, AT_FDCWD, target) == 0 { return true }
        guard errno == EINVAL else { return false }
        var status = stat()
        if lstat(target, &status) == 0 {
            errno = EEXIST
            return false
        }
        return rename(source, target) == 0
    }

    static func syncDirectory(_ path: String) {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if descriptor >= 0 { fsync(descriptor); close(descriptor) }
    }
}

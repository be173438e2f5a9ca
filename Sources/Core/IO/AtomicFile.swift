import Glibc

/// Publishing files so that a reader never sees a half-written one: write under a hidden
/// temporary name in the destination directory, fsync, rename over the final name, fsync the
/// directory. A crash at any moment leaves either the old file, the new file, or a stray
/// temporary (a dot-name that drop-folder watchers ignore), never a partial file.
public enum AtomicFile {
    /// A hidden temporary path next to `path` that keeps its extension (libnifti chooses
    /// compression from the `.gz` suffix): `dir/.name.tmp-PID-RANDOM.nii.gz`.
    public static func temporaryPath(for path: String) -> String {
        let (directory, name) = split(path)
        let suffixes = [".nii.gz", ".nii", ".json", ".png", ".safetensors", ".txt"]
        let ext = suffixes.first { name.hasSuffix($0) } ?? ""
        let stem = String(name.dropLast(ext.count))
        let token = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        return "\(directory)/.\(stem).tmp-\(getpid())-\(token)\(ext)"
    }

    /// Flushes a written file to stable storage.
    public static func sync(path: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw posixError("cannot open for fsync", path) }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw posixError("fsync failed", path) }
    }

    /// Renames `temporary` to `path` atomically and syncs the directory entry.
    public static func publish(_ temporary: String, as path: String) throws {
        guard rename(temporary, path) == 0 else { throw posixError("cannot rename \(temporary) into place", path) }
        let directory = split(path).directory
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if descriptor >= 0 {
            _ = fsync(descriptor)
            close(descriptor)
        }
    }

    /// Writes `bytes` to `path` atomically (temporary name, fsync, rename).
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let temporary = temporaryPath(for: path)
        do {
            let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else { throw posixError("cannot create", temporary) }
            defer { close(descriptor) }
            var written = 0
            while written < bytes.count {
                let result = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + written, bytes.count - written) }
                if result < 0 {
                    if errno == EINTR { continue }
                    throw posixError("write failed", temporary)
                }
                written += result
            }
            guard fsync(descriptor) == 0 else { throw posixError("fsync failed", temporary) }
            try publish(temporary, as: path)
        } catch {
            unlink(temporary)
            throw error
        }
    }

    static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }

    private static func posixError(_ what: String, _ path: String) -> NiftiError {
        let code = errno
        return NiftiError(.writeFailed, path: path, "\(what): \(String(cString: strerror(code)))", errorNumber: code)
    }
}

import Foundation

/// An exclusive `flock` on a lock file, held for as long as this object lives: two holders of
/// the same file never overlap, and the kernel releases it when the holder dies (even by
/// `kill -9`), so the next one starts cleanly. The file records the holder's PID for the error
/// message. Used for one daemon per root (`<root>/.serve.lock`) and one retrain per root
/// (`<root>/retrain/lock`).
public final class ProcessLock {
    private let descriptor: Int32
    public let path: String

    public struct Busy: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Takes the lock at `path` (creating the file and its folder) or throws `Busy`, whose
    /// message says "another `holder` is running (pid …, lock …)".
    public init(path: String, holder: String) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path,
                                                withIntermediateDirectories: true)
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw Busy(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let pid = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            close(descriptor)
            throw Busy(description: "another \(holder) is running (pid \(pid), lock \(path))")
        }
        ftruncate(descriptor, 0)
        let text = "\(getpid())\n"
        _ = text.withCString { write(descriptor, $0, strlen($0)) }
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}

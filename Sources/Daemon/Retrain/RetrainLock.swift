import Foundation

/// An exclusive `flock` on `<root>/retrain/lock` held for a whole retrain: two runs never
/// overlap, and the kernel releases it when the holder dies (even by `kill -9`), so the next
/// run starts cleanly. The file records the holder's PID for the error message.
public final class RetrainLock {
    private let descriptor: Int32
    public let path: String

    public struct Busy: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    public init(path: String) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path,
                                                withIntermediateDirectories: true)
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw Busy(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            close(descriptor)
            throw Busy(description: "another retrain is running (pid \(holder), lock \(path))")
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

import Core
import Foundation

/// `<run>/log.jsonl`: one JSON object per line (training steps and validations).
enum TrainingLog {
    static func path(_ run: String) -> String { "\(run)/log.jsonl" }

    static func append(_ entry: [String: Any], in run: String) throws {
        var line = try JSONSerialization.data(withJSONObject: entry, options: [.sortedKeys])
        line.append(0x0a)
        let path = path(run)
        if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: line)
    }

    /// Drops lines about steps after `step` (written after the last checkpoint by a run that was
    /// then killed), so a resumed log reads as one uninterrupted run.
    static func truncate(in run: String, after step: Int) throws {
        let path = path(run)
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return }
        let kept = text.split(separator: "\n").filter { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let lineStep = object["step"] as? Int else { return false }
            return lineStep <= step
        }
        try AtomicFile.write(Array((kept.joined(separator: "\n") + (kept.isEmpty ? "" : "\n")).utf8), to: path)
    }
}

/// Prepares the next batch on a background thread while the current step computes.
final class Prefetcher: @unchecked Sendable {
    private let produce: (Int) -> TrainingPatch
    private let queue = DispatchQueue(label: "brainseg.prefetch")
    private let ready = DispatchSemaphore(value: 0)
    private var result: TrainingPatch?

    init(_ produce: @escaping (Int) -> TrainingPatch) { self.produce = produce }

    func request(_ step: Int) {
        queue.async { [self] in
            result = produce(step)
            ready.signal()
        }
    }

    func take() -> TrainingPatch {
        ready.wait()
        return queue.sync { result! }
    }

    /// Waits for an outstanding request so no work outlives the run.
    func finish() { ready.wait() }
}

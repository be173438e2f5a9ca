import Foundation

/// Whether a folder may serve as the daemon's root (`brainseg serve`, `brainseg retrain`).
///
/// A daemon treats its root's folders as its own: at start it reruns or files away every entry
/// in `work/` and `deferred/` (what a killed run left), and a retrain clears `retrain/`. Given a
/// folder that is not a brainseg root, it would move whatever is there. An empty `root` in the
/// configuration once made the root `/`: `/work` became the daemon's `work/`, and every project
/// folder in it was filed into `/failed` as a refused case. So:
/// - the root must be named (not an empty string) and must not be the file system's root;
/// - a folder that has never been a root (no ledger) is adopted only while its `work/` and
///   `deferred/` are missing or empty. A brainseg root always has its ledger: the daemon creates
///   it before it claims its first case.
public enum RootAdoption {
    /// Why the daemon must not run on `layout`'s root, or nil when it may.
    public static func problem(with layout: RootLayout) -> String? {
        guard !layout.root.isEmpty else {
            return "the root folder is an empty path; set `root` in the configuration or pass --root with the folder brainseg owns (e.g. /var/lib/brainseg)"
        }
        let resolved = URL(fileURLWithPath: layout.root).standardizedFileURL.resolvingSymlinksInPath().path
        guard resolved != "/" else {
            return "the root folder \(layout.root) is the file system's root; brainseg needs a folder of its own (e.g. /var/lib/brainseg)"
        }
        guard !FileManager.default.fileExists(atPath: layout.ledger) else { return nil }
        for folder in [layout.work, layout.deferred] {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            if !entries.isEmpty {
                let shown = entries.sorted().prefix(3).joined(separator: ", ") + (entries.count > 3 ? ", …" : "")
                return "\(layout.root) is not a brainseg root (it has no ledger.sqlite), yet \(folder) holds \(entries.count) entr\(entries.count == 1 ? "y" : "ies") (\(shown)) that brainseg would take for its own unfinished cases; point the root at an empty folder or at an existing brainseg root"
            }
        }
        return nil
    }

    /// Throws `Refusal` with `problem(with:)`'s reason, if any.
    public static func check(_ layout: RootLayout) throws {
        if let reason = problem(with: layout) { throw Refusal(description: reason) }
    }

    /// A root the daemon will not run on.
    public struct Refusal: Error, CustomStringConvertible, Sendable {
        public let description: String
    }
}

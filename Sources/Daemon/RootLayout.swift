/// The folders under the daemon's root (SPEC.md §2) and the rule that keeps case names inside
/// them. The root is `/var/lib/brainseg` under systemd and `./var` otherwise.
public struct RootLayout: Sendable, Equatable {
    public let root: String

    public init(root: String) {
        var trimmed = root
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.root = trimmed
    }

    /// The embedded default root for runs outside systemd.
    public static let defaultRoot = "./var"

    public var incoming: String { "\(root)/incoming" }
    public var work: String { "\(root)/work" }
    public var output: String { "\(root)/output" }
    public var failed: String { "\(root)/failed" }
    public var archive: String { "\(root)/archive" }
    public var pool: String { "\(root)/pool" }
    /// Student-first mode: inputs whose student mask is published and whose teachers run when idle.
    public var deferred: String { "\(root)/deferred" }
    public var models: String { "\(root)/models" }
    public var ledger: String { "\(root)/ledger.sqlite" }

    /// Every folder the daemon creates at start-up, in creation order.
    public var folders: [String] { [incoming, work, output, failed, archive, pool, models, deferred] }

    /// The longest case name, in bytes. File names are limited to 255 bytes, and the daemon
    /// derives longer ones from a case's name: `.staging-<name>-<pid>` while publishing,
    /// `<name>-previous-<time>`, `<name>_prob_WT.nii.gz`; each adds at most 20 bytes. A name of
    /// 241 bytes used to be segmented in full and then fail on its staging folder.
    public static let maximumCaseNameBytes = 200

    /// Whether `name` may be used as a case directory name: one path component, no control
    /// characters, not hidden, not `.`/`..`, at most `maximumCaseNameBytes`. Names from the drop
    /// folder are written by other systems and must never reach a path outside the root.
    public static func isSafeCaseName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= maximumCaseNameBytes, !name.hasPrefix("."), !name.contains("/") else { return false }
        return !name.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f }
    }
}

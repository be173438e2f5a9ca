import Core
import Foundation

/// What `brainseg status` reports about a root (SPEC.md §6–7): the queue (case folders waiting
/// in `incoming/` and unfinished ledger records), recent cases with outcome and timing, failures
/// with reasons, installed model versions, the pool size and the last retrain.
///
/// `gather` only reads: the ledger is opened read-only (a WAL reader, so it works while the
/// daemon writes and never blocks it), folders are listed, nothing is created. A root without a
/// ledger still gives a report (`ledgerNote` says why the ledger part is empty); only a missing
/// root is an error.
public struct StatusReport: Sendable, Codable, Equatable {
    /// One ledger record as shown by status.
    public struct CaseLine: Sendable, Codable, Equatable {
        public var id: Int64
        public var caseName: String
        public var state: String
        public var attempts: Int
        public var createdAt: Date
        public var updatedAt: Date
        /// The case's wall time (`timings["total"]`) when recorded.
        public var seconds: Double?
        public var error: String?
        public var duplicateOf: Int64?
        public var modelVersions: [String: String]
        public var volumesML: [String: Double]
        public var dice: [String: Double]?

        init(_ record: CaseRecord) {
            id = record.id
            caseName = record.caseName
            state = record.state.rawValue
            attempts = record.attempts
            createdAt = record.createdAt
            updatedAt = record.updatedAt
            seconds = record.totalSeconds
            error = record.lastError
            duplicateOf = record.duplicateOf
            modelVersions = record.results.modelVersions
            volumesML = record.results.volumes
            dice = record.results.dice
        }
    }

    /// The last retrain as shown by status.
    public struct RetrainLine: Sendable, Codable, Equatable {
        public var model: String
        public var version: String
        public var at: Date
        /// The event's detail, parsed when it is JSON.
        public var detail: String?
    }

    public var root: String
    public var generatedAt: Date
    public var ledgerPath: String
    /// Nil when the ledger was read; otherwise why it could not be (missing, unreadable).
    public var ledgerNote: String?
    /// Case folders in `incoming/` (temporary and hidden names excluded), sorted.
    public var incoming: [String]
    /// Unfinished ledger records (received, queued, processing, retrying), oldest first.
    public var queue: [CaseLine]
    public var recent: [CaseLine]
    public var failures: [CaseLine]
    /// Records per state (every state listed, zero included); empty without a ledger.
    public var counts: [String: Int]
    public var models: [InstalledModel]
    /// Entries in `pool/` (hidden names excluded); nil when there is no pool folder.
    public var poolSize: Int?
    /// Nil when no retrain has finished ("never").
    public var lastRetrain: RetrainLine?
    /// Drop-folder entries the daemon cannot claim (permissions), with the reason and advice.
    public var stuck: [StuckCase] = []

    /// The root folder does not exist (or is not a folder).
    public struct MissingRoot: Error, Sendable, CustomStringConvertible {
        public let root: String
        public var description: String {
            "no brainseg root at \(root) (pass --root with the daemon's root, e.g. /var/lib/brainseg, or start `brainseg serve --root \(root)` once)"
        }
    }

    /// Reads the state of `layout`'s root.
    /// - Throws: `MissingRoot` when the root folder does not exist. Ledger problems do not
    ///   throw; they are reported in `ledgerNote`.
    public static func gather(layout: RootLayout, recentLimit: Int = 10, failureLimit: Int = 10, now: Date = Date()) throws -> StatusReport {
        guard ModelInventory.isDirectory(layout.root) else { throw MissingRoot(root: layout.root) }
        var report = StatusReport(
            root: layout.root, generatedAt: now, ledgerPath: layout.ledger, ledgerNote: nil,
            incoming: caseFolders(in: layout.incoming), queue: [], recent: [], failures: [], counts: [:],
            models: ModelInventory.list(modelsFolder: layout.models), poolSize: entryCount(layout.pool), lastRetrain: nil)
        do {
            let ledger = try Ledger(path: layout.ledger, access: .readOnly)
            let overview = try ledger.overview(recentLimit: recentLimit, failureLimit: failureLimit)
            report.queue = overview.queue.map(CaseLine.init)
            report.recent = overview.recent.map(CaseLine.init)
            report.failures = overview.failures.map(CaseLine.init)
            report.counts = overview.summary.countsByState
            report.stuck = try ledger.stuckCases()
            report.lastRetrain = overview.summary.lastRetrain.map {
                RetrainLine(model: $0.name, version: $0.version, at: $0.at, detail: $0.detailJSON)
            }
        } catch let error as LedgerError {
            report.ledgerNote = error.kind == .missing ? "no ledger yet (the daemon has not run on this root)" : error.description
        } catch {
            report.ledgerNote = "cannot read the ledger: \(error)"
        }
        return report
    }

    /// Sub-folders of `incoming/` that are case candidates (not hidden, not temporary names).
    /// Symbolic links are not followed (the drop folder is hostile) and are not counted.
    static func caseFolders(in folder: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter { name in
            guard !CaseFiles.isIgnored(name) else { return false }
            var status = stat()
            guard lstat("\(folder)/\(name)", &status) == 0 else { return false }
            return (status.st_mode & S_IFMT) == S_IFDIR
        }.sorted()
    }

    static func entryCount(_ folder: String) -> Int? {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return nil }
        return names.filter { !$0.hasPrefix(".") }.count
    }

    /// The report as one JSON object (ISO 8601 dates, sorted keys). Optional values that are
    /// absent (no ledger note, no retrain yet, no Dice) are left out rather than written as null.
    public func json() throws -> String {
        try ReadableJSON.string(self)
    }
}

import Foundation

/// The value types the ledger hands out. They are snapshots: reading them never locks the
/// database, and changing them changes nothing on disk.

/// What `Ledger.register` decided for a case seen in the drop folder.
public enum Registration: Sendable, Equatable {
    /// A case the ledger has not seen with this content: a new record in state `received`.
    case new(Int64)
    /// The same content was completed before as case `of`; a record `id` in state `duplicate`
    /// was written so the drop is visible in `status`. Do not process it.
    case duplicate(Int64, of: Int64)
    /// The same name and content already have an unfinished record (received, queued,
    /// processing or retrying), e.g. after a restart. Nothing was written; continue from `state`.
    case resumed(Int64, state: CaseState)

    /// The record that now stands for the dropped case.
    public var caseID: Int64 {
        switch self {
        case .new(let id), .duplicate(let id, _), .resumed(let id, _): return id
        }
    }
}

/// Everything the daemon learned from one successful case, stored by `Ledger.recordCompletion`.
/// Dictionary keys are free-form; the conventions below are what `brainseg status` shows.
public struct CaseResults: Sendable, Equatable, Codable {
    /// Artefact kind → path, e.g. `"seg"`, `"report"`, `"qc"`.
    public var outputs: [String: String]
    /// Model name → version that produced the mask, e.g. `"student": "7"`.
    public var modelVersions: [String: String]
    /// Stage → seconds, e.g. `"load"`, `"unet"`, `"write"`; `"total"` is the case's wall time.
    public var timings: [String: Double]
    /// Region → millilitres (`"WT"`, `"TC"`, `"ET"`).
    public var volumes: [String: Double]
    /// Region → Dice against a ground truth shipped with the case, when there was one.
    public var dice: [String: Double]?

    public init(outputs: [String: String] = [:], modelVersions: [String: String] = [:], timings: [String: Double] = [:],
                volumes: [String: Double] = [:], dice: [String: Double]? = nil) {
        self.outputs = outputs
        self.modelVersions = modelVersions
        self.timings = timings
        self.volumes = volumes
        self.dice = dice
    }
}

/// One case as recorded.
public struct CaseRecord: Sendable, Equatable, Codable {
    public var id: Int64
    public var caseName: String
    /// `ContentHash.hexDigest` of the inputs; `refused` for a case refused at intake, whose
    /// files were never read (`Ledger.recordRefusal`).
    public var contentHash: String
    public var state: CaseState
    /// Number of times the case entered `processing` (crashes included).
    public var attempts: Int
    public var createdAt: Date
    public var updatedAt: Date
    /// The reason of the latest failure or retry, if any.
    public var lastError: String?
    /// The input files as registered.
    public var inputFiles: [String]
    /// Set for `duplicate` records: the completed case with the same content.
    public var duplicateOf: Int64?
    /// Empty until the case completes.
    public var results: CaseResults

    /// The case's wall time: `results.timings["total"]` when recorded, else nil.
    public var totalSeconds: Double? { results.timings["total"] }
}

/// One recorded state change. `from` is nil for the record's creation.
public struct StateTransition: Sendable, Equatable, Codable {
    public var caseID: Int64
    public var from: CaseState?
    public var to: CaseState
    public var at: Date
    public var detail: String?
}

/// One stay of a case in `processing`.
public struct Attempt: Sendable, Equatable, Codable {
    public var caseID: Int64
    /// 1 for the first attempt.
    public var number: Int
    public var startedAt: Date
    /// Nil while running, or when the daemon died during the attempt.
    public var endedAt: Date?
    /// The state the attempt ended in (`completed`, `failed`, `retrying`, `queued` for a requeue).
    public var outcome: CaseState?
    public var error: String?
}

/// Kinds of model events. Open-ended (any string is stored); these are the ones brainseg writes.
public struct ModelEventKind: RawRepresentable, Hashable, Sendable, Codable, ExpressibleByStringLiteral, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }
    public var description: String { rawValue }

    /// A version was installed into `models/<name>/` (first start, import).
    public static let installed: ModelEventKind = "installed"
    /// A retraining run started.
    public static let retrainStarted: ModelEventKind = "retrain-started"
    /// A retraining run ended (promoted or not; the detail says which and why).
    public static let retrainFinished: ModelEventKind = "retrain-finished"
    /// `current` was switched to a new version after a retrain.
    public static let promoted: ModelEventKind = "promoted"
    /// A candidate was evaluated and kept out of service.
    public static let rejected: ModelEventKind = "rejected"
    /// `current` was switched back by `brainseg models rollback`.
    public static let rolledBack: ModelEventKind = "rolled-back"
}

/// A model or retraining event.
public struct ModelEvent: Sendable, Equatable, Codable {
    public var id: Int64
    public var name: String
    public var version: String
    public var kind: ModelEventKind
    public var at: Date
    /// Free-form JSON text (an object by convention), e.g. `{"outcome":"promoted","dice":{…}}`.
    public var detailJSON: String?
}

/// Counts for `brainseg status`.
public struct LedgerSummary: Sendable, Equatable, Codable {
    /// Every state with its number of records (zero included).
    public var countsByState: [String: Int]
    public var totalCases: Int
    /// The latest `retrain-finished` event, if any.
    public var lastRetrain: ModelEvent?
}

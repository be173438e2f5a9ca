import Foundation

/// `<root>/retrain/<run>/manifest.json`: the frozen inputs of one retrain run — which labelled
/// cases and pool entries it trains on, which hold-out cases judge it, and the student it
/// starts from. Written before training starts; the pool may change afterwards without
/// affecting the run.
public struct RetrainManifest: Sendable, Codable, Equatable {
    public struct PoolItem: Sendable, Codable, Equatable {
        public var caseIdentifier: String
        public var kind: PoolEntry.Kind
        public var contentHash: String
        public var score: Double
    }

    public var run: String
    public var createdAt: Date
    public var startingVersion: String
    /// Labelled training case folders (hold-out excluded).
    public var labelledCases: [String]
    public var holdoutCases: [String]
    public var pool: [PoolItem]
    /// Pool entries left out because they are hold-out cases, by name or by content (one of
    /// their scans is a hold-out case's).
    public var excludedPoolEntries: [String]
    /// Pool entries left out because they cannot be read (name → the error), when there are any.
    public var unusablePoolEntries: [String: String]?
}

/// `<root>/retrain/<run>/decision.json`: the outcome; its presence marks a finished run.
public struct RetrainDecision: Sendable, Codable, Equatable {
    public var run: String
    public var finishedAt: Date
    public var startingVersion: String
    public var current: HoldoutScores
    public var candidate: HoldoutScores
    public var gate: PromotionGate
    public var promoted: Bool
    /// The new version when promoted.
    public var promotedVersion: String?
    public var reasons: [String]
    public var trainingSteps: Int
    public var trainingSeconds: Double
}

/// Hold-out Dice of one student version (mean and per case).
public struct HoldoutScores: Sendable, Codable, Equatable {
    public var mean: [String: Double]
    public var cases: [String: [String: Double]]
}

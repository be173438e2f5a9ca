import Core
import Foundation

/// `model.json` beside `weights.safetensors`: what a weight file is, how it was made and how
/// good it is (ENGINEERING.md "Product conventions").
public struct ModelCard: Codable, Sendable, Equatable {
    /// Dice per region.
    public typealias Dice = RegionValues<Double>

    public var name: String
    public var version: String
    public var profile: ModelProfile
    public var role: ModelRole
    public var architecture: [String: Int]
    public var parameterCount: Int
    /// Case identifiers trained on (and pool entries, for retrained students).
    public var trainingData: [String]
    public var holdout: [String]
    /// The command that reproduces the weights.
    public var command: String
    public var seed: UInt64
    public var steps: Int
    public var wallTimeSeconds: Double
    public var validationDice: Dice?
    /// Per-region thresholds used when building labels (0.5 by default).
    public var thresholds: [String: Double]
    /// ISO 8601 date of creation.
    public var date: String
    public var notes: String

    public init(name: String, version: String, profile: ModelProfile, role: ModelRole, architecture: [String: Int], parameterCount: Int,
                trainingData: [String] = [], holdout: [String] = [], command: String = "", seed: UInt64 = 0, steps: Int = 0,
                wallTimeSeconds: Double = 0, validationDice: Dice? = nil, thresholds: [String: Double] = ["WT": 0.5, "TC": 0.5, "ET": 0.5],
                date: String = ISO8601DateFormatter().string(from: Date()), notes: String = "") {
        self.name = name
        self.version = version
        self.profile = profile
        self.role = role
        self.architecture = architecture
        self.parameterCount = parameterCount
        self.trainingData = trainingData
        self.holdout = holdout
        self.command = command
        self.seed = seed
        self.steps = steps
        self.wallTimeSeconds = wallTimeSeconds
        self.validationDice = validationDice
        self.thresholds = thresholds
        self.date = date
        self.notes = notes
    }

    public func encoded() throws -> Data {
        try ReadableJSON.encoder.encode(self)
    }
}

import Foundation

/// `pool/<case>/entry.json`: what a distillation-pool entry holds and where it came from.
///
/// An entry folder is itself a labelled case folder (the four input modalities as received plus
/// `<case>_seg.nii.gz`, the expert segmentation or the ensemble's hard pseudo-label, always in
/// BraTS 2018 label values), so
/// `brainseg train --pool` reads it like any labelled case. `soft/prob_{WT,TC,ET}.nii.gz` hold the
/// ensemble's averaged region probabilities as 8-bit (value / 255) in the input grid.
public struct PoolEntry: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable, Equatable {
        /// The label is the teachers' ensemble pseudo-label.
        case pseudoLabelled = "pseudo-labelled"
        /// The case arrived with an expert segmentation, which is the label.
        case expertLabelled = "expert-labelled"
    }

    public struct ModelVersion: Sendable, Codable, Equatable {
        public var name: String
        public var version: String
        public init(name: String, version: String) {
            self.name = name
            self.version = version
        }
    }

    public var caseIdentifier: String
    public var kind: Kind
    public var admittedAt: Date
    /// `ContentHash` of the case's inputs: an entry with the same content never enters twice.
    public var contentHash: String
    /// Input file name → SHA-256.
    public var inputHashes: [String: String]
    /// The label file inside the entry folder.
    public var labelFile: String
    /// Region → 8-bit probability file inside the entry folder.
    public var probabilityFiles: [String: String]
    /// The ensemble that produced the pseudo-label (and the probabilities).
    public var teachers: [ModelVersion]
    public var confidence: ConfidenceAssessment

    public init(caseIdentifier: String, kind: Kind, admittedAt: Date, contentHash: String, inputHashes: [String: String],
                labelFile: String, probabilityFiles: [String: String], teachers: [ModelVersion], confidence: ConfidenceAssessment) {
        self.caseIdentifier = caseIdentifier
        self.kind = kind
        self.admittedAt = admittedAt
        self.contentHash = contentHash
        self.inputHashes = inputHashes
        self.labelFile = labelFile
        self.probabilityFiles = probabilityFiles
        self.teachers = teachers
        self.confidence = confidence
    }

    static let fileName = "entry.json"

}

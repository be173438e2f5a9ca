import Core
import Foundation
import Plugins

/// The JSON report written next to a case's mask: `output/<case>/<case>_report.json`
/// (SPEC.md §2, §3). One self-contained record of what came in, what ran, how long it took,
/// what came out and how much to trust it, for radiology staff, scripts and audits.
///
/// JSON conventions: keys in camelCase (region keys `WT`, `TC`, `ET`), sorted, pretty-printed;
/// dates in ISO 8601 UTC with milliseconds (`2026-11-27T10:15:02.125Z`); durations in
/// milliseconds; volumes in millilitres; hashes as lower-case hexadecimal SHA-256; non-finite
/// numbers as the strings `"inf"`, `"-inf"`, `"nan"` (JSON has no such numbers). Optional
/// fields are omitted when unknown. `schemaVersion` changes whenever a field changes meaning
/// or disappears (adding an optional field keeps the version).
///
/// Build one with `CaseReportBuilder`; write it with `write(to:)` (atomic: temporary name,
/// fsync, rename, so a reader never sees half a report).
public struct CaseReport: Sendable, Codable, Equatable {
    /// The schema version this code writes.
    public static let currentSchemaVersion = 1

    public var schemaVersion: Int
    /// The case directory's name.
    public var caseIdentifier: String
    public var times: Times
    /// The files read, in channel order T1, T1ce, T2, FLAIR, then the expert segmentation.
    public var inputs: [InputFile]
    public var geometry: Geometry
    public var labelConvention: LabelConvention
    /// Tumour volumes from the written label map.
    public var volumesMillilitres: RegionVolumes
    /// The predicted lesions of each region of the written label map (nil in reports written
    /// before this field existed).
    public var lesions: PredictedLesions?
    /// Every model that ran, with the version in service.
    public var models: [ModelVersion]
    /// Agreement between the members and with the ensemble (nil when not measured).
    public var agreement: EnsembleAgreement?
    /// The confidence assessment for the distillation pool (SPEC.md §3.7), filled by the pool
    /// service; nil until that runs.
    public var confidence: Confidence?
    /// Names (not paths) of the files written into `output/<case>/`.
    public var outputs: OutputFiles
    /// Accuracy against the expert segmentation, when the case had one.
    public var evaluation: Evaluation?
    /// Which models produced the written mask, and whether it is final (student-first mode).
    public var result: Provenance?
    /// Enhancing tumour relabelled as core because it does not enhance on T1ce
    /// (`EnhancementCheck`); nil when the check is off, and in reports written before it existed.
    public var enhancementCheck: EnhancementCheckRecord?

    /// What `EnhancementCheck` changed in the written label map.
    public struct EnhancementCheckRecord: Sendable, Codable, Equatable {
        /// False when the check could not run (no healthy brain to compare with).
        public var applied: Bool
        /// ET voxels relabelled as core because they do not enhance, and their volume.
        public var relabelledVoxels: Int
        public var relabelledMillilitres: Double
        /// ET voxels relabelled as core because too few were left (the ET volume threshold).
        public var tooFewLeftVoxels: Int

        public init(_ outcome: EnhancementCheck.Outcome, voxelVolumeMillilitres: Double) {
            applied = outcome.applied
            relabelledVoxels = outcome.relabelled
            relabelledMillilitres = Double(outcome.relabelled) * voxelVolumeMillilitres
            tooFewLeftVoxels = outcome.relabelledAsTooFew
        }
    }

    /// Who produced the mask in `output/<case>/`. In student-first mode the student's mask is
    /// revision 1 (`final` false: the teachers are still to run) and the ensemble's replaces it
    /// as revision 2; otherwise the ensemble's mask is revision 1 and final.
    public struct Provenance: Sendable, Codable, Equatable {
        /// `ensemble` or `student`.
        public var producedBy: String
        public var revision: Int
        public var final: Bool
        /// What the earlier revision was, e.g. "student v3 mask written 2026-11-27T20:01:02Z".
        public var supersedes: String?
        /// Set when this folder is a copy of another case's result: the same inputs (by content)
        /// were dropped again under this name, and nothing was run again. Names that case, e.g.
        /// "case #12 (Brats18_X), output/Brats18_X, completed 2026-12-07T14:01:02Z".
        public var copyOf: String?

        public init(producedBy: String, revision: Int, final: Bool, supersedes: String? = nil, copyOf: String? = nil) {
            self.producedBy = producedBy
            self.revision = revision
            self.final = final
            self.supersedes = supersedes
            self.copyOf = copyOf
        }
    }

    /// When the case arrived and was processed, and how long each stage took.
    public struct Times: Sendable, Codable, Equatable {
        /// When the case was first seen complete in `incoming/` (nil when unknown, e.g. a
        /// case resumed from `work/` after a restart without a ledger entry).
        public var received: Date?
        public var started: Date
        public var completed: Date
        public var stagesMilliseconds: StageTimings

        public init(received: Date?, started: Date, completed: Date, stagesMilliseconds: StageTimings) {
            self.received = received
            self.started = started
            self.completed = completed
            self.stagesMilliseconds = stagesMilliseconds
        }
    }

    /// Durations of the pipeline stages in milliseconds; nil for stages not measured.
    public struct StageTimings: Sendable, Codable, Equatable {
        /// Reading and validating the files.
        public var load: Double?
        /// Cropping, normalisation, resampling (when measured apart from the models).
        public var preprocess: Double?
        /// Each model's inference, by model name.
        public var models: [String: Double] = [:]
        /// Averaging, thresholding and post-processing into the label map.
        public var ensemble: Double?
        /// Dice/HD95 against the expert segmentation.
        public var evaluation: Double?
        /// Writing the mask, the QC picture and the report.
        public var write: Double?
        /// From the start of processing to the last output written.
        public var total: Double?

        public init() {}
    }

    /// One input file as it was read.
    public struct InputFile: Sendable, Codable, Equatable {
        /// `T1`, `T1ce`, `T2`, `FLAIR` or `segmentation`.
        public var role: String
        /// The file's name within the case directory.
        public var name: String
        public var bytes: Int64
        /// SHA-256 of the file's bytes, lower-case hexadecimal.
        public var sha256: String

        public init(role: String, name: String, bytes: Int64, sha256: String) {
            self.role = role
            self.name = name
            self.bytes = bytes
            self.sha256 = sha256
        }
    }

    /// The input grid (the mask is written on it).
    public struct Geometry: Sendable, Codable, Equatable {
        /// nx, ny, nz.
        public var dims: [Int]
        public var spacingMillimetres: [Double]
        /// Axis codes as nibabel's `aff2axcodes`, e.g. `LPS` (BraTS) or `RAS`.
        public var orientation: String
        public var voxelVolumeMillilitres: Double

        public init(_ geometry: VolumeGeometry) {
            dims = geometry.dims
            spacingMillimetres = geometry.spacingInMillimetres
            orientation = geometry.orientation
            voxelVolumeMillilitres = geometry.voxelVolumeMillilitres
        }
    }

    /// Millilitres per BraTS region (JSON keys `WT`, `TC`, `ET`).
    /// Millilitres per region.
    public typealias RegionVolumes = RegionValues<Double>

    /// The lesions of each BraTS region of a label map (JSON keys `WT`, `TC`, `ET`): its
    /// 26-connected components, as the BraTS lesion-wise evaluation counts them (`Lesions`).
    public struct PredictedLesions: Sendable, Codable, Equatable {
        public var wholeTumour: RegionLesions
        public var tumourCore: RegionLesions
        public var enhancingTumour: RegionLesions

        /// The lesions of each region of `labels` (grid `dims`) under `convention`.
        public init(labels: [UInt8], dims: [Int], voxelVolumeMillilitres: Double, convention: LabelConvention) {
            func region(_ region: BratsRegion) -> RegionLesions {
                RegionLesions(Lesions(mask: convention.mask(of: region, in: labels), dims: dims), voxelVolumeMillilitres: voxelVolumeMillilitres)
            }
            wholeTumour = region(.wholeTumour)
            tumourCore = region(.tumourCore)
            enhancingTumour = region(.enhancingTumour)
        }

        enum CodingKeys: String, CodingKey {
            case wholeTumour = "WT", tumourCore = "TC", enhancingTumour = "ET"
        }
    }

    /// How many lesions a region has and the size of each, largest first.
    public struct RegionLesions: Sendable, Codable, Equatable {
        public var count: Int
        public var voxels: [Int]
        public var millilitres: [Double]

        public init(_ lesions: Lesions, voxelVolumeMillilitres: Double) {
            voxels = lesions.sizes.sorted(by: >)
            millilitres = voxels.map { Double($0) * voxelVolumeMillilitres }
            count = voxels.count
        }
    }

    /// A model that ran on the case.
    public struct ModelVersion: Sendable, Codable, Equatable {
        public var name: String
        /// The version directory in service (`models/<name>/<version>/`).
        public var version: String
        /// Whether its output was averaged into the ensemble (false: run alongside, e.g. the
        /// student for agreement).
        public var inEnsemble: Bool
        /// Its weight in the ensemble average, when it is a member.
        public var ensembleWeight: Double?
        /// The arithmetic its convolutions ran in ("fp32" or "bf16", `ComputePrecision`); absent
        /// in reports written before it was recorded.
        public var precision: String?

        public init(name: String, version: String, inEnsemble: Bool, ensembleWeight: Double? = nil, precision: String? = nil) {
            self.name = name
            self.version = version
            self.inEnsemble = inEnsemble
            self.ensembleWeight = ensembleWeight
            self.precision = precision
        }
    }

    /// The pool decision (SPEC.md §3.7, §5). Owned by the pool service, which fills it after
    /// scoring; this type only reserves its place in the report.
    public struct Confidence: Sendable, Codable, Equatable {
        /// 0 (no confidence) … 1.
        public var score: Double
        /// Whether the case was copied into the distillation pool.
        public var admittedToPool: Bool
        /// The checks behind the decision, in words (e.g. "teacher WT Dice 0.93 ≥ 0.85").
        public var reasons: [String]

        public init(score: Double, admittedToPool: Bool, reasons: [String]) {
            self.score = score
            self.admittedToPool = admittedToPool
            self.reasons = reasons
        }
    }

    /// The output file names.
    public struct OutputFiles: Sendable, Codable, Equatable {
        public var segmentation: String
        public var report: String
        public var qualityControlPicture: String

        /// `<case>_seg.nii.gz`, `<case>_report.json`, `<case>_qc.png` (SPEC.md §2).
        public init(caseIdentifier: String) {
            segmentation = "\(caseIdentifier)_seg.nii.gz"
            report = "\(caseIdentifier)_report.json"
            qualityControlPicture = "\(caseIdentifier)_qc.png"
        }
    }

    /// Accuracy against the expert segmentation.
    public struct Evaluation: Sendable, Codable, Equatable {
        /// The expert segmentation's file name.
        public var truthFile: String
        public var wholeTumour: RegionAccuracy
        public var tumourCore: RegionAccuracy
        public var enhancingTumour: RegionAccuracy

        public struct RegionAccuracy: Sendable, Codable, Equatable {
            public var dice: Double
            /// 95th-percentile Hausdorff distance in mm (`SegmentationMetrics.emptyMaskDistance`
            /// when exactly one of the masks is empty).
            public var hausdorff95Millimetres: Double
            public var sensitivity: Double
            public var specificity: Double

            public init(_ metrics: RegionMetrics) {
                dice = metrics.dice
                hausdorff95Millimetres = metrics.hausdorff95
                sensitivity = metrics.sensitivity
                specificity = metrics.specificity
            }
        }

        /// From `RegionEvaluation.evaluate`'s result; nil unless all three regions are there.
        public init?(truthFile: String, metrics: [BratsRegion: RegionMetrics]) {
            guard let wholeTumour = metrics[.wholeTumour], let tumourCore = metrics[.tumourCore],
                  let enhancingTumour = metrics[.enhancingTumour] else { return nil }
            self.truthFile = truthFile
            self.wholeTumour = RegionAccuracy(wholeTumour)
            self.tumourCore = RegionAccuracy(tumourCore)
            self.enhancingTumour = RegionAccuracy(enhancingTumour)
        }

        public subscript(region: BratsRegion) -> RegionAccuracy {
            [wholeTumour, tumourCore, enhancingTumour][region.channel]
        }

        enum CodingKeys: String, CodingKey {
            case truthFile, wholeTumour = "WT", tumourCore = "TC", enhancingTumour = "ET"
        }
    }

    public init(caseIdentifier: String, times: Times, inputs: [InputFile], geometry: Geometry, labelConvention: LabelConvention,
                volumesMillilitres: RegionVolumes, models: [ModelVersion], agreement: EnsembleAgreement? = nil,
                confidence: Confidence? = nil, evaluation: Evaluation? = nil) {
        schemaVersion = Self.currentSchemaVersion
        self.caseIdentifier = caseIdentifier
        self.times = times
        self.inputs = inputs
        self.geometry = geometry
        self.labelConvention = labelConvention
        self.volumesMillilitres = volumesMillilitres
        self.models = models
        self.agreement = agreement
        self.confidence = confidence
        outputs = OutputFiles(caseIdentifier: caseIdentifier)
        self.evaluation = evaluation
    }

    // MARK: - JSON

    /// The report as JSON bytes (pretty-printed, sorted keys, trailing newline).
    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Self.timestampFormatter(fractionalSeconds: true).string(from: date))
        }
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return Array(try encoder.encode(self)) + [UInt8(ascii: "\n")]
    }

    /// Decodes a report written by `encoded()` (any schema version this code can read).
    public static func decode(_ bytes: [UInt8], path: String = "<memory>") throws -> CaseReport {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = timestampFormatter(fractionalSeconds: true).date(from: text)
                ?? timestampFormatter(fractionalSeconds: false).date(from: text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "\(text) is not an ISO 8601 timestamp")
            }
            return date
        }
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do {
            let report = try decoder.decode(CaseReport.self, from: Data(bytes))
            guard report.schemaVersion <= currentSchemaVersion else {
                throw CaseReportError(path: path, "schema version \(report.schemaVersion) is newer than this brainseg understands (\(currentSchemaVersion)); upgrade brainseg")
            }
            return report
        } catch let error as CaseReportError {
            throw error
        } catch {
            throw CaseReportError(path: path, "not a readable case report: \(error)")
        }
    }

    /// Writes the report to `path` atomically (temporary name, fsync, rename).
    public func write(to path: String) throws {
        let bytes = try encoded()
        do {
            try AtomicFile.write(bytes, to: path)
        } catch let error as NiftiError {
            throw CaseReportError(path: path, "cannot write the report: \(error.detail) (check that the directory exists, is writable and the disk is not full)")
        }
    }

    /// Reads a report file.
    public static func read(from path: String) throws -> CaseReport {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CaseReportError(path: path, "cannot read the report (missing or unreadable)")
        }
        return try decode(Array(data), path: path)
    }

    /// ISO 8601 in UTC, as the report writes its dates.
    static func timestampFormatter(fractionalSeconds: Bool) -> ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.formatOptions = fractionalSeconds ? [.withInternetDateTime, .withFractionalSeconds] : [.withInternetDateTime]
        return formatter
    }
}

/// A report that could not be built, hashed, written or read; `path` names the file concerned.
public struct CaseReportError: Error, Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let detail: String

    public init(path: String, _ detail: String) {
        self.path = path
        self.detail = detail
    }

    public var description: String { "\(path): \(detail)" }
}

extension RegionValues where Value == Double {
    /// Volumes of the regions in a label map: voxel counts of each region's labels under
    /// `convention` times the voxel volume.
    public init(labels: [UInt8], voxelVolumeMillilitres: Double, convention: LabelConvention) {
        var counts = [Int](repeating: 0, count: 256)
        labels.withUnsafeBufferPointer { values in
            for value in values { counts[Int(value)] += 1 }
        }
        self.init { region in Double(convention.labels(of: region).reduce(0) { $0 + counts[Int($1)] }) * voxelVolumeMillilitres }
    }
}

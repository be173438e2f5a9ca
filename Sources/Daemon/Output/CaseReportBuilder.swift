import Core
import Crypto
import Foundation
import Plugins

/// Collects a case report while the case is processed, then assembles it:
///
/// ```swift
/// var builder = CaseReportBuilder(caseIdentifier: files.identifier, received: arrival, convention: .brats2018)
/// try builder.addInputs(files)                       // SHA-256 and size of every file
/// let inputCase = try builder.time(.load) { try MultimodalCase.load(files) }
/// let segmentation = builder.time(.ensemble) { segmenter.segment(inputCase) }
/// builder.recordModels(segmentation.members)          // per-model milliseconds
/// builder.describe(geometry: inputCase.geometry, labels: segmentation.labels)
/// builder.agreement = EnsembleAgreement(segmentation)
/// builder.models = [...]
/// let report = try builder.build()
/// try report.write(to: "\(outputDirectory)/\(report.outputs.report)")
/// ```
///
/// `build` fails with a `CaseReportError` when the geometry and labels were never described
/// (a report without volumes would mislead); everything else is optional.
public struct CaseReportBuilder: Sendable {
    /// Stages with their own timing field.
    public enum Stage: String, Sendable, CaseIterable {
        case load, preprocess, ensemble, evaluation, write
    }

    public let caseIdentifier: String
    public var received: Date?
    public var started: Date
    public var convention: LabelConvention
    public var inputs: [CaseReport.InputFile] = []
    public var timings = CaseReport.StageTimings()
    public var models: [CaseReport.ModelVersion] = []
    public var agreement: EnsembleAgreement?
    public var confidence: CaseReport.Confidence?
    public var result: CaseReport.Provenance?
    public var evaluation: CaseReport.Evaluation?
    public var enhancementCheck: CaseReport.EnhancementCheckRecord?
    public private(set) var geometry: CaseReport.Geometry?
    public private(set) var volumes: CaseReport.RegionVolumes?
    public private(set) var lesions: CaseReport.PredictedLesions?

    public init(caseIdentifier: String, received: Date?, started: Date = Date(), convention: LabelConvention) {
        self.caseIdentifier = caseIdentifier
        self.received = received
        self.started = started
        self.convention = convention
    }

    /// Hashes (SHA-256, streamed) and sizes every file of the case, modalities first; files
    /// already hashed (`known`, e.g. the daemon's `ContentHash.files`) are not read again.
    /// Throws a `CaseReportError` naming a file that cannot be read or is not a regular file.
    public mutating func addInputs(_ files: CaseFiles, known: [ContentHash.FileDigest] = []) throws {
        let roles = zip(files.modalities, Modality.allCases.map(\.description)) + (files.segmentation.map { [($0, "segmentation")] } ?? [])
        for (path, role) in roles {
            if let digest = known.first(where: { $0.path == path }) {
                inputs.append(CaseReport.InputFile(role: role, name: URL(fileURLWithPath: path).lastPathComponent,
                                                   bytes: digest.byteCount, sha256: digest.sha256))
            } else {
                inputs.append(try Self.describeInput(at: path, role: role))
            }
        }
    }

    /// Records a stage's duration in milliseconds (added to any earlier time of the stage).
    public mutating func record(_ stage: Stage, milliseconds: Double) {
        switch stage {
        case .load: timings.load = (timings.load ?? 0) + milliseconds
        case .preprocess: timings.preprocess = (timings.preprocess ?? 0) + milliseconds
        case .ensemble: timings.ensemble = (timings.ensemble ?? 0) + milliseconds
        case .evaluation: timings.evaluation = (timings.evaluation ?? 0) + milliseconds
        case .write: timings.write = (timings.write ?? 0) + milliseconds
        }
    }

    /// Runs `body`, recording its wall-clock duration as `stage` (also when it throws).
    public mutating func time<Result>(_ stage: Stage, _ body: () throws -> Result) rethrows -> Result {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { record(stage, milliseconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6) }
        return try body()
    }

    /// Records one model's inference time.
    public mutating func recordModel(_ name: String, milliseconds: Double) {
        timings.models[name, default: 0] += milliseconds
    }

    /// Records the members' inference times from a segmentation.
    public mutating func recordModels(_ members: [MemberPrediction]) {
        for member in members { recordModel(member.model, milliseconds: member.seconds * 1000) }
    }

    /// Describes the input grid and computes the region volumes and lesions from the label map written.
    public mutating func describe(geometry: VolumeGeometry, labels: [UInt8]) {
        precondition(labels.count == geometry.voxelCount, "the label map does not cover the grid")
        self.geometry = CaseReport.Geometry(geometry)
        volumes = CaseReport.RegionVolumes(labels: labels, voxelVolumeMillilitres: geometry.voxelVolumeMillilitres, convention: convention)
        lesions = CaseReport.PredictedLesions(labels: labels, dims: geometry.dims, voxelVolumeMillilitres: geometry.voxelVolumeMillilitres,
                                              convention: convention)
    }

    /// Assembles the report; `completed` also closes `total` when it was not recorded.
    public func build(completed: Date = Date()) throws -> CaseReport {
        guard let geometry, let volumes else {
            throw CaseReportError(path: caseIdentifier, "the report cannot be built before the geometry and label map are described (describe(geometry:labels:))")
        }
        var timings = self.timings
        if timings.total == nil { timings.total = max(0, completed.timeIntervalSince(started) * 1000) }
        var report = CaseReport(caseIdentifier: caseIdentifier,
                                times: .init(received: received, started: started, completed: completed, stagesMilliseconds: timings),
                                inputs: inputs, geometry: geometry, labelConvention: convention, volumesMillilitres: volumes,
                                models: models, agreement: agreement, confidence: confidence, evaluation: evaluation)
        report.result = result
        report.lesions = lesions
        report.enhancementCheck = enhancementCheck
        return report
    }

    // MARK: - Hashing

    /// Name, size and SHA-256 of a file, read in 1 MiB blocks (a BraTS case never sits in
    /// memory twice). Refuses anything but a regular file without blocking on a FIFO.
    public static func describeInput(at path: String, role: String) throws -> CaseReport.InputFile {
        let (digest, bytes) = try sha256(ofFileAt: path)
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return CaseReport.InputFile(role: role, name: name, bytes: bytes, sha256: digest)
    }

    /// SHA-256 (lower-case hexadecimal) and size of the file at `path`: `ContentHash`'s streamed
    /// digest (regular files only, symbolic links refused), its failures as `CaseReportError`.
    public static func sha256(ofFileAt path: String) throws -> (digest: String, bytes: Int64) {
        do {
            let (digest, bytes) = try ContentHash.digestOfFile(path)
            return (ContentHash.hex(digest), bytes)
        } catch let failure as ContentHash.Failure {
            throw CaseReportError(path: path, "cannot read this input file (for its checksum in the report): \(failure.detail)")
        }
    }
}

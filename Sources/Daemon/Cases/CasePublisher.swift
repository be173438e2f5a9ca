import CPosix
import Core
import Foundation
import Plugins

/// What a pass hands to its publisher: the case, its images and the segmentation.
public struct CaseOutputs {
    public var caseName: String
    public var loaded: MultimodalCase
    public var segmentation: CaseSegmentation
    public var convention: LabelConvention
}

/// Where a pass's outputs go. The daemon publishes a whole folder into `output/` atomically
/// (`OutputFolderPublisher`); `brainseg segment` writes flat files into the user's folder and
/// keeps no ledger (`FlatFilePublisher`). Both build the report from `builder` last, so its
/// write timing is included.
public protocol CasePublisher {
    /// Writes the outputs and returns the folder they are in and the final report.
    /// `replacing`: an earlier result of the same case is provisional and is replaced.
    func publish(_ outputs: CaseOutputs, builder: CaseReportBuilder, replacing: Bool) throws -> (folder: String, report: CaseReport)
    /// The report published earlier for `caseName`, when there is one.
    func publishedReport(caseName: String) -> CaseReport?
}

/// The daemon's publisher: mask, QC picture and report written into a hidden staging folder in
/// `output/`, then made `output/<case>/` in one rename (or one `RENAME_EXCHANGE` over a
/// provisional result), so a reader never sees a partial set.
public struct OutputFolderPublisher: CasePublisher {
    public let output: String

    public init(output: String) { self.output = output }

    /// `replacing`: an existing `output/<case>` is the provisional result of the same drop and
    /// is replaced; so is our own earlier attempt at the same inputs (published just before a
    /// crash cut it off from the ledger). Otherwise it came from an earlier drop and is kept as
    /// `<case>-previous-<time>`.
    public func publish(_ outputs: CaseOutputs, builder: CaseReportBuilder, replacing: Bool) throws -> (folder: String, report: CaseReport) {
        var builder = builder
        let (caseName, loaded, labels) = (outputs.caseName, outputs.loaded, outputs.segmentation.labels)
        let writeStarted = Date()
        let names = CaseReport.OutputFiles(caseIdentifier: caseName)
        let staging = try freshStagingFolder(for: caseName)
        try NiftiWriter.writeLabels(labels, geometry: loaded.geometry, to: "\(staging)/\(names.segmentation)", description: "brainseg \(caseName)")
        try QualityControlPicture.write(flair: loaded.modalities[Modality.flair.rawValue], t1ce: loaded.modalities[Modality.t1ce.rawValue],
                                        labels: labels, convention: outputs.convention, to: "\(staging)/\(names.qualityControlPicture)")
        builder.record(.write, milliseconds: Date().timeIntervalSince(writeStarted) * 1000)
        let report = try builder.build()
        try report.write(to: "\(staging)/\(names.report)")
        let final = "\(output)/\(caseName)"
        let sameInputs = publishedReport(caseName: caseName).map { Self.inputs(of: $0) == Self.inputs(of: report) } ?? false
        if replacing || sameInputs, FileManager.default.fileExists(atPath: final) {
            // One atomic swap: readers, and a crash, see the old folder or the new one, never none.
            guard cposix_rename_exchange(AT_FDCWD, staging, AT_FDCWD, final) == 0 else {
                throw CaseFolders.MoveError("cannot replace \(final)")
            }
            CaseFolders.syncDirectory(output)
            try? FileManager.default.removeItem(atPath: staging)   // now the provisional result
            return (final, report)
        }
        if FileManager.default.fileExists(atPath: final) {
            _ = try CaseFolders.move(final, into: output, name: "\(caseName)-previous-\(Int(Date().timeIntervalSince1970))")
        }
        guard rename(staging, final) == 0 else { throw CaseFolders.MoveError("cannot publish \(final)") }
        CaseFolders.syncDirectory(output)
        return (final, report)
    }

    /// Publishes `output/<caseName>/` as a copy of the result in `original` (a published
    /// folder of the case `originalName`): the mask and QC picture under the new name, and the
    /// report with the new identifier and `result.copyOf` saying whose result it is. Staged and
    /// renamed like `publish`; never replaces an existing `output/<caseName>`. Returns the folder.
    /// Throws when the original is incomplete or unreadable, when its report does not list
    /// inputs with exactly these SHA-256 digests among `inputDigests` (it was replaced since), or
    /// when `output/<caseName>` exists.
    public func publishCopy(of original: String, originalName: String, as caseName: String, inputDigests: Set<String>,
                            copyOf: String) throws -> String {
        let from = CaseReport.OutputFiles(caseIdentifier: originalName)
        let to = CaseReport.OutputFiles(caseIdentifier: caseName)
        let reportPath = "\(original)/\(from.report)"
        var report = try CaseReport.read(from: reportPath)
        guard Set(report.inputs.map(\.sha256)).isSubset(of: inputDigests) else {
            throw CaseReportError(path: reportPath, "the result there is no longer that of these inputs")
        }
        report.caseIdentifier = caseName
        report.outputs = to
        var provenance = report.result ?? CaseReport.Provenance(producedBy: "ensemble", revision: 1, final: true)
        provenance.copyOf = copyOf
        report.result = provenance
        let final = "\(output)/\(caseName)"
        guard !FileManager.default.fileExists(atPath: final) else { throw CaseFolders.MoveError("cannot publish \(final)", code: EEXIST) }
        let staging = try freshStagingFolder(for: caseName)
        do {
            try FileManager.default.copyItem(atPath: "\(original)/\(from.segmentation)", toPath: "\(staging)/\(to.segmentation)")
            try FileManager.default.copyItem(atPath: "\(original)/\(from.qualityControlPicture)", toPath: "\(staging)/\(to.qualityControlPicture)")
            try report.write(to: "\(staging)/\(to.report)")
            guard CaseFolders.renameWithoutReplacing(staging, final) else { throw CaseFolders.MoveError("cannot publish \(final)") }
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
        CaseFolders.syncDirectory(output)
        return final
    }

    /// `output/.staging-<case>-<pid>`, emptied and created: where a publication is assembled.
    private func freshStagingFolder(for caseName: String) throws -> String {
        let staging = "\(output)/.staging-\(caseName)-\(getpid())"
        try? FileManager.default.removeItem(atPath: staging)
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        return staging
    }

    public func publishedReport(caseName: String) -> CaseReport? {
        let path = "\(output)/\(caseName)/\(CaseReport.OutputFiles(caseIdentifier: caseName).report)"
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? CaseReport.decode([UInt8](data), path: path)
    }

    static func inputs(of report: CaseReport) -> Set<String> { Set(report.inputs.map { "\($0.name) \($0.sha256)" }) }

    /// Removes `.staging-*` folders in `output` whose process (the PID in the name) is gone:
    /// what a crash during publication left. Returns the removed paths.
    public static func removeStaleStaging(output: String) -> [String] {
        AbandonedStaging.remove(in: output, prefixes: [".staging-"])
    }
}

/// `brainseg segment`'s publisher: `<folder>/<case>_seg.nii.gz` (the input's exact geometry)
/// and, when asked, the averaged region probabilities `<case>_prob_{WT,TC,ET}.nii.gz`. No
/// report file, no QC picture, no ledger.
public struct FlatFilePublisher: CasePublisher {
    public let folder: String
    public let probabilities: Bool

    public init(folder: String, probabilities: Bool) {
        self.folder = folder
        self.probabilities = probabilities
    }

    public func publish(_ outputs: CaseOutputs, builder: CaseReportBuilder, replacing: Bool) throws -> (folder: String, report: CaseReport) {
        var builder = builder
        let started = Date()
        let (name, geometry, result) = (outputs.caseName, outputs.loaded.geometry, outputs.segmentation)
        try NiftiWriter.writeLabels(result.labels, geometry: geometry, to: "\(folder)/\(name)_seg.nii.gz")
        if probabilities {
            let crop = result.box.voxelCount
            for region in BratsRegion.allCases {
                let values = result.ensembleProbabilities.withUnsafeBufferPointer { Array($0[(region.channel * crop)..<((region.channel + 1) * crop)]) }
                let full = result.box.paste(values, into: geometry.dims, background: Float(0))
                try NiftiWriter.write(Volume(geometry: geometry, voxels: full), to: "\(folder)/\(name)_prob_\(region.rawValue).nii.gz",
                                      description: "brainseg \(region.rawValue) probability")
            }
        }
        builder.record(.write, milliseconds: Date().timeIntervalSince(started) * 1000)
        return (folder, try builder.build())
    }

    public func publishedReport(caseName: String) -> CaseReport? { nil }
}

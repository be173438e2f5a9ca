import ArgumentParser
import Core
import Foundation

/// `brainseg eval --pred DIR --truth DIR [--metrics volume|lesion|both]`: BraTS metrics of
/// predicted masks against expert ones: volume-wise (`RegionEvaluation`) and/or lesion-wise as
/// the official BraTS evaluator gives them (`LesionWiseEvaluation`).
struct EvalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Dice, HD95, sensitivity and specificity per region, or BraTS lesion-wise scores; per-case table and mean/median/std."
    )

    @Option(help: "Folder of predictions <case>_seg.nii.gz (also searched one level deep).")
    var pred: String

    @Option(help: "Folder of expert segmentations: <case>/<case>_seg.nii.gz (BraTS layout) or <case>_seg.nii.gz.")
    var truth: String

    @Option(help: "Also write the per-case metrics as CSV to this file.")
    var csv: String?

    @Flag(help: "Print JSON instead of the table.")
    var json = false

    @Option(help: "Label convention of both folders: brats2018 or brats2023.")
    var labels: String = "brats2018"

    @Option(help: "volume (Dice/HD95 of each region), lesion (BraTS lesion-wise: tp, fp, fn, sq_dsc, pq_dsc, sq_hd95, global_bin_dsc, global_bin_hd95) or both.")
    var metrics: String = "volume"

    func run() async throws {
        guard let convention = LabelConvention(rawValue: labels) else { throw ValidationError("--labels must be brats2018 or brats2023") }
        guard let family = MetricFamilies(rawValue: metrics) else { throw ValidationError("--metrics must be volume, lesion or both") }
        let predictions = Self.segmentations(in: pred)
        let truths = Self.segmentations(in: truth)
        let matched = predictions.keys.filter { truths[$0] != nil }.sorted()
        guard !matched.isEmpty else {
            printToStandardError("brainseg: error: no case of \(pred) has a segmentation in \(truth)")
            throw ExitCode(1)
        }
        for missing in predictions.keys.filter({ truths[$0] == nil }).sorted() {
            printToStandardError("warning: \(missing): no expert segmentation in \(truth); skipped")
        }
        var results: [CaseEvaluationResult] = []
        for identifier in matched {
            let predicted = try Volume.read(from: predictions[identifier]!)
            let expert = try Volume.read(from: truths[identifier]!)
            guard predicted.geometry.matches(expert.geometry) else {
                printToStandardError("brainseg: error: \(identifier): prediction and truth grids differ")
                throw ExitCode(1)
            }
            let predictedLabels = predicted.voxels.map { UInt8(max(0, min(255, $0))) }
            let expertLabels = expert.voxels.map { UInt8(max(0, min(255, $0))) }
            let spacing = predicted.geometry.spacingInMillimetres
            var result = CaseEvaluationResult(caseIdentifier: identifier)
            if family != .lesion {
                result.metrics = RegionEvaluation.evaluate(prediction: predictedLabels, truth: expertLabels, dims: predicted.dims,
                                                           spacing: spacing, convention: convention)
            }
            if family != .volume {
                result.lesion = LesionWiseEvaluation.evaluate(prediction: predictedLabels, truth: expertLabels, dims: predicted.dims,
                                                              spacing: spacing, convention: convention)
            }
            results.append(result)
        }
        let report = EvaluationReport(cases: results, family: family)
        if let csv { try AtomicFile.write(Array(report.csv.utf8), to: csv) }
        if json {
            print(report.json)
        } else {
            print(report.table)
        }
    }

    /// Case identifier → path of `<case>_seg.nii.gz` / `<case>-seg.nii.gz`, in `folder` and one level below.
    static func segmentations(in folder: String) -> [String: String] {
        var found: [String: String] = [:]
        let manager = FileManager.default
        let entries = (try? manager.contentsOfDirectory(atPath: folder)) ?? []
        func consider(_ name: String, at path: String) {
            for suffix in ["_seg.nii.gz", "-seg.nii.gz", "_seg.nii", "-seg.nii"] where name.hasSuffix(suffix) {
                found[String(name.dropLast(suffix.count))] = path
            }
        }
        for entry in entries {
            let path = "\(folder)/\(entry)"
            var isDirectory: ObjCBool = false
            manager.fileExists(atPath: path, isDirectory: &isDirectory)
            if isDirectory.boolValue {
                for inner in (try? manager.contentsOfDirectory(atPath: path)) ?? [] { consider(inner, at: "\(path)/\(inner)") }
            } else {
                consider(entry, at: path)
            }
        }
        return found
    }
}

/// Which metric families `eval` computes.
enum MetricFamilies: String {
    case volume, lesion, both
}

struct CaseEvaluationResult: Encodable {
    var caseIdentifier: String
    var metrics: [BratsRegion: RegionMetrics]?
    var lesion: [BratsRegion: LesionWiseMetrics]?

    enum CodingKeys: String, CodingKey { case caseIdentifier = "case", metrics, lesion }

    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(caseIdentifier, forKey: .caseIdentifier)
        if let metrics { try container.encode(Self.byRegionName(metrics), forKey: .metrics) }
        if let lesion { try container.encode(Self.byRegionName(lesion), forKey: .lesion) }
    }

    static func byRegionName<Value>(_ values: [BratsRegion: Value]) -> [String: Value] {
        Dictionary(uniqueKeysWithValues: values.map { ($0.key.rawValue, $0.value) })
    }
}

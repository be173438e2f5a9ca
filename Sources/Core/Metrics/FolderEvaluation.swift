import Foundation

/// `brainseg eval`'s work: pairs predicted masks with expert ones by case identifier and
/// scores each pair in the families asked for. Throws `Failure` when no case pairs up or a
/// pair's grids differ; unpaired predictions are listed in `unmatched`.
public struct FolderEvaluation: Sendable {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    public var report: EvaluationReport
    /// Predictions without an expert segmentation (skipped).
    public var unmatched: [String]

    public static func evaluate(predictions: String, truths: String, convention: LabelConvention,
                                family: MetricFamilies) throws -> FolderEvaluation {
        let predicted = segmentations(in: predictions)
        let expert = segmentations(in: truths)
        let matched = predicted.keys.filter { expert[$0] != nil }.sorted()
        guard !matched.isEmpty else { throw Failure(description: "no case of \(predictions) has a segmentation in \(truths)") }
        var results: [CaseEvaluationResult] = []
        for identifier in matched {
            let prediction = try Volume.read(from: predicted[identifier]!)
            let truth = try Volume.read(from: expert[identifier]!)
            guard prediction.geometry.matches(truth.geometry) else { throw Failure(description: "\(identifier): prediction and truth grids differ") }
            let predictedLabels = prediction.voxels.map { UInt8(max(0, min(255, $0))) }
            let expertLabels = truth.voxels.map { UInt8(max(0, min(255, $0))) }
            let spacing = prediction.geometry.spacingInMillimetres
            var result = CaseEvaluationResult(caseIdentifier: identifier)
            if family != .lesion {
                result.metrics = RegionEvaluation.evaluate(prediction: predictedLabels, truth: expertLabels, dims: prediction.dims,
                                                           spacing: spacing, convention: convention)
            }
            if family != .volume {
                result.lesion = LesionWiseEvaluation.evaluate(prediction: predictedLabels, truth: expertLabels, dims: prediction.dims,
                                                              spacing: spacing, convention: convention)
            }
            results.append(result)
        }
        return FolderEvaluation(report: EvaluationReport(cases: results, family: family),
                                unmatched: predicted.keys.filter { expert[$0] == nil }.sorted())
    }

    /// Case identifier → path of `<case>_seg.nii.gz` / `<case>-seg.nii.gz`, in `folder` and one level below.
    public static func segmentations(in folder: String) -> [String: String] {
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

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

    @Option(help: "Label convention of both folders.")
    var labels: LabelConvention = .brats2018

    @Option(help: "volume (Dice/HD95 of each region), lesion (BraTS lesion-wise: tp, fp, fn, sq_dsc, pq_dsc, sq_hd95, global_bin_dsc, global_bin_hd95) or both.")
    var metrics: String = "volume"

    func run() async throws {
        guard let family = MetricFamilies(rawValue: metrics) else { throw ValidationError("--metrics must be volume, lesion or both") }
        let evaluation: FolderEvaluation
        do {
            evaluation = try FolderEvaluation.evaluate(predictions: pred, truths: truth, convention: labels, family: family)
        } catch let failure as FolderEvaluation.Failure {
            printToStandardError("brainseg: error: \(failure)")
            throw ExitCode(1)
        }
        for missing in evaluation.unmatched {
            printToStandardError("warning: \(missing): no expert segmentation in \(truth); skipped")
        }
        if let csv { try AtomicFile.write(Array(evaluation.report.csv.utf8), to: csv) }
        print(json ? evaluation.report.json : evaluation.report.table)
    }
}

import ArgumentParser
import Core
import Foundation

/// `brainseg eval --pred DIR --truth DIR`: BraTS metrics of predicted masks against expert ones.
struct EvalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Dice, HD95, sensitivity and specificity per region; per-case table and mean/median/std."
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

    func run() async throws {
        guard let convention = LabelConvention(rawValue: labels) else { throw ValidationError("--labels must be brats2018 or brats2023") }
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
            let metrics = RegionEvaluation.evaluate(
                prediction: predicted.voxels.map { UInt8(max(0, min(255, $0))) }, truth: expert.voxels.map { UInt8(max(0, min(255, $0))) },
                dims: predicted.dims, spacing: predicted.geometry.spacingInMillimetres, convention: convention)
            results.append(CaseEvaluationResult(caseIdentifier: identifier, metrics: metrics))
        }
        let report = EvaluationReport(cases: results)
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

struct CaseEvaluationResult: Encodable {
    var caseIdentifier: String
    var metrics: [BratsRegion: RegionMetrics]

    enum CodingKeys: String, CodingKey { case caseIdentifier = "case", metrics }

    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(caseIdentifier, forKey: .caseIdentifier)
        try container.encode(Dictionary(uniqueKeysWithValues: metrics.map { ($0.key.rawValue, $0.value) }), forKey: .metrics)
    }
}

/// The per-case metrics and their mean, median and standard deviation per region.
struct EvaluationReport {
    var cases: [CaseEvaluationResult]

    static func summary(_ values: [Double]) -> (mean: Double, median: Double, deviation: Double) {
        let mean = values.reduce(0, +) / Double(values.count)
        let sorted = values.sorted()
        let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
        return (mean, median, variance.squareRoot())
    }

    func column(_ region: BratsRegion, _ value: (RegionMetrics) -> Double) -> [Double] {
        cases.map { value($0.metrics[region]!) }
    }

    var table: String {
        let width = max(12, cases.map(\.caseIdentifier.count).max() ?? 0)
        func pad(_ text: String) -> String { text.padding(toLength: width, withPad: " ", startingAt: 0) }
        var lines = [pad("case") + "  Dice WT  Dice TC  Dice ET   HD95 WT   HD95 TC   HD95 ET"]
        for result in cases {
            let d = BratsRegion.allCases.map { String(format: "%7.4f", result.metrics[$0]!.dice) }
            let h = BratsRegion.allCases.map { String(format: "%8.2f", result.metrics[$0]!.hausdorff95) }
            lines.append(pad(result.caseIdentifier) + "  " + d.joined(separator: "  ") + "  " + h.joined(separator: "  "))
        }
        lines.append(String(repeating: "-", count: width + 56))
        for (label, pick) in [("mean", 0), ("median", 1), ("std", 2)] {
            let d = BratsRegion.allCases.map { region -> String in
                let s = Self.summary(column(region) { $0.dice })
                return String(format: "%7.4f", [s.mean, s.median, s.deviation][pick])
            }
            let h = BratsRegion.allCases.map { region -> String in
                let s = Self.summary(column(region) { $0.hausdorff95 })
                return String(format: "%8.2f", [s.mean, s.median, s.deviation][pick])
            }
            lines.append(pad(label) + "  " + d.joined(separator: "  ") + "  " + h.joined(separator: "  "))
        }
        lines.append("\(cases.count) case(s)")
        return lines.joined(separator: "\n")
    }

    var csv: String {
        var lines = ["case,region,dice,hd95,sensitivity,specificity,predicted_voxels,truth_voxels"]
        for result in cases {
            for region in BratsRegion.allCases {
                let m = result.metrics[region]!
                lines.append("\(result.caseIdentifier),\(region.rawValue),\(m.dice),\(m.hausdorff95),\(m.sensitivity),\(m.specificity),\(m.predictedVoxels),\(m.truthVoxels)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    var json: String {
        var summary: [String: [String: [String: Double]]] = [:]
        for region in BratsRegion.allCases {
            var perMetric: [String: [String: Double]] = [:]
            for (name, value) in [("dice", { (m: RegionMetrics) in m.dice }), ("hausdorff95", { $0.hausdorff95 }),
                                  ("sensitivity", { $0.sensitivity }), ("specificity", { $0.specificity })] {
                let s = Self.summary(column(region, value))
                perMetric[name] = ["mean": s.mean, "median": s.median, "std": s.deviation]
            }
            summary[region.rawValue] = perMetric
        }
        struct Output: Encodable {
            var cases: [CaseEvaluationResult]
            var summary: [String: [String: [String: Double]]]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: (try? encoder.encode(Output(cases: cases, summary: summary))) ?? Data(), as: UTF8.self)
    }
}

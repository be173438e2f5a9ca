import Foundation

/// `eval`'s output: the per-case metrics of the families asked for and their mean, median and
/// standard deviation per region, as a table, CSV or JSON.
///
/// Lesion-wise summaries follow the evaluator's report step: an infinite HD95 counts as
/// `LesionWiseEvaluation.hausdorffPenalty` (373 mm) and NaN (nothing to score in a case) is
/// left out of the mean, median and deviation (NaN when no case has a value). In JSON, per-case
/// non-finite values are the strings `"inf"` and `"nan"`, as in the case report.
public struct EvaluationReport: Sendable {
    public var cases: [CaseEvaluationResult]
    public var family: MetricFamilies

    public init(cases: [CaseEvaluationResult], family: MetricFamilies) {
        self.cases = cases
        self.family = family
    }

    static func summary(_ values: [Double]) -> (mean: Double, median: Double, deviation: Double) {
        guard !values.isEmpty else { return (.nan, .nan, .nan) }
        let mean = values.reduce(0, +) / Double(values.count)
        let sorted = values.sorted()
        let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
        return (mean, median, variance.squareRoot())
    }

    func column(_ region: BratsRegion, _ value: (RegionMetrics) -> Double) -> [Double] {
        cases.map { value($0.metrics![region]!) }
    }

    /// Lesion-wise figure `figure` (an index into `LesionWiseMetrics.figureNames`) of every
    /// case, penalised and without NaN (see the type's documentation).
    func lesionColumn(_ region: BratsRegion, _ figure: Int) -> [Double] {
        cases.map { LesionWiseEvaluation.summaryValue($0.lesion![region]!.figures[figure]) }.filter { !$0.isNaN }
    }

    var hasVolume: Bool { family != .lesion }
    var hasLesion: Bool { family != .volume }

    // MARK: - Table

    public var table: String {
        [hasVolume ? volumeTable : nil, hasLesion ? lesionTable : nil].compactMap { $0 }.joined(separator: "\n\n")
    }

    private var caseWidth: Int { max(12, cases.map(\.caseIdentifier.count).max() ?? 0) }

    private func pad(_ text: String) -> String { text.padding(toLength: caseWidth, withPad: " ", startingAt: 0) }

    var volumeTable: String {
        var lines = [pad("case") + "  Dice WT  Dice TC  Dice ET   HD95 WT   HD95 TC   HD95 ET"]
        for result in cases {
            let d = BratsRegion.allCases.map { String(format: "%7.4f", result.metrics![$0]!.dice) }
            let h = BratsRegion.allCases.map { String(format: "%8.2f", result.metrics![$0]!.hausdorff95) }
            lines.append(pad(result.caseIdentifier) + "  " + d.joined(separator: "  ") + "  " + h.joined(separator: "  "))
        }
        lines.append(String(repeating: "-", count: caseWidth + 56))
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

    var lesionTable: String {
        func row(_ label: String, _ region: BratsRegion, _ values: [Double], countFormat: String) -> String {
            let counts = values[0..<3].map { String(format: countFormat, $0) }
            let scores = values[3...].map { String(format: "%9.4f", $0) }
            return pad(label) + "  " + region.rawValue + "  " + counts.joined(separator: " ") + " " + scores.joined(separator: " ")
        }
        var lines = ["lesion-wise (BraTS evaluator, gli rules)",
                     pad("case") + "  reg   tp   fp   fn    sq_dsc    pq_dsc   sq_hd95 global_dsc global_hd95"]
        for result in cases {
            for region in BratsRegion.allCases {
                let metrics = result.lesion![region]!
                lines.append(row(result.caseIdentifier, region, metrics.figures, countFormat: "%4.0f"))
            }
        }
        lines.append(String(repeating: "-", count: caseWidth + 70))
        for (label, pick) in [("mean", 0), ("median", 1), ("std", 2)] {
            for region in BratsRegion.allCases {
                let values = LesionWiseMetrics.figureNames.indices.map { figure -> Double in
                    let s = Self.summary(lesionColumn(region, figure))
                    return [s.mean, s.median, s.deviation][pick]
                }
                lines.append(row(label, region, values, countFormat: "%4.1f"))
            }
        }
        lines.append("\(cases.count) case(s); summaries count an infinite HD95 as \(Int(LesionWiseEvaluation.hausdorffPenalty)) mm and skip NaN")
        return lines.joined(separator: "\n")
    }

    // MARK: - CSV

    public var csv: String {
        var header = ["case", "region"]
        if hasVolume { header += ["dice", "hd95", "sensitivity", "specificity", "predicted_voxels", "truth_voxels"] }
        if hasLesion { header += LesionWiseMetrics.figureNames }
        var lines = [header.joined(separator: ",")]
        for result in cases {
            for region in BratsRegion.allCases {
                var fields = [result.caseIdentifier, region.rawValue]
                if let m = result.metrics?[region] {
                    fields += ["\(m.dice)", "\(m.hausdorff95)", "\(m.sensitivity)", "\(m.specificity)", "\(m.predictedVoxels)", "\(m.truthVoxels)"]
                }
                if let m = result.lesion?[region] {
                    fields += ["\(m.truePositives)", "\(m.falsePositives)", "\(m.falseNegatives)"] + m.figures[3...].map { "\($0)" }
                }
                lines.append(fields.joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: - JSON

    public var json: String {
        typealias Summary = [String: [String: [String: Double]]]
        var volumeSummary: Summary?
        if hasVolume {
            var summary: Summary = [:]
            for region in BratsRegion.allCases {
                var perMetric: [String: [String: Double]] = [:]
                for (name, value) in [("dice", { (m: RegionMetrics) in m.dice }), ("hausdorff95", { $0.hausdorff95 }),
                                      ("sensitivity", { $0.sensitivity }), ("specificity", { $0.specificity })] {
                    let s = Self.summary(column(region, value))
                    perMetric[name] = ["mean": s.mean, "median": s.median, "std": s.deviation]
                }
                summary[region.rawValue] = perMetric
            }
            volumeSummary = summary
        }
        var lesionSummary: Summary?
        if hasLesion {
            var summary: Summary = [:]
            for region in BratsRegion.allCases {
                var perFigure: [String: [String: Double]] = [:]
                for (figure, name) in LesionWiseMetrics.figureNames.enumerated() {
                    let s = Self.summary(lesionColumn(region, figure))
                    perFigure[name] = ["mean": s.mean, "median": s.median, "std": s.deviation]
                }
                summary[region.rawValue] = perFigure
            }
            lesionSummary = summary
        }
        struct Output: Encodable {
            var cases: [CaseEvaluationResult]
            var summary: Summary?
            var lesionSummary: Summary?
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let output = Output(cases: cases, summary: volumeSummary, lesionSummary: lesionSummary)
        return String(decoding: (try? encoder.encode(output)) ?? Data(), as: UTF8.self)
    }
}

/// Which metric families `eval` computes.
public enum MetricFamilies: String, Sendable, CaseIterable {
    case volume, lesion, both
}

/// One case's metrics in the families asked for.
public struct CaseEvaluationResult: Encodable, Sendable {
    public var caseIdentifier: String
    public var metrics: [BratsRegion: RegionMetrics]?
    public var lesion: [BratsRegion: LesionWiseMetrics]?

    public init(caseIdentifier: String, metrics: [BratsRegion: RegionMetrics]? = nil, lesion: [BratsRegion: LesionWiseMetrics]? = nil) {
        self.caseIdentifier = caseIdentifier
        self.metrics = metrics
        self.lesion = lesion
    }

    enum CodingKeys: String, CodingKey { case caseIdentifier = "case", metrics, lesion }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(caseIdentifier, forKey: .caseIdentifier)
        if let metrics { try container.encode(Self.byRegionName(metrics), forKey: .metrics) }
        if let lesion { try container.encode(Self.byRegionName(lesion), forKey: .lesion) }
    }

    static func byRegionName<Value>(_ values: [BratsRegion: Value]) -> [String: Value] {
        Dictionary(uniqueKeysWithValues: values.map { ($0.key.rawValue, $0.value) })
    }
}

import Core
import Foundation

/// Dice of one model on labelled hold-out cases through the full pipeline at full resolution
/// (the same path `brainseg segment` + `brainseg eval` take). Used for validation during
/// training and by the promotion gate of `brainseg retrain`.
public struct HoldoutEvaluation: Sendable, Codable, Equatable {
    /// Which Dice: of each whole region (`volume`, `RegionEvaluation`), or lesion-wise as BraTS
    /// scores it (`lesion`: `pq_dsc` of `LesionWiseEvaluation`, which counts missed and spurious
    /// lesions; a region with no lesion on either side scores 1, a correct empty answer).
    /// `sq_dsc` is not used: it ignores missed and spurious lesions as long as one lesion matches.
    public enum Metric: String, Sendable, Codable, CaseIterable {
        case volume, lesion
    }

    public struct CaseDice: Sendable, Codable, Equatable {
        public var caseIdentifier: String
        public var dice: ModelCard.Dice
    }

    /// Mean over cases, per region.
    public var mean: ModelCard.Dice
    public var cases: [CaseDice]

    /// Evaluates `model` on `cases` (each must carry its expert segmentation), its convolutions
    /// at `precision` (the promotion gate passes the precision the student will serve at).
    public static func evaluate(_ model: SegmentationModel, on cases: [MultimodalCase], metric: Metric = .volume,
                                precision: ComputePrecision = .float32) -> HoldoutEvaluation {
        precondition(!cases.isEmpty && cases.allSatisfy { $0.truth != nil }, "hold-out cases need expert segmentations")
        var options = SegmentationOptions()
        options.memberPrecision[model.name] = precision
        let segmenter = CaseSegmenter(members: [model], options: options)
        var results: [CaseDice] = []
        for loaded in cases {
            let result = segmenter.segment(loaded)
            let dice = Self.dice(prediction: result.labels, truth: loaded.truth!, geometry: loaded.geometry, metric: metric)
            results.append(CaseDice(caseIdentifier: loaded.identifier,
                                    dice: ModelCard.Dice(wholeTumour: dice[.wholeTumour]!, tumourCore: dice[.tumourCore]!,
                                                         enhancingTumour: dice[.enhancingTumour]!)))
        }
        let count = Double(results.count)
        let mean = ModelCard.Dice(wholeTumour: results.map(\.dice.wholeTumour).reduce(0, +) / count,
                                  tumourCore: results.map(\.dice.tumourCore).reduce(0, +) / count,
                                  enhancingTumour: results.map(\.dice.enhancingTumour).reduce(0, +) / count)
        return HoldoutEvaluation(mean: mean, cases: results)
    }

    /// The Dice of each region of one case under `metric`.
    public static func dice(prediction: [UInt8], truth: [UInt8], geometry: VolumeGeometry, metric: Metric) -> [BratsRegion: Double] {
        switch metric {
        case .volume:
            return RegionEvaluation.evaluate(prediction: prediction, truth: truth, dims: geometry.dims,
                                             spacing: geometry.spacingInMillimetres).mapValues(\.dice)
        case .lesion:
            return LesionWiseEvaluation.evaluate(prediction: prediction, truth: truth, dims: geometry.dims,
                                                 spacing: geometry.spacingInMillimetres).mapValues { metrics in
                metrics.panopticQualityDice.isNaN ? 1 : metrics.panopticQualityDice
            }
        }
    }
}

import Core
import Foundation

/// Dice of one model on labelled hold-out cases through the full pipeline at full resolution
/// (the same path `brainseg segment` + `brainseg eval` take). Used for validation during
/// training and by the promotion gate of `brainseg retrain`.
public struct HoldoutEvaluation: Sendable, Codable, Equatable {
    public struct CaseDice: Sendable, Codable, Equatable {
        public var caseIdentifier: String
        public var dice: ModelCard.Dice
    }

    /// Mean over cases, per region.
    public var mean: ModelCard.Dice
    public var cases: [CaseDice]

    /// Evaluates `model` on `cases` (each must carry its expert segmentation).
    public static func evaluate(_ model: SegmentationModel, on cases: [MultimodalCase]) -> HoldoutEvaluation {
        precondition(!cases.isEmpty && cases.allSatisfy { $0.truth != nil }, "hold-out cases need expert segmentations")
        let segmenter = CaseSegmenter(members: [model])
        var results: [CaseDice] = []
        for loaded in cases {
            let result = segmenter.segment(loaded)
            let metrics = RegionEvaluation.evaluate(prediction: result.labels, truth: loaded.truth!, dims: loaded.geometry.dims,
                                                    spacing: loaded.geometry.spacingInMillimetres)
            results.append(CaseDice(caseIdentifier: loaded.identifier,
                                    dice: ModelCard.Dice(wholeTumour: metrics[.wholeTumour]!.dice, tumourCore: metrics[.tumourCore]!.dice,
                                                         enhancingTumour: metrics[.enhancingTumour]!.dice)))
        }
        let count = Double(results.count)
        let mean = ModelCard.Dice(wholeTumour: results.map(\.dice.wholeTumour).reduce(0, +) / count,
                                  tumourCore: results.map(\.dice.tumourCore).reduce(0, +) / count,
                                  enhancingTumour: results.map(\.dice.enhancingTumour).reduce(0, +) / count)
        return HoldoutEvaluation(mean: mean, cases: results)
    }
}

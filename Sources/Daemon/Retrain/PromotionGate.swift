import Foundation
import Plugins

/// The rule that keeps a worse student out of service (SPEC.md §5): a candidate is promoted
/// only if its mean Dice over WT/TC/ET on the hold-out is at least the current student's minus
/// `epsilon`, and no region's Dice drops by more than `delta`. `metric` says which Dice the
/// scores are (volume-wise or BraTS lesion-wise, `HoldoutEvaluation.Metric`); the rule is the same.
public struct PromotionGate: Sendable, Equatable, Codable {
    public var epsilon: Double
    public var delta: Double
    public var metric: HoldoutEvaluation.Metric

    public init(epsilon: Double, delta: Double, metric: HoldoutEvaluation.Metric = .volume) {
        self.epsilon = epsilon
        self.delta = delta
        self.metric = metric
    }

    enum CodingKeys: String, CodingKey { case epsilon, delta, metric }

    /// Decisions recorded before `metric` existed were volume-wise.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        epsilon = try container.decode(Double.self, forKey: .epsilon)
        delta = try container.decode(Double.self, forKey: .delta)
        metric = try container.decodeIfPresent(HoldoutEvaluation.Metric.self, forKey: .metric) ?? .volume
    }

    /// How the scores are named in reasons.
    var scoreName: String { metric == .volume ? "Dice" : "lesion-wise Dice (pq_dsc)" }

    public struct Decision: Sendable, Equatable, Codable {
        public var promote: Bool
        /// Why, in words an operator can check against the numbers.
        public var reasons: [String]
    }

    public func decide(current: ModelCard.Dice, candidate: ModelCard.Dice) -> Decision {
        var reasons: [String] = []
        var promote = true
        let meanOK = candidate.mean >= current.mean - epsilon - 1e-12
        reasons.append(String(format: "mean %@ %.4f vs current %.4f (%@ current − ε %.3f)", scoreName, candidate.mean, current.mean,
                              meanOK ? "≥" : "<", epsilon))
        if !meanOK { promote = false }
        let pairs: [(String, Double, Double)] = [("WT", current.wholeTumour, candidate.wholeTumour),
                                                 ("TC", current.tumourCore, candidate.tumourCore),
                                                 ("ET", current.enhancingTumour, candidate.enhancingTumour)]
        for (region, before, after) in pairs {
            let drop = before - after
            if drop > delta + 1e-12 {
                promote = false
                reasons.append(String(format: "%@ drops by %.4f > δ %.3f (%.4f → %.4f)", region, drop, delta, before, after))
            } else {
                reasons.append(String(format: "%@ %.4f → %.4f (drop ≤ δ %.3f)", region, before, after, delta))
            }
        }
        return Decision(promote: promote, reasons: reasons)
    }
}

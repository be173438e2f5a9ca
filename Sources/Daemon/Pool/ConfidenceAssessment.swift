import Core
import Foundation
import Plugins

/// The confidence of a case's ensemble pseudo-label (SPEC.md §3.7): teacher agreement,
/// uncertainty inside the tumour and plausibility, checked against a `PoolAdmissionPolicy`.
///
/// `score` ranks cases for eviction and reports: the mean over regions of the teachers' mean
/// pairwise Dice times (1 − whole-tumour entropy), and 0 when a plausibility check fails. It is
/// not the admission rule; `passes` is (every check of the policy).
public struct ConfidenceAssessment: Sendable, Codable, Equatable {
    /// Mean pairwise Dice between the teachers, per region (nil with one teacher).
    public var teacherDice: EnsembleAgreement.RegionScores?
    /// Mean binary entropy (bits) of the averaged probabilities in the dilated tumour zone.
    public var entropy: EnsembleAgreement.RegionScores
    /// Fraction of TC voxels outside WT plus ET voxels outside TC, over TC + ET voxels (0 when none).
    public var nestingViolation: Double
    public var wholeTumourMillilitres: Double
    /// Largest whole-tumour component / whole tumour (1 for an empty mask).
    public var dominantComponentFraction: Double
    public var score: Double
    public var passes: Bool
    /// One line per check, e.g. "teacher WT Dice 0.912 ≥ 0.85".
    public var reasons: [String]

    public init(teacherDice: EnsembleAgreement.RegionScores?, entropy: EnsembleAgreement.RegionScores, nestingViolation: Double,
                wholeTumourMillilitres: Double, dominantComponentFraction: Double, score: Double, passes: Bool, reasons: [String]) {
        self.teacherDice = teacherDice
        self.entropy = entropy
        self.nestingViolation = nestingViolation
        self.wholeTumourMillilitres = wholeTumourMillilitres
        self.dominantComponentFraction = dominantComponentFraction
        self.score = score
        self.passes = passes
        self.reasons = reasons
    }

    /// Scores a segmented case. `agreement` must be measured over the ensemble's teachers
    /// (`EnsembleAgreement.teachers(of: segmentation)`: not the student, when two teachers are in
    /// the ensemble); `labels` is the final full-grid label map.
    public static func assess(agreement: EnsembleAgreement, ensembleProbabilities: Tensor, labels: [UInt8], geometry: VolumeGeometry,
                              convention: LabelConvention, policy: PoolAdmissionPolicy) -> ConfidenceAssessment {
        var reasons: [String] = []
        var passes = true
        func check(_ ok: Bool, _ text: String) {
            reasons.append(text)
            if !ok { passes = false }
        }
        let regions = BratsRegion.allCases
        if let dice = agreement.meanPairwiseDice {
            for region in regions {
                let minimum = policy.minimumTeacherDice[region.channel]
                check(dice[region] >= minimum, String(format: "teacher %@ Dice %.3f %@ %.2f", region.rawValue, dice[region],
                                                      dice[region] >= minimum ? "≥" : "<", minimum))
            }
        } else {
            check(policy.minimumTeacherDice.allSatisfy { $0 <= 0 }, "a single ensemble member: no teacher agreement to measure")
        }
        let entropy = agreement.meanEntropy
        check(entropy.wholeTumour <= policy.maximumEntropy,
              String(format: "WT entropy %.3f bits %@ %.2f", entropy.wholeTumour, entropy.wholeTumour <= policy.maximumEntropy ? "≤" : ">", policy.maximumEntropy))

        let nesting = nestingViolation(ensembleProbabilities, threshold: Float(agreement.threshold))
        check(nesting <= policy.maximumNestingViolation,
              String(format: "nesting violation %.3f %@ %.2f", nesting, nesting <= policy.maximumNestingViolation ? "≤" : ">", policy.maximumNestingViolation))
        let wholeTumour = convention.mask(of: .wholeTumour, in: labels)
        let voxels = wholeTumour.reduce(0) { $0 + Int($1) }
        let millilitres = Double(voxels) * geometry.voxelVolumeMillilitres
        let range = policy.wholeTumourMillilitres
        check(range.contains(millilitres), String(format: "WT volume %.1f mL %@ [%.0f, %.0f]", millilitres,
                                                  range.contains(millilitres) ? "within" : "outside", range.lowerBound, range.upperBound))
        let components = ConnectedComponents.label(wholeTumour.map { $0 != 0 }, dims: geometry.dims)
        let dominant = voxels == 0 ? 1 : Double(components.sizes.max() ?? 0) / Double(voxels)
        check(dominant >= policy.minimumDominantComponent,
              String(format: "largest component %.2f of WT %@ %.2f", dominant, dominant >= policy.minimumDominantComponent ? "≥" : "<", policy.minimumDominantComponent))

        let plausible = nesting <= policy.maximumNestingViolation && range.contains(millilitres) && dominant >= policy.minimumDominantComponent
        let agreementMean = agreement.meanPairwiseDice?.mean ?? 0
        let score = plausible ? max(0, agreementMean * (1 - entropy.wholeTumour)) : 0
        return ConfidenceAssessment(teacherDice: agreement.meanPairwiseDice, entropy: entropy, nestingViolation: nesting,
                                    wholeTumourMillilitres: millilitres, dominantComponentFraction: dominant,
                                    score: score, passes: passes, reasons: reasons)
    }

    /// (|TC \ WT| + |ET \ TC|) / (|TC| + |ET|) on the binarised region probabilities (3 × voxels).
    static func nestingViolation(_ probabilities: Tensor, threshold: Float) -> Double {
        let voxels = probabilities.count / 3
        var outside = 0, total = 0
        probabilities.withUnsafeBufferPointer { p in
            for index in 0..<voxels {
                let wt = p[index] > threshold, tc = p[voxels + index] > threshold, et = p[2 * voxels + index] > threshold
                if tc { total += 1; if !wt { outside += 1 } }
                if et { total += 1; if !tc { outside += 1 } }
            }
        }
        return total == 0 ? 0 : Double(outside) / Double(total)
    }
}

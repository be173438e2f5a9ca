import Foundation

/// The `[pool]` table of the configuration: when a case's pseudo-label is trusted enough to
/// train the student on (MODELS.md "Confidence of a pseudo-label") and how big the pool may grow.
///
/// A case is admitted when every check holds:
/// - teacher agreement: the mean pairwise Dice between the ensemble's teachers' binarised regions
///   (the student left out when at least two teachers are members, `EnsembleAgreement.teachers`)
///   is at least `minimumTeacherDice` per region (agreeing that a region is absent counts as 1);
///   with fewer than two members there is no agreement to measure and the case is rejected;
/// - uncertainty: the mean binary entropy (bits) of the averaged whole-tumour probability over
///   the dilated tumour zone is at most `maximumEntropy`;
/// - plausibility: at most `maximumNestingViolation` of the tumour-core (enhancing) voxels lie
///   outside the whole tumour (tumour core), the whole-tumour volume lies within
///   `wholeTumourMillilitres`, and the largest connected component holds at least
///   `minimumDominantComponent` of the whole tumour.
/// Cases that arrive with an expert `_seg` are admitted as labelled without these checks
/// (`admitLabelled`). Defaults were measured with the shipped teachers on the 16 labelled cases
/// (`scripts/calibrate-pool.py`, models/README.md "Pool admission"): with them every admitted case
/// had a true ensemble mean Dice ≥ 0.83, every case below 0.80 was rejected; teacher Dice tracks
/// true Dice per region (Spearman 0.93 WT, 0.85 TC, 0.78 ET). MODELS.md's WT 0.85 rejected cases
/// with true WT Dice 0.84–0.87 and was lowered to 0.80.
public struct PoolAdmissionPolicy: Sendable, Equatable, Codable {
    public var enabled = true
    /// Pool size cap (entries). When full, see `DistillationPool.Eviction`.
    public var maximumEntries = 200
    /// Minimum mean pairwise teacher Dice, [WT, TC, ET].
    public var minimumTeacherDice: [Double] = [0.80, 0.75, 0.70]
    public var maximumEntropy = 0.60
    public var maximumNestingViolation = 0.05
    public var wholeTumourMillilitres: ClosedRange<Double> = 5...300
    public var minimumDominantComponent = 0.80
    public var admitLabelled = true

    public init() {}

    /// A policy that admits every case (tests, or an operator who reviews the pool by hand).
    public static var admitAll: PoolAdmissionPolicy {
        var policy = PoolAdmissionPolicy()
        policy.minimumTeacherDice = [0, 0, 0]
        policy.maximumEntropy = 1
        policy.maximumNestingViolation = 1
        policy.wholeTumourMillilitres = 0...1e9
        policy.minimumDominantComponent = 0
        return policy
    }
}

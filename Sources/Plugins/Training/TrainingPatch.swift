import Core

/// One training sample cut from a prepared case (`PatchSampler.extract`).
public struct TrainingPatch: Sendable {
    /// 1×4×D×H×W (T1, T1ce, T2, FLAIR).
    public var image: Tensor
    /// D×H×W label values (0, 1, 2, 4).
    public var labels: [UInt8]
    /// 1×3×D×H×W teachers' region probabilities [WT, TC, ET], when the case has them.
    public var softTargets: Tensor?
    /// Whether the labels are teachers' pseudo-labels (`TrainingConfiguration.pseudoLabelledCases`).
    public var isPseudoLabelled = false
}

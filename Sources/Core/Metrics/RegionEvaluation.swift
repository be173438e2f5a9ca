/// Dice, HD95, sensitivity and specificity of one region of one case.
public struct RegionMetrics: Sendable, Equatable, Codable {
    public var dice: Double
    /// 95th-percentile Hausdorff distance in mm.
    public var hausdorff95: Double
    public var sensitivity: Double
    public var specificity: Double
    /// Voxels in the predicted and true region.
    public var predictedVoxels: Int
    public var truthVoxels: Int
}

/// Evaluates a predicted label map against an expert one, per BraTS region.
public enum RegionEvaluation {
    /// Metrics for WT, TC and ET. Both label maps cover the same grid (`dims`, x fastest) with
    /// voxel size `spacing` in mm.
    public static func evaluate(
        prediction: [UInt8], truth: [UInt8], dims: [Int], spacing: [Double], convention: LabelConvention = .brats2018
    ) -> [BratsRegion: RegionMetrics] {
        precondition(prediction.count == truth.count && prediction.count == dims.reduce(1, *), "label maps do not match the grid")
        return convention.byRegion(prediction, truth) { p, g in
            RegionMetrics(
                dice: SegmentationMetrics.dice(p, g),
                hausdorff95: SegmentationMetrics.hausdorff95(p, g, dims: dims, spacing: spacing),
                sensitivity: SegmentationMetrics.sensitivity(p, g),
                specificity: SegmentationMetrics.specificity(p, g),
                predictedVoxels: p.reduce(0) { $0 + Int($1) },
                truthVoxels: g.reduce(0) { $0 + Int($1) })
        }
    }
}

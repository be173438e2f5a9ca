/// Turns region probabilities into a BraTS label map and cleans it (MODELS.md "Inference,
/// ensembling, post-processing").
public enum LabelMapBuilder {
    /// Settings of the conversion; defaults are MODELS.md's.
    public struct Settings: Sendable, Equatable, Codable {
        public var threshold: Float = 0.5
        /// An ET region of at most this many voxels is relabelled as tumour core (label 1).
        public var minimumEnhancingVoxels = 32
        /// Connected components (26-connectivity) of the whole tumour smaller than this fraction
        /// of the tumour volume are removed.
        public var minimumComponentFraction = 0.1
        /// Whether ET voxels that do not enhance on T1ce become core (`EnhancementCheck`), where
        /// the images are at hand (`CaseSegmenter`).
        public var requireEnhancement = true
        public var convention: LabelConvention = .brats2018
        public init() {}
    }

    /// Labels from probabilities [WT, TC, ET] (3×D×H×W or 1×3×D×H×W; x fastest within each
    /// channel): 0; 2 where WT; 1 where TC; ET label where ET when the ET region is larger than
    /// `minimumEnhancingVoxels` (else those voxels keep 1); then small components removed.
    public static func labels(fromRegionProbabilities probabilities: Tensor, dims: [Int], settings: Settings = .init()) -> [UInt8] {
        let voxels = dims.reduce(1, *)
        precondition(probabilities.count == 3 * voxels, "expected 3 region channels over \(dims)")
        var labels = [UInt8](repeating: 0, count: voxels)
        var enhancingCount = 0
        probabilities.withUnsafeBufferPointer { p in
            for index in 0..<voxels {
                if p[index] > settings.threshold { labels[index] = 2 }
                if p[voxels + index] > settings.threshold { labels[index] = 1 }
                if p[2 * voxels + index] > settings.threshold { enhancingCount += 1 }
            }
            if enhancingCount > settings.minimumEnhancingVoxels {
                for index in 0..<voxels where p[2 * voxels + index] > settings.threshold {
                    labels[index] = settings.convention.enhancingLabel
                }
            } else {
                for index in 0..<voxels where p[2 * voxels + index] > settings.threshold { labels[index] = 1 }
            }
        }
        return removeSmallComponents(labels, dims: dims, minimumFraction: settings.minimumComponentFraction)
    }

    /// Sets to 0 every 26-connected component of the tumour (non-zero labels) whose size is
    /// below `minimumFraction` of the total tumour volume.
    public static func removeSmallComponents(_ labels: [UInt8], dims: [Int], minimumFraction: Double) -> [UInt8] {
        let components = ConnectedComponents.label(labels.map { $0 != 0 }, dims: dims)
        guard components.sizes.count > 1 else { return labels }
        let total = components.sizes.reduce(0, +)
        let minimum = Double(total) * minimumFraction
        let keep = components.sizes.map { Double($0) >= minimum }
        var result = labels
        for index in result.indices where components.identifiers[index] > 0 && !keep[components.identifiers[index] - 1] {
            result[index] = 0
        }
        return result
    }
}

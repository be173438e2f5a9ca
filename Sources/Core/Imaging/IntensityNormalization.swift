/// Per-modality intensity normalisation (SPEC.md §3.2, MODELS.md).
public enum IntensityNormalization {
    /// Mean and standard deviation of the non-zero voxels (the brain); nil when there are
    /// fewer than two or they are constant.
    public static func foregroundStatistics(_ values: [Float]) -> (mean: Double, standardDeviation: Double)? {
        var count = 0.0, sum = 0.0, sumOfSquares = 0.0
        values.withUnsafeBufferPointer { buffer in
            for value in buffer where value != 0 {
                count += 1
                sum += Double(value)
                sumOfSquares += Double(value) * Double(value)
            }
        }
        guard count >= 2 else { return nil }
        let mean = sum / count
        let variance = max(0, sumOfSquares / count - mean * mean)
        guard variance > 0 else { return nil }
        return (mean, variance.squareRoot())
    }

    /// z-score over the foreground: (v − mean) / std for non-zero voxels, 0 stays 0 (background).
    /// A modality with no usable foreground becomes all zeros.
    public static func zScoreForeground(_ values: [Float]) -> [Float] {
        guard let (mean, deviation) = foregroundStatistics(values) else { return [Float](repeating: 0, count: values.count) }
        let m = Float(mean), inverse = Float(1 / deviation)
        return values.map { $0 == 0 ? 0 : ($0 - m) * inverse }
    }

    /// The cascade's scheme: z-score over the foreground, clip to ±`clip`, map to [0, 1];
    /// background stays 0.
    public static func zScoreClippedUnit(_ values: [Float], clip: Float = 5) -> [Float] {
        zScoreForeground(values).enumerated().map { index, z in
            values[index] == 0 ? 0 : (min(max(z, -clip), clip) + clip) / (2 * clip)
        }
    }
}

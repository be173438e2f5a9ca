/// Summary statistics of a voxel array, as `brainseg inspect` prints them.
public struct VoxelStatistics: Sendable, Equatable, Codable {
    public var minimum: Float
    public var maximum: Float
    public var mean: Double
    /// Voxels whose value is not 0.
    public var nonZeroCount: Int
    /// NaN or infinite voxels (ignored by the other statistics).
    public var nonFiniteCount: Int

    /// Computes the statistics in one pass (the mean is accumulated in Double).
    public init(_ voxels: [Float]) {
        var low = Float.infinity
        var high = -Float.infinity
        var sum = 0.0
        var nonZero = 0
        var nonFinite = 0
        voxels.withUnsafeBufferPointer { values in
            for value in values {
                guard value.isFinite else { nonFinite += 1; continue }
                low = min(low, value)
                high = max(high, value)
                sum += Double(value)
                if value != 0 { nonZero += 1 }
            }
        }
        let finite = voxels.count - nonFinite
        minimum = finite > 0 ? low : .nan
        maximum = finite > 0 ? high : .nan
        mean = finite > 0 ? sum / Double(finite) : .nan
        nonZeroCount = nonZero
        nonFiniteCount = nonFinite
    }
}

/// A display window for an MRI modality: the range of intensities mapped from black to white,
/// taken from percentiles of the brain (the non-zero voxels) so that a few extreme voxels do
/// not wash the picture out. The QC picture uses 0.5–99.5 %.
public struct IntensityWindow: Sendable, Equatable {
    public var lower: Float
    public var upper: Float

    public init(lower: Float, upper: Float) {
        self.lower = lower
        self.upper = upper
    }

    /// The `lowerPercent`–`upperPercent` percentiles of the non-zero voxels (numpy's linear
    /// interpolation). Exact and independent of voxel order (a reoriented copy of a volume gets
    /// the same window): a 4096-bin histogram finds the bins holding the wanted ranks, and
    /// only those bins' values are sorted. An empty brain gives 0…1; a constant one v…v+1.
    public static func percentiles(of voxels: [Float], lowerPercent: Double = 0.5, upperPercent: Double = 99.5) -> IntensityWindow {
        precondition(lowerPercent >= 0 && lowerPercent <= upperPercent && upperPercent <= 100)
        var minimum = Float.infinity, maximum = -Float.infinity, count = 0
        voxels.withUnsafeBufferPointer { values in
            for value in values where value != 0 {
                minimum = min(minimum, value)
                maximum = max(maximum, value)
                count += 1
            }
        }
        guard count > 0 else { return IntensityWindow(lower: 0, upper: 1) }
        guard maximum > minimum else { return IntensityWindow(lower: minimum, upper: minimum + 1) }

        let binCount = 4096
        let scale = Double(binCount) / (Double(maximum) - Double(minimum))
        let bin = { (value: Float) -> Int in min(binCount - 1, Int((Double(value) - Double(minimum)) * scale)) }
        var counts = [Int](repeating: 0, count: binCount)
        voxels.withUnsafeBufferPointer { values in
            for value in values where value != 0 { counts[bin(value)] += 1 }
        }
        var starts = [Int](repeating: 0, count: binCount)
        for index in 1..<binCount { starts[index] = starts[index - 1] + counts[index - 1] }

        // The ranks numpy's linear percentile interpolates between.
        func ranks(_ percent: Double) -> (Int, Int, Double) {
            let position = percent / 100 * Double(count - 1)
            let below = Int(position.rounded(.down))
            return (below, min(below + 1, count - 1), position - Double(below))
        }
        let (lowA, lowB, lowFraction) = ranks(lowerPercent)
        let (highA, highB, highFraction) = ranks(upperPercent)
        let wanted = [lowA, lowB, highA, highB]
        let binOfRank = wanted.map { rank in
            var low = 0, high = binCount - 1  // last bin whose start ≤ rank
            while low < high {
                let middle = (low + high + 1) / 2
                if starts[middle] <= rank { low = middle } else { high = middle - 1 }
            }
            return low
        }
        var isWanted = [Bool](repeating: false, count: binCount)
        var members: [Int: [Float]] = [:]
        for bin in binOfRank {
            isWanted[bin] = true
            members[bin] = []
        }
        voxels.withUnsafeBufferPointer { values in
            for value in values where value != 0 {
                let index = bin(value)
                if isWanted[index] { members[index]!.append(value) }
            }
        }
        for key in members.keys { members[key]!.sort() }
        let statistic = wanted.indices.map { members[binOfRank[$0]]![wanted[$0] - starts[binOfRank[$0]]] }
        let lower = statistic[0] + (statistic[1] - statistic[0]) * Float(lowFraction)
        let upper = statistic[2] + (statistic[3] - statistic[2]) * Float(highFraction)
        return IntensityWindow(lower: lower, upper: upper > lower ? upper : lower + 1)
    }

    /// `value` mapped to 0…255 (clamped). Any finite float32 is valid input, up to ±3.4e38, and
    /// so is the window: the arithmetic is Double, so `value - lower` cannot overflow; a window
    /// of no width (lower + 1 rounds back to lower above 2²⁴) is a step at `lower`; ±∞ clamp to
    /// 255 and 0, and NaN (a bilinear mix of ±3e38 neighbours can make one) is black.
    public func grey(_ value: Float) -> UInt8 {
        let width = Double(upper) - Double(lower), offset = Double(value) - Double(lower)
        let unit = width > 0 ? offset / width : (offset > 0 ? 1 : 0)
        guard !unit.isNaN else { return 0 }
        return UInt8((min(max(unit, 0), 1) * 255).rounded())
    }
}

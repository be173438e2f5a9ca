import Core
import Foundation

/// The intensity augmentations applied to a cut patch (1×C×D×H×W) after sampling
/// (`Augmentation.gammaRange`, `noiseStandardDeviation`). Both touch the foreground only:
/// background voxels (exactly 0, outside the brain) stay 0.
enum IntensityAugmentation {
    /// Channel c's foreground mapped to [0, 1] over its range in the patch, raised to
    /// `gammas[c]` and mapped back: the range's ends and the order of values are kept.
    static func gamma(_ image: inout Tensor, gammas: [Float]) {
        let channels = image.shape[1]
        let count = image.count / channels
        image.withUnsafeMutableBufferPointer { values in
            for channel in 0..<min(channels, gammas.count) {
                let range = (channel * count)..<((channel + 1) * count)
                var low = Float.infinity, high = -Float.infinity
                for index in range where values[index] != 0 {
                    low = min(low, values[index])
                    high = max(high, values[index])
                }
                guard high > low else { continue }
                let width = high - low
                for index in range where values[index] != 0 {
                    let mapped = low + width * pow((values[index] - low) / width, gammas[channel])
                    // A foreground voxel must not become background.
                    values[index] = mapped == 0 ? Float.leastNonzeroMagnitude : mapped
                }
            }
        }
    }

    /// Adds N(0, standardDeviation²) to every foreground voxel, from a stream seeded by `seed`.
    static func noise(_ image: inout Tensor, standardDeviation: Float, seed: UInt64) {
        var random = SeededRandom(seed: seed)
        image.withUnsafeMutableBufferPointer { values in
            for index in values.indices where values[index] != 0 {
                let noisy = values[index] + standardDeviation * random.nextNormal()
                values[index] = noisy == 0 ? Float.leastNonzeroMagnitude : noisy
            }
        }
    }
}

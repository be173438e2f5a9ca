import Core

/// How a model wants its input prepared from a case (SPEC.md §3.2): the working grid, the
/// intensity scheme and the size multiple. Channel order is always T1, T1ce, T2, FLAIR.
public struct InputPlan: Sendable, Equatable, Codable {
    /// The working grid of the brain crop.
    public enum Resolution: Sendable, Equatable, Codable {
        /// Isotropic voxels of this size in mm (crop resampled accordingly).
        case spacing(Double)
        /// The crop resampled to a cube of this many voxels per side.
        case cube(Int)
    }

    /// How intensities are normalised per modality.
    public enum Intensity: String, Sendable, Equatable, Codable {
        /// z-score over the foreground, background 0.
        case zScoreForeground
        /// z-score over the foreground, clipped to ±5, mapped to [0, 1] (the cascade).
        case zScoreClippedUnit
    }

    public var resolution: Resolution
    public var intensity: Intensity
    /// Each spatial size of the network input must be a multiple of this (padding adds zeros).
    public var sizeMultiple: Int

    public init(resolution: Resolution, intensity: Intensity, sizeMultiple: Int) {
        self.resolution = resolution
        self.intensity = intensity
        self.sizeMultiple = sizeMultiple
    }

    /// The working size (x, y, z) of a crop of `cropSize` voxels of `spacing` mm.
    public func workingSize(cropSize: [Int], spacing: [Double]) -> [Int] {
        switch resolution {
        case .spacing(let target):
            return (0..<3).map { VolumeResampling.size(cropSize[$0], spacing: spacing[$0], targetSpacing: target) }
        case .cube(let side):
            return [side, side, side]
        }
    }

    /// Normalises one modality's cropped voxels.
    public func normalise(_ values: [Float]) -> [Float] {
        switch intensity {
        case .zScoreForeground: return IntensityNormalization.zScoreForeground(values)
        case .zScoreClippedUnit: return IntensityNormalization.zScoreClippedUnit(values)
        }
    }
}

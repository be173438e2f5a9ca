import Core
import Foundation

/// Random spatial and intensity augmentation (MODELS.md "Training", paper §3), applied while
/// a patch is cut from a prepared case, so cropping and transforming cost one pass:
/// scaling 0.9–1.1 per axis, rotation about the axial (z) axis ±15°, mirroring across X and Y
/// (not Z), per-modality intensity shift ±0.1 and contrast ×0.9–1.1 on the foreground.
/// Images and soft targets are sampled trilinearly (zero outside), labels by nearest neighbour.
/// Every draw comes from the given seeded stream.
///
/// Extensions (issue #11), off unless set, drawn after everything above so that a
/// configuration without them draws exactly the same streams as before: rotation about all
/// three axes, per-modality gamma, Gaussian noise. They are optional so that run folders
/// written before them decode (absent = off).
public struct Augmentation: Sendable, Equatable, Codable {
    public var scaleRange: ClosedRange<Double> = 0.9...1.1
    public var rotationDegrees: Double = 15
    public var mirror = true
    public var intensityShift: Float = 0.1
    public var contrastRange: ClosedRange<Float> = 0.9...1.1
    public var enabled = true
    /// Also rotate about the two in-plane axes (±`rotationDegrees` each), not only the axial one.
    public var rotateAllAxes: Bool?
    /// Per-modality gamma γ drawn from this range: each channel's foreground is mapped to [0, 1]
    /// over its range in the patch, raised to γ and mapped back (background stays 0).
    public var gammaRange: ClosedRange<Float>?
    /// Gaussian noise on the foreground, its standard deviation drawn from [0, this] per patch.
    public var noiseStandardDeviation: Float?

    public init() {}

    /// No augmentation: plain crops (validation, tests).
    public static var none: Augmentation {
        var value = Augmentation()
        value.enabled = false
        return value
    }

    /// One random draw of the transform.
    struct Draw {
        var scales: [Double] = [1, 1, 1]      // z, y, x
        var angle: Double = 0                 // radians, in the y-x plane
        var flipY = false
        var flipX = false
        var shifts: [Float] = [0, 0, 0, 0]
        var contrasts: [Float] = [1, 1, 1, 1]
        /// Angles (radians) about the x axis (z-y plane) and the y axis (z-x plane), when drawn.
        var tilt: (aboutX: Double, aboutY: Double)?
        var gammas: [Float]?
        var noise: (standardDeviation: Float, seed: UInt64)?
    }

    func draw(_ random: inout SeededRandom) -> Draw {
        guard enabled else { return Draw() }
        func uniform(_ range: ClosedRange<Double>) -> Double {
            range.lowerBound + (range.upperBound - range.lowerBound) * Double(random.nextUniform())
        }
        var result = Draw()
        result.scales = (0..<3).map { _ in uniform(scaleRange) }
        result.angle = uniform(-rotationDegrees...rotationDegrees) * .pi / 180
        result.flipY = mirror && random.nextUniform() < 0.5
        result.flipX = mirror && random.nextUniform() < 0.5
        result.shifts = (0..<4).map { _ in Float(uniform(Double(-intensityShift)...Double(intensityShift))) }
        result.contrasts = (0..<4).map { _ in Float(uniform(Double(contrastRange.lowerBound)...Double(contrastRange.upperBound))) }
        if rotateAllAxes == true {
            let aboutX = uniform(-rotationDegrees...rotationDegrees) * .pi / 180
            result.tilt = (aboutX, uniform(-rotationDegrees...rotationDegrees) * .pi / 180)
        }
        if let gammaRange {
            result.gammas = (0..<4).map { _ in Float(uniform(Double(gammaRange.lowerBound)...Double(gammaRange.upperBound))) }
        }
        if let noiseStandardDeviation, noiseStandardDeviation > 0 {
            result.noise = (Float(uniform(0...Double(noiseStandardDeviation))), random.next())
        }
        return result
    }
}

/// Trilinear interpolation at one point of a D×H×W grid (zero outside): the corner and weights
/// are computed once and applied to every channel.
struct TrilinearSample {
    let z0: Int, y0: Int, x0: Int
    let wz: Float, wy: Float, wx: Float
    let depth: Int, height: Int, width: Int

    /// The point (z, y, x) in voxel coordinates of a grid of `size` (D, H, W).
    init(z: Double, y: Double, x: Double, size: [Int]) {
        z0 = Int(z.rounded(.down)); y0 = Int(y.rounded(.down)); x0 = Int(x.rounded(.down))
        wz = Float(z - Double(z0)); wy = Float(y - Double(y0)); wx = Float(x - Double(x0))
        depth = size[0]; height = size[1]; width = size[2]
    }

    /// The interpolated value of the channel starting at `base`.
    func value(in base: UnsafePointer<Float>) -> Float {
        func at(_ k: Int, _ j: Int, _ i: Int) -> Float {
            guard k >= 0, k < depth, j >= 0, j < height, i >= 0, i < width else { return 0 }
            return base[(k * height + j) * width + i]
        }
        let c00 = at(z0, y0, x0) * (1 - wx) + at(z0, y0, x0 + 1) * wx
        let c01 = at(z0, y0 + 1, x0) * (1 - wx) + at(z0, y0 + 1, x0 + 1) * wx
        let c10 = at(z0 + 1, y0, x0) * (1 - wx) + at(z0 + 1, y0, x0 + 1) * wx
        let c11 = at(z0 + 1, y0 + 1, x0) * (1 - wx) + at(z0 + 1, y0 + 1, x0 + 1) * wx
        return (c00 * (1 - wy) + c01 * wy) * (1 - wz) + (c10 * (1 - wy) + c11 * wy) * wz
    }
}

/// Cuts training patches from prepared cases.
public enum PatchSampler {
    /// A patch of `size` (D, H, W) centred at `centre` (voxel coordinates z, y, x) of `source`,
    /// transformed by `draw`: the image (trilinear), the labels (nearest neighbour) and, when
    /// the case has them, the soft targets (trilinear, no intensity change).
    static func extract(_ source: PreparedCase, centre: [Double], size: [Int], draw: Augmentation.Draw) -> TrainingPatch {
        let input = source.size  // D, H, W
        let count = size.reduce(1, *)
        var image = Tensor(uninitializedShape: [1, 4] + size)
        var labels = [UInt8](repeating: 0, count: count)
        let cosine = cos(draw.angle), sine = sin(draw.angle)
        let half = size.map { Double($0 - 1) / 2 }
        let plane = input.reduce(1, *)
        let tilt = draw.tilt.map { (cos($0.aboutX), sin($0.aboutX), cos($0.aboutY), sin($0.aboutY)) }
        /// Output voxel → mirrored → scaled → (tilted about x, then y) → rotated in y-x → source
        /// position (z, y, x).
        func sourcePoint(_ z: Int, _ y: Int, _ x: Int) -> (Double, Double, Double) {
            var dz = (Double(z) - half[0]) * draw.scales[0]
            var dy = (Double(y) - half[1]) * draw.scales[1]
            var dx = (Double(x) - half[2]) * draw.scales[2]
            if draw.flipY { dy = -dy }
            if draw.flipX { dx = -dx }
            if let (cosX, sinX, cosY, sinY) = tilt {
                (dz, dy) = (cosX * dz - sinX * dy, sinX * dz + cosX * dy)
                (dz, dx) = (cosY * dz - sinY * dx, sinY * dz + cosY * dx)
            }
            return (centre[0] + dz, centre[1] + cosine * dy - sine * dx, centre[2] + sine * dy + cosine * dx)
        }
        // Soft targets (when the case has them): the same positions, trilinear, no intensity change.
        var soft = source.softTargets.map { _ in Tensor(uninitializedShape: [1, 3] + size) }
        func withSoftBuffers(_ body: (UnsafePointer<Float>?, UnsafeMutablePointer<Float>?) -> Void) {
            guard let targets = source.softTargets else { return body(nil, nil) }
            targets.withUnsafeBufferPointer { from in soft!.withUnsafeMutableBufferPointer { to in body(from.baseAddress!, to.baseAddress!) } }
        }
        withSoftBuffers { softFrom, softTo in
            source.image.withUnsafeBufferPointer { from in
                image.withUnsafeMutableBufferPointer { to in
                    var index = 0
                    for z in 0..<size[0] {
                        for y in 0..<size[1] {
                            for x in 0..<size[2] {
                                let (sz, sy, sx) = sourcePoint(z, y, x)
                                // Labels: nearest neighbour.
                                let nz = Int(sz.rounded()), ny = Int(sy.rounded()), nx = Int(sx.rounded())
                                if nz >= 0, nz < input[0], ny >= 0, ny < input[1], nx >= 0, nx < input[2] {
                                    labels[index] = source.labels[(nz * input[1] + ny) * input[2] + nx]
                                }
                                // Images: trilinear, zero outside.
                                let sample = TrilinearSample(z: sz, y: sy, x: sx, size: input)
                                for channel in 0..<4 {
                                    var value = sample.value(in: from.baseAddress! + channel * plane)
                                    if value != 0 { value = value * draw.contrasts[channel] + draw.shifts[channel] }
                                    to[channel * count + index] = value
                                }
                                if let softFrom, let softTo {
                                    for channel in 0..<3 { softTo[channel * count + index] = sample.value(in: softFrom + channel * plane) }
                                }
                                index += 1
                            }
                        }
                    }
                }
            }
        }
        if let gammas = draw.gammas { IntensityAugmentation.gamma(&image, gammas: gammas) }
        if let noise = draw.noise { IntensityAugmentation.noise(&image, standardDeviation: noise.standardDeviation, seed: noise.seed) }
        return TrainingPatch(image: image, labels: labels, softTargets: soft)
    }

    /// A random patch centre: on a tumour voxel (`TumourCentres.pick`) with probability
    /// `tumourProbability` (when the case has tumour), else anywhere such that the patch stays
    /// mostly inside the crop.
    static func centre(in source: PreparedCase, tumour: TumourCentres, size: [Int], tumourProbability: Float, random: inout SeededRandom) -> [Double] {
        let input = source.size
        if !tumour.isEmpty && random.nextUniform() < tumourProbability {
            let voxel = tumour.pick(&random)
            return [Double(voxel / (input[1] * input[2])), Double((voxel / input[2]) % input[1]), Double(voxel % input[2])]
        }
        return (0..<3).map { axis in
            let low = min(Double(size[axis]) / 2, Double(input[axis]) / 2)
            let high = max(low, Double(input[axis]) - Double(size[axis]) / 2)
            return low + (high - low) * Double(random.nextUniform())
        }
    }
}

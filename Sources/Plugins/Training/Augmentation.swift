import Core
import Foundation

/// Random spatial and intensity augmentation (MODELS.md "Training", paper §3), applied while
/// a patch is cut from a prepared case, so cropping and transforming cost one pass:
/// scaling 0.9–1.1 per axis, rotation about the axial (z) axis ±15°, mirroring across X and Y
/// (not Z), per-modality intensity shift ±0.1 and contrast ×0.9–1.1 on the foreground.
/// Images are sampled trilinearly (zero outside), labels by nearest neighbour. Every draw comes
/// from the given seeded stream.
public struct Augmentation: Sendable, Equatable, Codable {
    public var scaleRange: ClosedRange<Double> = 0.9...1.1
    public var rotationDegrees: Double = 15
    public var mirror = true
    public var intensityShift: Float = 0.1
    public var contrastRange: ClosedRange<Float> = 0.9...1.1
    public var enabled = true

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
        return result
    }
}

/// Cuts training patches from prepared cases.
public enum PatchSampler {
    /// A patch of `size` (D, H, W) centred at `centre` (voxel coordinates z, y, x) of `source`,
    /// transformed by `draw`. Returns the image 1×4×D×H×W and the labels D×H×W.
    static func extract(_ source: PreparedCase, centre: [Double], size: [Int], draw: Augmentation.Draw) -> (Tensor, [UInt8]) {
        let input = source.size  // D, H, W
        let count = size.reduce(1, *)
        var image = Tensor(uninitializedShape: [1, 4] + size)
        var labels = [UInt8](repeating: 0, count: count)
        let cosine = cos(draw.angle), sine = sin(draw.angle)
        let half = size.map { Double($0 - 1) / 2 }
        let plane = input.reduce(1, *)
        source.image.withUnsafeBufferPointer { from in
            image.withUnsafeMutableBufferPointer { to in
                var index = 0
                for z in 0..<size[0] {
                    for y in 0..<size[1] {
                        for x in 0..<size[2] {
                            // Output offset → mirrored → scaled → rotated in y-x → source position.
                            let dz = (Double(z) - half[0]) * draw.scales[0]
                            var dy = (Double(y) - half[1]) * draw.scales[1]
                            var dx = (Double(x) - half[2]) * draw.scales[2]
                            if draw.flipY { dy = -dy }
                            if draw.flipX { dx = -dx }
                            let sz = centre[0] + dz
                            let sy = centre[1] + cosine * dy - sine * dx
                            let sx = centre[2] + sine * dy + cosine * dx
                            // Labels: nearest neighbour.
                            let nz = Int(sz.rounded()), ny = Int(sy.rounded()), nx = Int(sx.rounded())
                            if nz >= 0, nz < input[0], ny >= 0, ny < input[1], nx >= 0, nx < input[2] {
                                labels[index] = source.labels[(nz * input[1] + ny) * input[2] + nx]
                            }
                            // Images: trilinear, zero outside.
                            let z0 = Int(sz.rounded(.down)), y0 = Int(sy.rounded(.down)), x0 = Int(sx.rounded(.down))
                            let wz = Float(sz - Double(z0)), wy = Float(sy - Double(y0)), wx = Float(sx - Double(x0))
                            for channel in 0..<4 {
                                let base = from.baseAddress! + channel * plane
                                func at(_ k: Int, _ j: Int, _ i: Int) -> Float {
                                    guard k >= 0, k < input[0], j >= 0, j < input[1], i >= 0, i < input[2] else { return 0 }
                                    return base[(k * input[1] + j) * input[2] + i]
                                }
                                let c00 = at(z0, y0, x0) * (1 - wx) + at(z0, y0, x0 + 1) * wx
                                let c01 = at(z0, y0 + 1, x0) * (1 - wx) + at(z0, y0 + 1, x0 + 1) * wx
                                let c10 = at(z0 + 1, y0, x0) * (1 - wx) + at(z0 + 1, y0, x0 + 1) * wx
                                let c11 = at(z0 + 1, y0 + 1, x0) * (1 - wx) + at(z0 + 1, y0 + 1, x0 + 1) * wx
                                var value = (c00 * (1 - wy) + c01 * wy) * (1 - wz) + (c10 * (1 - wy) + c11 * wy) * wz
                                if value != 0 { value = value * draw.contrasts[channel] + draw.shifts[channel] }
                                to[channel * count + index] = value
                            }
                            index += 1
                        }
                    }
                }
            }
        }
        return (image, labels)
    }

    /// A random patch centre: on a tumour voxel with probability `tumourProbability` (when the
    /// case has tumour), else anywhere such that the patch stays mostly inside the crop.
    static func centre(in source: PreparedCase, tumour: [Int], size: [Int], tumourProbability: Float, random: inout SeededRandom) -> [Double] {
        let input = source.size
        if !tumour.isEmpty && random.nextUniform() < tumourProbability {
            let voxel = tumour[Int(random.next() % UInt64(tumour.count))]
            return [Double(voxel / (input[1] * input[2])), Double((voxel / input[2]) % input[1]), Double(voxel % input[2])]
        }
        return (0..<3).map { axis in
            let low = min(Double(size[axis]) / 2, Double(input[axis]) / 2)
            let high = max(low, Double(input[axis]) - Double(size[axis]) / 2)
            return low + (high - low) * Double(random.nextUniform())
        }
    }
}

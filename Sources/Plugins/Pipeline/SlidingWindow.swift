import Foundation
import Core

/// Gaussian-weighted sliding-window inference (MODELS.md "Inference"): windows of a fixed
/// size with 50 % overlap cover the volume; each window's prediction is weighted by a
/// Gaussian centred on the window (σ = window/8 per axis) and the weighted sum is normalised,
/// so window borders, where the network sees less context, count least.
public enum SlidingWindow {
    /// Window origins along one axis of `size` voxels for windows of `window` voxels with
    /// `stride` step, the last window flush with the end.
    static func origins(size: Int, window: Int, stride: Int) -> [Int] {
        guard size > window else { return [0] }
        var result = Array(Swift.stride(from: 0, to: size - window, by: stride))
        result.append(size - window)
        return result
    }

    /// Predicts over `input` (N×C×D×H×W, every size ≥ the window's) with `predict`, which maps
    /// a window N×C×wd×wh×ww to N×K×wd×wh×ww. Returns N×K×D×H×W.
    public static func predict(
        _ input: Tensor, window: [Int], outputChannels: Int, predict: (Tensor) -> Tensor
    ) -> Tensor {
        let shape = input.volumeShape
        let sizes = [shape.depth, shape.height, shape.width]
        precondition((0..<3).allSatisfy { sizes[$0] >= window[$0] }, "window \(window) larger than the volume \(sizes)")
        let weights = gaussian(window)
        var accumulated = Tensor(shape: [shape.batch, outputChannels] + sizes)
        var normaliser = [Float](repeating: 0, count: shape.spatialCount)
        for z in origins(size: sizes[0], window: window[0], stride: window[0] / 2) {
            for y in origins(size: sizes[1], window: window[1], stride: window[1] / 2) {
                for x in origins(size: sizes[2], window: window[2], stride: window[2] / 2) {
                    let patch = extract(input, origin: [z, y, x], size: window)
                    let prediction = predict(patch)
                    accumulate(prediction, weights: weights, into: &accumulated, normaliser: &normaliser, origin: [z, y, x])
                }
            }
        }
        accumulated.withUnsafeMutableBufferPointer { values in
            let spatial = shape.spatialCount
            for plane in 0..<(shape.batch * outputChannels) {
                for index in 0..<spatial { values[plane * spatial + index] /= max(normaliser[index], 1e-12) }
            }
        }
        return accumulated
    }

    static func gaussian(_ window: [Int]) -> [Float] {
        let axes = window.map { size -> [Float] in
            let sigma = Double(size) / 8, centre = Double(size - 1) / 2
            return (0..<size).map { Float(exp(-pow2(Double($0) - centre) / (2 * sigma * sigma))) }
        }
        var result = [Float](repeating: 0, count: window.reduce(1, *))
        var index = 0
        for z in 0..<window[0] { for y in 0..<window[1] { for x in 0..<window[2] {
            result[index] = max(axes[0][z] * axes[1][y] * axes[2][x], 1e-4)
            index += 1
        } } }
        return result
    }

    private static func pow2(_ value: Double) -> Double { value * value }

    static func extract(_ input: Tensor, origin: [Int], size: [Int]) -> Tensor {
        let shape = input.volumeShape
        var patch = Tensor(uninitializedShape: [shape.batch, shape.channels] + size)
        input.withUnsafeBufferPointer { source in
            patch.withUnsafeMutableBufferPointer { target in
                var t = 0
                for plane in 0..<(shape.batch * shape.channels) {
                    for z in 0..<size[0] {
                        for y in 0..<size[1] {
                            let s = plane * shape.spatialCount + ((origin[0] + z) * shape.height + origin[1] + y) * shape.width + origin[2]
                            (target.baseAddress! + t).update(from: source.baseAddress! + s, count: size[2])
                            t += size[2]
                        }
                    }
                }
            }
        }
        return patch
    }

    private static func accumulate(_ prediction: Tensor, weights: [Float], into total: inout Tensor, normaliser: inout [Float], origin: [Int]) {
        let patch = prediction.volumeShape
        let whole = total.volumeShape
        let window = patch.spatialCount
        prediction.withUnsafeBufferPointer { source in
            total.withUnsafeMutableBufferPointer { target in
                for plane in 0..<(patch.batch * patch.channels) {
                    var w = 0
                    for z in 0..<patch.depth {
                        for y in 0..<patch.height {
                            let t = plane * whole.spatialCount + ((origin[0] + z) * whole.height + origin[1] + y) * whole.width + origin[2]
                            let s = plane * window + (z * patch.height + y) * patch.width
                            for x in 0..<patch.width { target[t + x] += source[s + x] * weights[w + x] }
                            w += patch.width
                        }
                    }
                }
            }
        }
        var w = 0
        for z in 0..<patch.depth {
            for y in 0..<patch.height {
                let t = ((origin[0] + z) * whole.height + origin[1] + y) * whole.width + origin[2]
                for x in 0..<patch.width { normaliser[t + x] += weights[w + x] }
                w += patch.width
            }
        }
    }
}

/// Spatial resampling of N×C×D×H×W tensors: trilinear ×2 upsampling (decoders) and average
/// pooling by an integer factor (the cascade's input pyramid and its pooled targets).
///
/// Upsampling is exactly PyTorch `F.interpolate(scale_factor=2, mode="trilinear",
/// align_corners=False)`: along each axis of input size L, output index o reads the source
/// coordinate s = max(0, (o + ½)/2 − ½) and interpolates inputs i₀ = ⌊s⌋ and i₁ = min(i₀ + 1, L − 1)
/// with weights 1 − (s − i₀) and s − i₀. For scale 2 that is weights (¼, ¾) or (¾, ¼) on two
/// neighbours, and a copy at the two borders (the clamping). Its backward is the adjoint
/// (transpose) of that linear map. Average pooling uses kernel = stride = factor, no padding;
/// its backward spreads each output gradient uniformly (÷ factor³) over its window.
///
/// Failure modes: a tensor that is not rank 5, or (pooling) a spatial size not divisible by the
/// factor, stops with a precondition failure.
public enum ResamplingKernels {
    /// Interpolation taps of output index `output` along an axis of input size `size`
    /// (see the type's comment): inputs `first`, `second` and their weights.
    @inline(__always)
    static func linearTaps(_ output: Int, size: Int) -> (first: Int, second: Int, firstWeight: Float, secondWeight: Float) {
        let source = max(0, (Float(output) + 0.5) * 0.5 - 0.5)
        let first = Int(source)
        let secondWeight = source - Float(first)
        return (first, min(first + 1, size - 1), 1 - secondWeight, secondWeight)
    }

    /// N×C×D×H×W → N×C×2D×2H×2W, trilinear, align_corners = false.
    public static func upsampleTrilinear2x(_ input: Tensor) -> Tensor {
        let shape = input.volumeShape
        let (depth, height, width) = (shape.depth, shape.height, shape.width)
        let planes = shape.batch * shape.channels
        var output = Tensor(uninitializedShape: [shape.batch, shape.channels, 2 * depth, 2 * height, 2 * width])
        guard output.count > 0 else { return output }
        input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                let x = SendableConstPointer(source.baseAddress!), y = SendablePointer(target.baseAddress!)
                let items = planes * 2 * depth  // one output depth slice of one plane each
                let minimum = MemoryBoundParallelism.minimumItems(elementsPerItem: 4 * height * width)
                Parallel.forEachChunk(items, minimumChunk: minimum) { range in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: width) { scratch in
                        let row = scratch.baseAddress!
                        for item in range {
                            let plane = item / (2 * depth), outputZ = item % (2 * depth)
                            let zTaps = linearTaps(outputZ, size: depth)
                            let inputPlane = x.pointer + plane * depth * height * width
                            let slice0 = inputPlane + zTaps.first * height * width
                            let slice1 = inputPlane + zTaps.second * height * width
                            for outputY in 0..<(2 * height) {
                                let yTaps = linearTaps(outputY, size: height)
                                let w00 = zTaps.firstWeight * yTaps.firstWeight, w01 = zTaps.firstWeight * yTaps.secondWeight
                                let w10 = zTaps.secondWeight * yTaps.firstWeight, w11 = zTaps.secondWeight * yTaps.secondWeight
                                let r00 = slice0 + yTaps.first * width, r01 = slice0 + yTaps.second * width
                                let r10 = slice1 + yTaps.first * width, r11 = slice1 + yTaps.second * width
                                for column in 0..<width {
                                    row[column] = w00 * r00[column] + w01 * r01[column] + w10 * r10[column] + w11 * r11[column]
                                }
                                let outputRow = y.pointer + ((plane * 2 * depth + outputZ) * 2 * height + outputY) * 2 * width
                                expandRow(row, width: width, into: outputRow)
                            }
                        }
                    }
                }
            }
        }
        return output
    }

    /// Linear ×2 along one row: out[0] = t[0], out[2k+1] = ¾t[k] + ¼t[k+1],
    /// out[2k+2] = ¼t[k] + ¾t[k+1], out[2W−1] = t[W−1].
    @inline(__always)
    static func expandRow(_ row: UnsafePointer<Float>, width: Int, into output: UnsafeMutablePointer<Float>) {
        output[0] = row[0]
        for column in 0..<(width - 1) {
            let left = row[column], right = row[column + 1]
            output[2 * column + 1] = 0.75 * left + 0.25 * right
            output[2 * column + 2] = 0.25 * left + 0.75 * right
        }
        output[2 * width - 1] = row[width - 1]
    }

    /// The adjoint of `upsampleTrilinear2x`: ∂L/∂x from ∂L/∂y (y of shape N×C×2D×2H×2W).
    public static func upsampleTrilinear2xBackward(_ gradient: Tensor, inputShape: [Int]) -> Tensor {
        var inputGradient = Tensor(shape: inputShape)
        let shape = inputGradient.volumeShape
        let (depth, height, width) = (shape.depth, shape.height, shape.width)
        precondition(gradient.shape == [shape.batch, shape.channels, 2 * depth, 2 * height, 2 * width],
                     "upsampleTrilinear2x backward: gradient \(gradient.shape) for input \(inputShape)")
        guard gradient.count > 0 else { return inputGradient }
        gradient.withUnsafeBufferPointer { source in
            inputGradient.withUnsafeMutableBufferPointer { target in
                let g = SendableConstPointer(source.baseAddress!), dx = SendablePointer(target.baseAddress!)
                let planeCount = depth * height * width
                // Whole planes per work item: output rows of one plane scatter into shared input rows.
                Parallel.forEachChunk(shape.batch * shape.channels,
                                      minimumChunk: MemoryBoundParallelism.minimumItems(elementsPerItem: 8 * planeCount)) { range in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: width) { scratch in
                        let row = scratch.baseAddress!
                        for plane in range {
                            let targetPlane = dx.pointer + plane * planeCount
                            for outputZ in 0..<(2 * depth) {
                                let zTaps = linearTaps(outputZ, size: depth)
                                let slice0 = targetPlane + zTaps.first * height * width
                                let slice1 = targetPlane + zTaps.second * height * width
                                for outputY in 0..<(2 * height) {
                                    let yTaps = linearTaps(outputY, size: height)
                                    let gradientRow = g.pointer + ((plane * 2 * depth + outputZ) * 2 * height + outputY) * 2 * width
                                    collapseRow(gradientRow, width: width, into: row)
                                    let w00 = zTaps.firstWeight * yTaps.firstWeight, w01 = zTaps.firstWeight * yTaps.secondWeight
                                    let w10 = zTaps.secondWeight * yTaps.firstWeight, w11 = zTaps.secondWeight * yTaps.secondWeight
                                    let r00 = slice0 + yTaps.first * width, r01 = slice0 + yTaps.second * width
                                    let r10 = slice1 + yTaps.first * width, r11 = slice1 + yTaps.second * width
                                    // Sequential (not fused) updates: the four rows may coincide at borders.
                                    for column in 0..<width { r00[column] += w00 * row[column] }
                                    for column in 0..<width { r01[column] += w01 * row[column] }
                                    for column in 0..<width { r10[column] += w10 * row[column] }
                                    for column in 0..<width { r11[column] += w11 * row[column] }
                                }
                            }
                        }
                    }
                }
            }
        }
        return inputGradient
    }

    /// The adjoint of `expandRow`: a 2W-row of gradients collapsed to W.
    @inline(__always)
    static func collapseRow(_ gradient: UnsafePointer<Float>, width: Int, into row: UnsafeMutablePointer<Float>) {
        for column in 0..<width { row[column] = 0 }
        row[0] = gradient[0]
        for column in 0..<(width - 1) {
            let odd = gradient[2 * column + 1], even = gradient[2 * column + 2]
            row[column] += 0.75 * odd + 0.25 * even
            row[column + 1] += 0.25 * odd + 0.75 * even
        }
        row[width - 1] += gradient[2 * width - 1]
    }

    /// N×C×D×H×W → N×C×(D/f)×(H/f)×(W/f), each output the mean of its f×f×f window.
    public static func averagePool(_ input: Tensor, factor: Int) -> Tensor {
        let shape = input.volumeShape
        checkPoolable(shape, factor: factor)
        let (depth, height, width) = (shape.depth / factor, shape.height / factor, shape.width / factor)
        let inputWidth = shape.width, inputHeight = shape.height
        let planes = shape.batch * shape.channels
        var output = Tensor(uninitializedShape: [shape.batch, shape.channels, depth, height, width])
        guard output.count > 0 else { return output }
        let scale = 1 / Float(factor * factor * factor)
        input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                let x = SendableConstPointer(source.baseAddress!), y = SendablePointer(target.baseAddress!)
                let minimum = MemoryBoundParallelism.minimumItems(elementsPerItem: factor * factor * factor * height * width)
                Parallel.forEachChunk(planes * depth, minimumChunk: minimum) { range in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: inputWidth) { scratch in
                        let row = scratch.baseAddress!
                        for item in range {  // item = plane·D' + output z
                            let inputSlab = x.pointer + item * factor * inputHeight * inputWidth
                            for outputY in 0..<height {
                                for column in 0..<inputWidth { row[column] = 0 }
                                for zOffset in 0..<factor {
                                    for yOffset in 0..<factor {
                                        let inputRow = inputSlab + (zOffset * inputHeight + outputY * factor + yOffset) * inputWidth
                                        for column in 0..<inputWidth { row[column] += inputRow[column] }
                                    }
                                }
                                let outputRow = y.pointer + (item * height + outputY) * width
                                for outputX in 0..<width {
                                    var sum: Float = 0
                                    for xOffset in 0..<factor { sum += row[outputX * factor + xOffset] }
                                    outputRow[outputX] = sum * scale
                                }
                            }
                        }
                    }
                }
            }
        }
        return output
    }

    /// ∂L/∂x[z, y, x] = ∂L/∂y[z/f, y/f, x/f] / f³ (the adjoint of `averagePool`).
    public static func averagePoolBackward(_ gradient: Tensor, inputShape: [Int], factor: Int) -> Tensor {
        var inputGradient = Tensor(uninitializedShape: inputShape)
        let shape = inputGradient.volumeShape
        checkPoolable(shape, factor: factor)
        let (depth, height, width) = (shape.depth / factor, shape.height / factor, shape.width / factor)
        precondition(gradient.shape == [shape.batch, shape.channels, depth, height, width],
                     "averagePool backward: gradient \(gradient.shape) for input \(inputShape) and factor \(factor)")
        guard gradient.count > 0 else { return inputGradient }
        let inputWidth = shape.width, inputHeight = shape.height
        let scale = 1 / Float(factor * factor * factor)
        gradient.withUnsafeBufferPointer { source in
            inputGradient.withUnsafeMutableBufferPointer { target in
                let g = SendableConstPointer(source.baseAddress!), dx = SendablePointer(target.baseAddress!)
                let minimum = MemoryBoundParallelism.minimumItems(elementsPerItem: factor * factor * factor * height * width)
                Parallel.forEachChunk(shape.batch * shape.channels * depth, minimumChunk: minimum) { range in
                    for item in range {
                        let targetSlab = dx.pointer + item * factor * inputHeight * inputWidth
                        for outputY in 0..<height {
                            let gradientRow = g.pointer + (item * height + outputY) * width
                            let firstRow = targetSlab + outputY * factor * inputWidth
                            for outputX in 0..<width {
                                let value = gradientRow[outputX] * scale
                                for xOffset in 0..<factor { firstRow[outputX * factor + xOffset] = value }
                            }
                            for zOffset in 0..<factor {
                                for yOffset in 0..<factor where zOffset != 0 || yOffset != 0 {
                                    let targetRow = targetSlab + (zOffset * inputHeight + outputY * factor + yOffset) * inputWidth
                                    targetRow.update(from: firstRow, count: inputWidth)
                                }
                            }
                        }
                    }
                }
            }
        }
        return inputGradient
    }

    private static func checkPoolable(_ shape: VolumeShape, factor: Int) {
        precondition(factor > 0, "averagePool: factor \(factor) must be positive")
        precondition(shape.depth % factor == 0 && shape.height % factor == 0 && shape.width % factor == 0,
                     "averagePool: spatial size \(shape.depth)×\(shape.height)×\(shape.width) is not divisible by \(factor)")
    }
}

extension ForwardContext {
    /// Trilinear ×2 upsampling, exactly PyTorch `F.interpolate(x, scale_factor=2,
    /// mode="trilinear", align_corners=False)`; N×C×D×H×W → N×C×2D×2H×2W.
    public func upsampleTrilinear2x(_ x: Variable) -> Variable {
        let inputShape = x.shape
        return record(ResamplingKernels.upsampleTrilinear2x(x.value), inputs: [x]) { gradient in
            [ResamplingKernels.upsampleTrilinear2xBackward(gradient, inputShape: inputShape)]
        }
    }

    /// Average pooling with kernel = stride = `factor` (2 or 4 in the cascade); every spatial
    /// size must be divisible by `factor`.
    public func averagePool(_ x: Variable, factor: Int) -> Variable {
        let inputShape = x.shape
        return record(ResamplingKernels.averagePool(x.value, factor: factor), inputs: [x]) { gradient in
            [ResamplingKernels.averagePoolBackward(gradient, inputShape: inputShape, factor: factor)]
        }
    }
}

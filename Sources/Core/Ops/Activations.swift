import Foundation

/// The activation that follows a normalization (see `ForwardContext.normalizedActivation`).
///
/// All three are the piecewise-linear family y = x for x > 0, y = s·x otherwise, with s = 1
/// (`none`), 0 (`relu`) or the given slope (`leakyReLU`, 0.01 in every network here). The
/// derivative at exactly 0 is s, as in PyTorch (`relu` passes no gradient at 0).
public enum Activation: Sendable, Equatable {
    case none
    case relu
    case leakyReLU(slope: Float)

    /// s in y = x > 0 ? x : s·x.
    public var negativeSlope: Float {
        switch self {
        case .none: return 1
        case .relu: return 0
        case .leakyReLU(let slope): return slope
        }
    }
}

/// Element-wise activation kernels and the channel softmax, without autograd. Inputs of any
/// shape; the softmax needs rank ≥ 2 (N×C×…, normalised over C for every sample and voxel).
public enum ActivationKernels {
    /// y = x > 0 ? x : s·x (s = 0: ReLU; s = 1: identity). NaN stays NaN.
    public static func leakyRectify(_ input: Tensor, negativeSlope: Float) -> Tensor {
        MemoryBoundParallelism.map(input) { source, target, count in
            for index in 0..<count {
                let value = source[index]
                target[index] = value > 0 ? value : value * negativeSlope
            }
        }
    }

    /// ∂L/∂x = g where x > 0, s·g elsewhere (gradient `gradient` of the output, input `input`).
    public static func leakyRectifyBackward(_ gradient: Tensor, input: Tensor, negativeSlope: Float) -> Tensor {
        MemoryBoundParallelism.map(gradient, input) { outputGradient, source, target, count in
            for index in 0..<count {
                target[index] = source[index] > 0 ? outputGradient[index] : outputGradient[index] * negativeSlope
            }
        }
    }

    /// y = 1 / (1 + e^(−x)); saturates to exactly 0 or 1 for |x| ≳ 17 (float32), never NaN for finite x.
    public static func sigmoid(_ input: Tensor) -> Tensor {
        MemoryBoundParallelism.map(input) { source, target, count in
            for index in 0..<count { target[index] = 1 / (1 + exp(-source[index])) }
        }
    }

    /// ∂L/∂x = g · y · (1 − y), from the forward output y.
    public static func sigmoidBackward(_ gradient: Tensor, output: Tensor) -> Tensor {
        MemoryBoundParallelism.map(gradient, output) { outputGradient, value, target, count in
            for index in 0..<count {
                let y = value[index]
                target[index] = outputGradient[index] * y * (1 - y)
            }
        }
    }

    /// Voxels handled together by the softmax kernels: the channel loop runs outermost over a
    /// block, so every inner loop is a contiguous, vectorisable run of this length.
    static let softmaxBlock = 512

    /// y_c = e^(x_c − m) / Σ_k e^(x_k − m) over dim 1, with m = max_k x_k per sample and voxel
    /// (no overflow for any finite input; a row containing +∞ or NaN gives NaN, as in PyTorch).
    public static func softmaxOverChannels(_ input: Tensor) -> Tensor {
        let layout = ChannelAxisLayout(input.shape, operation: "softmaxOverChannels")
        var output = Tensor(uninitializedShape: input.shape)
        input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                guard let sourceBase = source.baseAddress, let targetBase = target.baseAddress else { return }
                let sourcePointer = SendableConstPointer(sourceBase)
                let targetPointer = SendablePointer(targetBase)
                layout.forEachBlock(softmaxBlock) { sampleOffset, voxelStart, length in
                    let channels = layout.channels, stride = layout.spatialCount
                    let x = sourcePointer.pointer + sampleOffset + voxelStart
                    let y = targetPointer.pointer + sampleOffset + voxelStart
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * length) { scratch in
                        let maxima = scratch.baseAddress!, sums = maxima + length
                        for voxel in 0..<length { maxima[voxel] = x[voxel] }
                        for channel in 1..<max(channels, 1) {
                            let row = x + channel * stride
                            for voxel in 0..<length { maxima[voxel] = max(maxima[voxel], row[voxel]) }
                        }
                        for voxel in 0..<length { sums[voxel] = 0 }
                        for channel in 0..<channels {
                            let inputRow = x + channel * stride, outputRow = y + channel * stride
                            for voxel in 0..<length {
                                let value = exp(inputRow[voxel] - maxima[voxel])
                                outputRow[voxel] = value
                                sums[voxel] += value
                            }
                        }
                        for voxel in 0..<length { sums[voxel] = 1 / sums[voxel] }
                        for channel in 0..<channels {
                            let outputRow = y + channel * stride
                            for voxel in 0..<length { outputRow[voxel] *= sums[voxel] }
                        }
                    }
                }
            }
        }
        return output
    }

    /// ∂L/∂x_c = y_c · (g_c − Σ_k g_k y_k), from the forward output y.
    public static func softmaxOverChannelsBackward(_ gradient: Tensor, output: Tensor) -> Tensor {
        precondition(gradient.shape == output.shape, "softmax backward: gradient \(gradient.shape) for output \(output.shape)")
        let layout = ChannelAxisLayout(output.shape, operation: "softmaxOverChannels")
        var inputGradient = Tensor(uninitializedShape: output.shape)
        gradient.withUnsafeBufferPointer { gradientBuffer in
            output.withUnsafeBufferPointer { outputBuffer in
                inputGradient.withUnsafeMutableBufferPointer { target in
                    guard let gradientBase = gradientBuffer.baseAddress, let outputBase = outputBuffer.baseAddress,
                          let targetBase = target.baseAddress else { return }
                    let gradientPointer = SendableConstPointer(gradientBase)
                    let outputPointer = SendableConstPointer(outputBase)
                    let targetPointer = SendablePointer(targetBase)
                    layout.forEachBlock(softmaxBlock) { sampleOffset, voxelStart, length in
                        let channels = layout.channels, stride = layout.spatialCount
                        let offset = sampleOffset + voxelStart
                        let g = gradientPointer.pointer + offset, y = outputPointer.pointer + offset
                        let dx = targetPointer.pointer + offset
                        withUnsafeTemporaryAllocation(of: Float.self, capacity: length) { scratch in
                            let dots = scratch.baseAddress!
                            for voxel in 0..<length { dots[voxel] = 0 }
                            for channel in 0..<channels {
                                let gRow = g + channel * stride, yRow = y + channel * stride
                                for voxel in 0..<length { dots[voxel] += gRow[voxel] * yRow[voxel] }
                            }
                            for channel in 0..<channels {
                                let gRow = g + channel * stride, yRow = y + channel * stride, dxRow = dx + channel * stride
                                for voxel in 0..<length { dxRow[voxel] = yRow[voxel] * (gRow[voxel] - dots[voxel]) }
                            }
                        }
                    }
                }
            }
        }
        return inputGradient
    }
}

/// The N×C×(rest) view of a rank ≥ 2 tensor used by channel-wise kernels: `spatialCount` is
/// the product of the dimensions after the channel axis (1 for a rank-2 tensor).
struct ChannelAxisLayout: Sendable {
    let batch: Int
    let channels: Int
    let spatialCount: Int

    init(_ shape: [Int], operation: String) {
        precondition(shape.count >= 2, "\(operation): expected an N×C×… tensor, got shape \(shape)")
        batch = shape[0]
        channels = shape[1]
        spatialCount = shape.dropFirst(2).reduce(1, *)
    }

    /// Elements per sample (C·spatial).
    var sampleCount: Int { channels * spatialCount }

    /// Calls `body(sampleOffset, voxelStart, length)` for every sample and every run of at most
    /// `block` voxels, in parallel over these (disjoint) work items.
    func forEachBlock(_ block: Int, _ body: @Sendable (_ sampleOffset: Int, _ voxelStart: Int, _ length: Int) -> Void) {
        let blocksPerSample = (spatialCount + block - 1) / block
        let items = batch * blocksPerSample
        let sampleCount = sampleCount, spatialCount = spatialCount
        Parallel.forEachChunk(items, minimumChunk: MemoryBoundParallelism.minimumItems(elementsPerItem: block * channels)) { range in
            for item in range {
                let sample = item / blocksPerSample
                let voxelStart = (item % blocksPerSample) * block
                body(sample * sampleCount, voxelStart, min(block, spatialCount - voxelStart))
            }
        }
    }
}

extension ForwardContext {
    /// max(0, x), element-wise; gradient 1 where x > 0, else 0.
    public func relu(_ x: Variable) -> Variable {
        leakyRectified(x, negativeSlope: 0)
    }

    /// x > 0 ? x : slope·x, element-wise (PyTorch `F.leaky_relu`, default slope 0.01).
    public func leakyReLU(_ x: Variable, slope: Float = 0.01) -> Variable {
        leakyRectified(x, negativeSlope: slope)
    }

    /// The activation `activation` on its own (`none` returns `x` unchanged).
    public func activate(_ x: Variable, _ activation: Activation) -> Variable {
        activation == .none ? x : leakyRectified(x, negativeSlope: activation.negativeSlope)
    }

    private func leakyRectified(_ x: Variable, negativeSlope: Float) -> Variable {
        let input = x.value
        return record(ActivationKernels.leakyRectify(input, negativeSlope: negativeSlope), inputs: [x]) { gradient in
            [ActivationKernels.leakyRectifyBackward(gradient, input: input, negativeSlope: negativeSlope)]
        }
    }

    /// 1 / (1 + e^(−x)), element-wise; gradient y(1 − y).
    public func sigmoid(_ x: Variable) -> Variable {
        let output = ActivationKernels.sigmoid(x.value)
        return record(output, inputs: [x]) { gradient in [ActivationKernels.sigmoidBackward(gradient, output: output)] }
    }

    /// Numerically stable softmax over dim 1 (channels) of an N×C×D×H×W (or any N×C×…) tensor.
    public func softmaxOverChannels(_ x: Variable) -> Variable {
        let output = ActivationKernels.softmaxOverChannels(x.value)
        return record(output, inputs: [x]) { gradient in
            [ActivationKernels.softmaxOverChannelsBackward(gradient, output: output)]
        }
    }
}

/// Dropout (Srivastava et al. 2014) with inverted scaling, element-wise and per channel
/// (PyTorch `Dropout3d`, "spatial dropout": whole channels of a sample are zeroed).
///
/// In training, y = x ⊙ m / (1 − p) with m_i = 1 when the uniform draw u_i ∈ [0, 1) satisfies
/// u_i ≥ p (keep probability 1 − p), else 0; E[y] = x. The backward is the same masked scaling
/// applied to the output gradient. In evaluation, or when p = 0, the op is the identity and
/// records nothing. p = 1 zeroes everything.
///
/// Randomness comes only from `ForwardContext.random`, so a pass is reproducible for a given
/// seed. The element-wise mask is never stored: the forward draws one sub-stream seed per block
/// of `elementsPerStream` elements (in order, from the context's generator) and both forward and
/// backward regenerate the mask from these seeds — no mask memory, the same mask for any thread
/// count, blocks filled in parallel.
///
/// Failure modes: p outside [0, 1] stops with a precondition failure.
public enum DropoutKernels {
    /// Elements per independent random sub-stream of the element-wise mask.
    public static let elementsPerStream = 1 << 16

    /// One sub-stream seed per block of `elementsPerStream` of `count` elements, drawn from `random`.
    public static func maskSeeds(count: Int, random: inout SeededRandom) -> [UInt64] {
        let blocks = (count + elementsPerStream - 1) / elementsPerStream
        return (0..<blocks).map { _ in random.next() }
    }

    /// 1/(1 − p), or 0 when p = 1 (nothing is kept).
    static func keptScale(_ probability: Float) -> Float {
        probability < 1 ? 1 / (1 - probability) : 0
    }

    /// y = x ⊙ m / (1 − p) with the mask of `seeds` (see the type's comment).
    public static func applyMask(_ input: Tensor, seeds: [UInt64], probability: Float) -> Tensor {
        precondition(seeds.count == (input.count + elementsPerStream - 1) / elementsPerStream,
                     "dropout: \(seeds.count) mask seeds for \(input.count) elements")
        let scale = keptScale(probability)
        var output = Tensor(uninitializedShape: input.shape)
        guard input.count > 0 else { return output }
        input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                let x = SendableConstPointer(source.baseAddress!), y = SendablePointer(target.baseAddress!)
                let count = source.count
                Parallel.forEachChunk(seeds.count, minimumChunk: 1) { range in
                    for block in range {
                        var random = SeededRandom(seed: seeds[block])
                        let start = block * elementsPerStream
                        for index in start..<min(start + elementsPerStream, count) {
                            y.pointer[index] = random.nextUniform() >= probability ? x.pointer[index] * scale : 0
                        }
                    }
                }
            }
        }
        return output
    }

    /// Per (sample, channel) factors of an N×C×… input: 0 (dropped) or 1/(1 − p), drawn from `random`.
    public static func channelMask(batch: Int, channels: Int, probability: Float, random: inout SeededRandom) -> [Float] {
        let scale = keptScale(probability)
        return (0..<(batch * channels)).map { _ in random.nextUniform() >= probability ? scale : 0 }
    }

    /// y[n, c, …] = x[n, c, …] · mask[n·C + c].
    public static func applyChannelMask(_ input: Tensor, mask: [Float]) -> Tensor {
        let layout = ChannelAxisLayout(input.shape, operation: "spatialDropout")
        precondition(mask.count == layout.batch * layout.channels, "spatialDropout: \(mask.count) factors for shape \(input.shape)")
        var output = Tensor(uninitializedShape: input.shape)
        guard input.count > 0 else { return output }
        let spatialCount = layout.spatialCount
        input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                let x = SendableConstPointer(source.baseAddress!), y = SendablePointer(target.baseAddress!)
                Parallel.forEachChunk(mask.count, minimumChunk: MemoryBoundParallelism.minimumItems(elementsPerItem: spatialCount)) { range in
                    for channel in range {
                        let factor = mask[channel]
                        let inputRow = x.pointer + channel * spatialCount, outputRow = y.pointer + channel * spatialCount
                        for voxel in 0..<spatialCount { outputRow[voxel] = inputRow[voxel] * factor }
                    }
                }
            }
        }
        return output
    }
}

extension ForwardContext {
    /// Element-wise dropout with inverted scaling; identity when not training or p = 0.
    public func dropout(_ x: Variable, probability: Float) -> Variable {
        precondition(probability >= 0 && probability <= 1, "dropout: probability \(probability) outside [0, 1]")
        guard isTraining, probability > 0 else { return x }
        let seeds = DropoutKernels.maskSeeds(count: x.value.count, random: &random)
        let output = DropoutKernels.applyMask(x.value, seeds: seeds, probability: probability)
        return record(output, inputs: [x]) { gradient in
            [DropoutKernels.applyMask(gradient, seeds: seeds, probability: probability)]
        }
    }

    /// Spatial dropout (PyTorch `Dropout3d`): each channel of each sample of an N×C×D×H×W input
    /// is zeroed with probability p, the rest scaled by 1/(1 − p); identity when not training or
    /// p = 0.
    public func spatialDropout(_ x: Variable, probability: Float) -> Variable {
        precondition(probability >= 0 && probability <= 1, "spatialDropout: probability \(probability) outside [0, 1]")
        guard isTraining, probability > 0 else { return x }
        let layout = ChannelAxisLayout(x.shape, operation: "spatialDropout")
        let mask = DropoutKernels.channelMask(batch: layout.batch, channels: layout.channels, probability: probability, random: &random)
        let output = DropoutKernels.applyChannelMask(x.value, mask: mask)
        return record(output, inputs: [x]) { gradient in [DropoutKernels.applyChannelMask(gradient, mask: mask)] }
    }
}

/// Operations along the channel axis (dim 1) of N×C×… tensors: concatenation (UNet skips,
/// the cascade's extra inputs), slicing/splitting, and the cascade's "merge" — the element-wise
/// maximum over the channel blocks a grouped convolution produced.
///
/// All shapes must agree on every dimension except dim 1; violations stop with a precondition
/// failure naming the shapes.
public enum ChannelKernels {
    /// Concatenation over dim 1: output channels are the inputs' channels in order.
    public static func concatenateChannels(_ inputs: [Tensor]) -> Tensor {
        precondition(!inputs.isEmpty, "concatenateChannels: no inputs")
        let first = inputs[0].shape
        precondition(first.count >= 2, "concatenateChannels: expected N×C×… tensors, got shape \(first)")
        for input in inputs {
            precondition(input.shape.count == first.count && input.shape[0] == first[0] && Array(input.shape.dropFirst(2)) == Array(first.dropFirst(2)),
                         "concatenateChannels: shapes \(inputs.map(\.shape)) differ outside dim 1")
        }
        let spatialCount = first.dropFirst(2).reduce(1, *)
        let channelCounts = inputs.map { $0.shape[1] }
        let totalChannels = channelCounts.reduce(0, +)
        var outputShape = first
        outputShape[1] = totalChannels
        var output = Tensor(uninitializedShape: outputShape)
        output.withUnsafeMutableBufferPointer { target in
            guard let targetBase = target.baseAddress else { return }
            var channelOffset = 0
            for (input, channels) in zip(inputs, channelCounts) {
                let blockCount = channels * spatialCount
                input.withUnsafeBufferPointer { source in
                    guard let sourceBase = source.baseAddress else { return }
                    copyBlocks(from: sourceBase, sourceStride: blockCount,
                               to: targetBase + channelOffset * spatialCount, targetStride: totalChannels * spatialCount,
                               blockCount: blockCount, blocks: first[0])
                }
                channelOffset += channels
            }
        }
        return output
    }

    /// Channels [start, start + count) of `input` as a new tensor.
    public static func sliceChannels(_ input: Tensor, start: Int, count: Int) -> Tensor {
        let layout = ChannelAxisLayout(input.shape, operation: "sliceChannels")
        precondition(start >= 0 && count >= 0 && start + count <= layout.channels,
                     "sliceChannels: channels \(start)..<\(start + count) of \(layout.channels)")
        var shape = input.shape
        shape[1] = count
        var output = Tensor(uninitializedShape: shape)
        input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                guard let sourceBase = source.baseAddress, let targetBase = target.baseAddress else { return }
                copyBlocks(from: sourceBase + start * layout.spatialCount, sourceStride: layout.sampleCount,
                           to: targetBase, targetStride: count * layout.spatialCount,
                           blockCount: count * layout.spatialCount, blocks: layout.batch)
            }
        }
        return output
    }

    /// A tensor of `shape` that is zero except channels [start, start + slice.C), which hold
    /// `slice` (the adjoint of `sliceChannels`).
    public static func embedChannels(_ slice: Tensor, start: Int, into shape: [Int]) -> Tensor {
        let layout = ChannelAxisLayout(shape, operation: "embedChannels")
        let count = slice.shape[1]
        precondition(slice.shape.count == shape.count && start >= 0 && start + count <= layout.channels,
                     "embedChannels: slice \(slice.shape) at channel \(start) does not fit \(shape)")
        var output = Tensor(shape: shape)
        slice.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                guard let sourceBase = source.baseAddress, let targetBase = target.baseAddress else { return }
                copyBlocks(from: sourceBase, sourceStride: count * layout.spatialCount,
                           to: targetBase + start * layout.spatialCount, targetStride: layout.sampleCount,
                           blockCount: count * layout.spatialCount, blocks: layout.batch)
            }
        }
        return output
    }

    /// Copies `blocks` runs of `blockCount` floats with the given strides between run starts.
    static func copyBlocks(
        from source: UnsafePointer<Float>, sourceStride: Int, to target: UnsafeMutablePointer<Float>, targetStride: Int,
        blockCount: Int, blocks: Int
    ) {
        guard blockCount > 0 else { return }
        for block in 0..<blocks {
            (target + block * targetStride).update(from: source + block * sourceStride, count: blockCount)
        }
    }

    /// Voxels per work item in the group-maximum kernels.
    static let groupMaximumBlock = 1024

    /// Input N×(G·F)×…, output N×F×…: y[n, f] = max_g x[n, g·F + f]. NaN in a non-first group is
    /// ignored; NaN in group 0 propagates.
    public static func maxOverChannelGroups(_ input: Tensor, groups: Int) -> Tensor {
        let layout = ChannelAxisLayout(input.shape, operation: "maxOverChannelGroups")
        precondition(groups > 0 && layout.channels % groups == 0,
                     "maxOverChannelGroups: \(layout.channels) channels cannot form \(groups) equal groups")
        let features = layout.channels / groups
        var shape = input.shape
        shape[1] = features
        var output = Tensor(uninitializedShape: shape)
        input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                guard let sourceBase = source.baseAddress, let targetBase = target.baseAddress else { return }
                let x = SendableConstPointer(sourceBase), y = SendablePointer(targetBase)
                forEachFeatureBlock(layout, features: features) { sample, feature, voxelStart, length in
                    let groupStride = features * layout.spatialCount
                    let inputStart = sample * layout.sampleCount + feature * layout.spatialCount + voxelStart
                    let outputRow = y.pointer + (sample * features + feature) * layout.spatialCount + voxelStart
                    outputRow.update(from: x.pointer + inputStart, count: length)
                    for group in 1..<groups {
                        let row = x.pointer + inputStart + group * groupStride
                        for voxel in 0..<length {
                            let value = row[voxel]
                            outputRow[voxel] = value > outputRow[voxel] ? value : outputRow[voxel]
                        }
                    }
                }
            }
        }
        return output
    }

    /// ∂L/∂x: the output gradient goes to the first group whose value equals the maximum (the
    /// arg-max, first on ties); every other input element gets 0.
    public static func maxOverChannelGroupsBackward(_ gradient: Tensor, input: Tensor, output: Tensor, groups: Int) -> Tensor {
        let layout = ChannelAxisLayout(input.shape, operation: "maxOverChannelGroups")
        let features = layout.channels / groups
        precondition(gradient.shape == output.shape, "maxOverChannelGroups backward: gradient \(gradient.shape) for output \(output.shape)")
        var inputGradient = Tensor(uninitializedShape: input.shape)
        input.withUnsafeBufferPointer { source in
            output.withUnsafeBufferPointer { outputBuffer in
                gradient.withUnsafeBufferPointer { gradientBuffer in
                    inputGradient.withUnsafeMutableBufferPointer { target in
                        guard let sourceBase = source.baseAddress else { return }
                        let x = SendableConstPointer(sourceBase), y = SendableConstPointer(outputBuffer.baseAddress!)
                        let g = SendableConstPointer(gradientBuffer.baseAddress!), dx = SendablePointer(target.baseAddress!)
                        forEachFeatureBlock(layout, features: features) { sample, feature, voxelStart, length in
                            let groupStride = features * layout.spatialCount
                            let inputStart = sample * layout.sampleCount + feature * layout.spatialCount + voxelStart
                            let outputStart = (sample * features + feature) * layout.spatialCount + voxelStart
                            let maxima = y.pointer + outputStart
                            withUnsafeTemporaryAllocation(of: Float.self, capacity: length) { scratch in
                                // `pending` holds the gradient not yet handed to an arg-max.
                                let pending = scratch.baseAddress!
                                pending.update(from: g.pointer + outputStart, count: length)
                                for group in 0..<groups {
                                    let row = x.pointer + inputStart + group * groupStride
                                    let targetRow = dx.pointer + inputStart + group * groupStride
                                    for voxel in 0..<length {
                                        let isMaximum = row[voxel] == maxima[voxel]
                                        targetRow[voxel] = isMaximum ? pending[voxel] : 0
                                        pending[voxel] = isMaximum ? 0 : pending[voxel]
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return inputGradient
    }

    /// `body(sample, feature, voxelStart, length)` over every sample, output channel and block
    /// of voxels, in parallel.
    private static func forEachFeatureBlock(
        _ layout: ChannelAxisLayout, features: Int, _ body: @Sendable (Int, Int, Int, Int) -> Void
    ) {
        let block = groupMaximumBlock, spatialCount = layout.spatialCount
        let blocksPerRow = (spatialCount + block - 1) / block
        let items = layout.batch * features * blocksPerRow
        let minimum = MemoryBoundParallelism.minimumItems(elementsPerItem: block * layout.channels / max(features, 1))
        Parallel.forEachChunk(items, minimumChunk: minimum) { range in
            for item in range {
                let row = item / blocksPerRow
                let voxelStart = (item % blocksPerRow) * block
                body(row / features, row % features, voxelStart, min(block, spatialCount - voxelStart))
            }
        }
    }
}

extension ForwardContext {
    /// Concatenation over dim 1 (channels); each input's gradient is its slice of the output's.
    public func concatenateChannels(_ xs: [Variable]) -> Variable {
        let output = ChannelKernels.concatenateChannels(xs.map(\.value))
        let channelCounts = xs.map { $0.shape[1] }
        return record(output, inputs: xs) { gradient in
            var start = 0
            return channelCounts.map { count in
                defer { start += count }
                return ChannelKernels.sliceChannels(gradient, start: start, count: count)
            }
        }
    }

    /// Channels [start, start + count) of x; the gradient is zero outside the slice.
    public func sliceChannels(_ x: Variable, start: Int, count: Int) -> Variable {
        let shape = x.shape
        return record(ChannelKernels.sliceChannels(x.value, start: start, count: count), inputs: [x]) { gradient in
            [ChannelKernels.embedChannels(gradient, start: start, into: shape)]
        }
    }

    /// Splits dim 1 into consecutive slices of `sizes` channels (Σ sizes = C). Each slice is
    /// recorded separately, so in training every used slice's backward allocates one full-size
    /// zero-padded gradient (cheap for the small tensors this is meant for).
    public func splitChannels(_ x: Variable, sizes: [Int]) -> [Variable] {
        precondition(x.shape.count >= 2 && sizes.reduce(0, +) == x.shape[1] && sizes.allSatisfy { $0 >= 0 },
                     "splitChannels: sizes \(sizes) do not add up to the \(x.shape.count >= 2 ? x.shape[1] : 0) channels of \(x.shape)")
        var start = 0
        return sizes.map { size in
            defer { start += size }
            return sliceChannels(x, start: start, count: size)
        }
    }

    /// The cascade's merge: x is N×(groups·F)×D×H×W where channel block g = [g·F, (g+1)·F) came
    /// from modality g of a grouped convolution; the output is N×F×D×H×W with the element-wise
    /// maximum over the groups. The gradient goes to the arg-max (first group on ties).
    public func maxOverChannelGroups(_ x: Variable, groups: Int) -> Variable {
        let input = x.value
        let output = ChannelKernels.maxOverChannelGroups(input, groups: groups)
        return record(output, inputs: [x]) { gradient in
            [ChannelKernels.maxOverChannelGroupsBackward(gradient, input: input, output: output, groups: groups)]
        }
    }
}

/// Group normalization (Wu & He 2018), instance normalization (= one group per channel) and the
/// fused "normalize → affine → activation" the networks use after every convolution.
///
/// For an N×C×… input split into G groups of C/G consecutive channels, per sample n and group g
/// over its M = (C/G)·D·H·W elements:
///
///     μ = mean(x),  σ² = mean((x − μ)²)  (biased, as PyTorch `F.group_norm`),  r = 1/√(σ² + ε)
///     x̂ = (x − μ)·r,  pre_c = γ_c·x̂ + β_c,  y = act(pre)   (act: `Activation`, slope s below 0)
///
/// Backward, with d = ∂L/∂pre = ∂L/∂y · (pre > 0 ? 1 : s) and dx̂ = γ_c·d:
///
///     ∂L/∂β_c = Σ d,  ∂L/∂γ_c = Σ d·x̂        (over samples and the channel's voxels)
///     ∂L/∂x = r·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂))  (means over the group)
///
/// The fused kernel reads the input twice (statistics, then output) and the backward reads input
/// and output gradient twice (sums, then input gradient); x̂ and pre are recomputed, never stored.
/// Statistics are accumulated as float lanes over blocks of 1024 elements shifted by the group's
/// first value, then summed in Double, and x − μ is formed against μ split into two floats
/// (`GroupStatistics.meanResidual`), so large means and large groups do not lose precision
/// (evaluating y = a·x + b with b = β − μ·a would lose about |μ|/σ ulps to cancellation).
/// Work is split over (sample, group) pairs with `Parallel.forEachChunk`.
///
/// Failure modes: C not divisible by G, γ/β not of shape [C], or a rank < 3 input stop with a
/// precondition failure.
public enum NormalizationKernels {
    /// μ and r = 1/√(σ² + ε) per (sample, group), row-major N×G. μ is kept as a float pair
    /// μ ≈ mean + meanResidual (the residual is what rounding μ to float lost), so that x − μ is
    /// accurate even when |μ| ≫ σ.
    public struct GroupStatistics: Sendable {
        public var mean: [Float]
        public var meanResidual: [Float]
        public var inverseStandardDeviation: [Float]
    }

    /// Elements per block of float accumulation before the block's sum is added in Double.
    static let accumulationBlock = 1024

    /// Normalizes, applies γ/β and `activation`; returns the output and the statistics the
    /// backward needs.
    public static func normalizedActivation(
        _ input: Tensor, groups: Int, weight: Tensor, bias: Tensor, activation: Activation, epsilon: Float
    ) -> (output: Tensor, statistics: GroupStatistics) {
        var output = Tensor(uninitializedShape: input.shape)
        let statistics = input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                normalize(source.baseAddress!, into: target.baseAddress!, shape: input.shape, groups: groups,
                          weight: weight, bias: bias, activation: activation, epsilon: epsilon)
            }
        }
        return (output, statistics)
    }

    /// The same output, written over `input`'s storage when no other tensor shares it, so that
    /// an inference pass holds one activation where it would hold two; a shared input is left
    /// as it is and the output gets storage of its own. The input is lost: a backward needs
    /// `normalizedActivationBackward(_:output:…)`.
    public static func normalizedActivationReusingInput(
        _ input: consuming Tensor, groups: Int, weight: Tensor, bias: Tensor, activation: Activation, epsilon: Float
    ) -> Tensor {
        guard input.hasUniqueStorage() else {
            return normalizedActivation(input, groups: groups, weight: weight, bias: bias, activation: activation, epsilon: epsilon).output
        }
        _ = normalizedActivationInPlace(&input, groups: groups, weight: weight, bias: bias, activation: activation, epsilon: epsilon)
        return input
    }

    /// Writes the output over `tensor` (copied first if it is shared) and returns the statistics.
    static func normalizedActivationInPlace(
        _ tensor: inout Tensor, groups: Int, weight: Tensor, bias: Tensor, activation: Activation, epsilon: Float
    ) -> GroupStatistics {
        let shape = tensor.shape
        return tensor.withUnsafeMutableBufferPointer { buffer in
            normalize(UnsafePointer(buffer.baseAddress!), into: buffer.baseAddress!, shape: shape, groups: groups,
                      weight: weight, bias: bias, activation: activation, epsilon: epsilon)
        }
    }

    /// The forward kernel: `source` and `target` hold N×C×… elements of `shape` and may be the
    /// same memory (each group's statistics are summed before any of its elements is written,
    /// and each element is written only from itself).
    private static func normalize(
        _ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, shape: [Int], groups: Int,
        weight: Tensor, bias: Tensor, activation: Activation, epsilon: Float
    ) -> GroupStatistics {
        let layout = NormalizationGroupLayout(shape, groups: groups, weight: weight, bias: bias)
        let slope = activation.negativeSlope
        var means = [Float](repeating: 0, count: layout.batch * groups)
        var residuals = [Float](repeating: 0, count: layout.batch * groups)
        var inverseDeviations = [Float](repeating: 0, count: layout.batch * groups)
        let gamma = weight.scalars, beta = bias.scalars  // [C]: read once per channel, not per voxel
        means.withUnsafeMutableBufferPointer { meanBuffer in
            residuals.withUnsafeMutableBufferPointer { residualBuffer in
                inverseDeviations.withUnsafeMutableBufferPointer { inverseBuffer in
                    let x = SendableConstPointer(source), y = SendablePointer(target)
                    let meanPointer = SendablePointer(meanBuffer.baseAddress!)
                    let residualPointer = SendablePointer(residualBuffer.baseAddress!)
                    let inversePointer = SendablePointer(inverseBuffer.baseAddress!)
                    layout.forEachGroup { item, firstChannel, offset in
                        let moments = shiftedMoments(x.pointer + offset, count: layout.groupCount)
                        let mean = Float(moments.mean), residual = Float(moments.mean - Double(mean))
                        let inverse = Float(1 / (moments.variance + Double(epsilon)).squareRoot())
                        meanPointer.pointer[item] = mean
                        residualPointer.pointer[item] = residual
                        inversePointer.pointer[item] = inverse
                        for channelInGroup in 0..<layout.channelsPerGroup {
                            let channel = firstChannel + channelInGroup
                            let scale = gamma[channel] * inverse, shift = beta[channel]
                            let start = offset + channelInGroup * layout.spatialCount
                            normalizedRow(x.pointer + start, into: y.pointer + start, count: layout.spatialCount, scale: scale,
                                          shift: shift, mean: mean, residual: residual, slope: slope)
                        }
                    }
                }
            }
        }
        return GroupStatistics(mean: means, meanResidual: residuals, inverseStandardDeviation: inverseDeviations)
    }

    /// Gradients of the fused op with respect to input, γ and β, given ∂L/∂y.
    public static func normalizedActivationBackward(
        _ gradient: Tensor, input: Tensor, statistics: GroupStatistics, groups: Int,
        weight: Tensor, bias: Tensor, activation: Activation
    ) -> (input: Tensor, weight: Tensor, bias: Tensor) {
        precondition(gradient.shape == input.shape, "normalization backward: gradient \(gradient.shape) for input \(input.shape)")
        var inputGradient = Tensor(uninitializedShape: input.shape)
        let (weightGradient, biasGradient) = input.withUnsafeBufferPointer { source in
            inputGradient.withUnsafeMutableBufferPointer { target in
                backward(gradient, input: source.baseAddress!, into: target.baseAddress!, shape: input.shape, statistics: statistics,
                         groups: groups, weight: weight, bias: bias, activation: activation)
            }
        }
        return (inputGradient, weightGradient, biasGradient)
    }

    /// The same gradients from the op's output instead of its input, for a forward that wrote
    /// its output over the input (`reusesInput`): with a positive slope the activation is
    /// invertible, so x − μ = (act⁻¹(y) − β_c) / (γ_c·r) is recovered element by element into
    /// the input gradient's storage, and the backward then runs over it in place. This is the
    /// in-place activated normalisation of Rota Bulò et al. (CVPR 2018): a training step keeps
    /// one tensor per convolution + normalisation instead of two. The kernel takes the
    /// activation's branch from the recomputed pre-activation, so an element within an ulp of β
    /// of the kink may take the other one-sided slope there (a subgradient choice; the sums
    /// agree with the input path to about 1e-6 relative).
    public static func normalizedActivationBackward(
        _ gradient: Tensor, output: Tensor, statistics: GroupStatistics, groups: Int,
        weight: Tensor, bias: Tensor, activation: Activation
    ) -> (input: Tensor, weight: Tensor, bias: Tensor) {
        precondition(gradient.shape == output.shape, "normalization backward: gradient \(gradient.shape) for output \(output.shape)")
        precondition(reusesInput(weight: weight, activation: activation), "normalization backward from the output needs an invertible activation and |γ| ≥ \(minimumInvertibleGamma)")
        let layout = NormalizationGroupLayout(output.shape, groups: groups, weight: weight, bias: bias)
        let inverseSlope = 1 / activation.negativeSlope
        let gamma = weight.scalars, beta = bias.scalars, inverses = statistics.inverseStandardDeviation
        var inputGradient = Tensor(uninitializedShape: output.shape)
        let (weightGradient, biasGradient) = output.withUnsafeBufferPointer { source in
            inputGradient.withUnsafeMutableBufferPointer { target in
                let y = SendableConstPointer(source.baseAddress!), centred = SendablePointer(target.baseAddress!)
                layout.forEachGroup { item, firstChannel, offset in
                    for channelInGroup in 0..<layout.channelsPerGroup {
                        let channel = firstChannel + channelInGroup
                        let inverseScale = 1 / (gamma[channel] * inverses[item]), shift = beta[channel]
                        let start = offset + channelInGroup * layout.spatialCount
                        let outputRow = y.pointer + start, centredRow = centred.pointer + start
                        for voxel in 0..<layout.spatialCount {
                            let value = outputRow[voxel]
                            centredRow[voxel] = ((value > 0 ? value : value * inverseSlope) - shift) * inverseScale
                        }
                    }
                }
                // The recovered values are already centred: the statistics' means are zero here.
                let zeros = [Float](repeating: 0, count: statistics.mean.count)
                let centredStatistics = GroupStatistics(mean: zeros, meanResidual: zeros, inverseStandardDeviation: inverses)
                return backward(gradient, input: UnsafePointer(centred.pointer), into: centred.pointer, shape: output.shape,
                                statistics: centredStatistics, groups: groups, weight: weight, bias: bias, activation: activation)
            }
        }
        return (inputGradient, weightGradient, biasGradient)
    }

    /// |γ_c| below this makes recovering the input from the output lose precision (a division
    /// by γ_c), so such a layer keeps its input instead (trained models have |γ| ≈ 0.5–1.5).
    static let minimumInvertibleGamma: Float = 1e-2

    /// Slopes below this are treated as ReLU: their inverse would overflow.
    static let minimumInvertibleSlope: Float = 1e-4

    /// Whether the output determines the input well enough for `normalizedActivationBackward(
    /// _:output:…)`: a positive slope (leaky ReLU or none, not ReLU) and every |γ_c| ≥
    /// `minimumInvertibleGamma`.
    public static func reusesInput(weight: Tensor, activation: Activation) -> Bool {
        activation.negativeSlope >= minimumInvertibleSlope && weight.scalars.allSatisfy { abs($0) >= minimumInvertibleGamma }
    }

    /// The backward kernel: ∂L/∂x into `target` and (∂L/∂γ, ∂L/∂β). `input` and `target` may
    /// be the same memory: every element of the input is read before its gradient is written
    /// there, and by the same worker.
    private static func backward(
        _ gradient: Tensor, input inputPointer: UnsafePointer<Float>, into targetPointer: UnsafeMutablePointer<Float>,
        shape: [Int], statistics: GroupStatistics, groups: Int, weight: Tensor, bias: Tensor, activation: Activation
    ) -> (weight: Tensor, bias: Tensor) {
        let layout = NormalizationGroupLayout(shape, groups: groups, weight: weight, bias: bias)
        let slope = activation.negativeSlope
        let channels = layout.channels
        // Per (sample, channel): Σ d and Σ d·x̂; reduced over samples at the end (deterministic).
        var sumsOfD = [Double](repeating: 0, count: layout.batch * channels)
        var sumsOfDXHat = [Double](repeating: 0, count: layout.batch * channels)
        let count = Float(layout.groupCount)
        let gamma = weight.scalars, beta = bias.scalars
        let means = statistics.mean, residuals = statistics.meanResidual, inverses = statistics.inverseStandardDeviation
        gradient.withUnsafeBufferPointer { outputGradient in
            sumsOfD.withUnsafeMutableBufferPointer { dBuffer in
                sumsOfDXHat.withUnsafeMutableBufferPointer { dxHatBuffer in
                    let x = SendableConstPointer(inputPointer)
                    let g = SendableConstPointer(outputGradient.baseAddress!)
                    let dx = SendablePointer(targetPointer)
                    let dSums = SendablePointer(dBuffer.baseAddress!)
                    let dxHatSums = SendablePointer(dxHatBuffer.baseAddress!)
                    layout.forEachGroup { item, firstChannel, offset in
                        let mean = means[item], residual = residuals[item], inverse = inverses[item]
                        let sample = item / groups
                        var sumOfGammaD = 0.0, sumOfGammaDXHat = 0.0
                        for channelInGroup in 0..<layout.channelsPerGroup {
                            let channel = firstChannel + channelInGroup
                            let start = offset + channelInGroup * layout.spatialCount
                            let sums = rectifiedSums(
                                input: x.pointer + start, gradient: g.pointer + start, count: layout.spatialCount,
                                gamma: gamma[channel], beta: beta[channel], slope: slope,
                                mean: mean, residual: residual, inverse: inverse)
                            dSums.pointer[sample * channels + channel] = sums.d
                            dxHatSums.pointer[sample * channels + channel] = sums.dXHat
                            sumOfGammaD += Double(gamma[channel]) * sums.d
                            sumOfGammaDXHat += Double(gamma[channel]) * sums.dXHat
                        }
                        // ∂L/∂x = p_c·d + q·(x − μ) + t with p_c = r·γ_c, q = −r²·B/M, t = −r·A/M,
                        // A = Σ γ·d, B = Σ γ·d·x̂ over the group (x − μ, not q·x + const, so that
                        // a large mean does not cancel catastrophically).
                        let q = Float(-Double(inverse) * Double(inverse) * sumOfGammaDXHat / Double(count))
                        let t = Float(-Double(inverse) * sumOfGammaD / Double(count))
                        for channelInGroup in 0..<layout.channelsPerGroup {
                            let channel = firstChannel + channelInGroup
                            let scale = gamma[channel] * inverse, shift = beta[channel]
                            let p = inverse * gamma[channel]
                            let start = offset + channelInGroup * layout.spatialCount
                            inputGradientRow(x.pointer + start, gradient: g.pointer + start, into: dx.pointer + start,
                                             count: layout.spatialCount, scale: scale, shift: shift, mean: mean, residual: residual,
                                             slope: slope, p: p, q: q, t: t)
                        }
                    }
                }
            }
        }
        var weightGradient = Tensor(uninitializedShape: [channels])
        var biasGradient = Tensor(uninitializedShape: [channels])
        weightGradient.withUnsafeMutableBufferPointer { gammaGradient in
            biasGradient.withUnsafeMutableBufferPointer { betaGradient in
                for channel in 0..<channels {
                    var dGamma = 0.0, dBeta = 0.0
                    for sample in 0..<layout.batch {
                        dGamma += sumsOfDXHat[sample * channels + channel]
                        dBeta += sumsOfD[sample * channels + channel]
                    }
                    gammaGradient[channel] = Float(dGamma)
                    betaGradient[channel] = Float(dBeta)
                }
            }
        }
        return (weightGradient, biasGradient)
    }

    /// Mean and biased variance of `count` contiguous floats (see the type's comment on precision).
    static func shiftedMoments(_ values: UnsafePointer<Float>, count: Int) -> (mean: Double, variance: Double) {
        guard count > 0 else { return (0, 0) }
        let shift = values[0]
        let shiftVector = SIMD8<Float>(repeating: shift)
        let raw = UnsafeRawPointer(values)
        var sum = 0.0, squares = 0.0
        var start = 0
        while start < count {
            let end = min(start + accumulationBlock, count)
            var vectorSum = SIMD8<Float>(), vectorSquares = SIMD8<Float>()
            var index = start
            while index + 8 <= end {
                let centred = raw.loadUnaligned(fromByteOffset: index * 4, as: SIMD8<Float>.self) - shiftVector
                vectorSum += centred
                vectorSquares += centred * centred
                index += 8
            }
            var tailSum: Float = 0, tailSquares: Float = 0
            while index < end {
                let centred = values[index] - shift
                tailSum += centred
                tailSquares += centred * centred
                index += 1
            }
            sum += Double(vectorSum.sum() + tailSum)
            squares += Double(vectorSquares.sum() + tailSquares)
            start = end
        }
        let centredMean = sum / Double(count)
        return (Double(shift) + centredMean, max(0, squares / Double(count) - centredMean * centredMean))
    }

    /// Σ d and Σ d·x̂ over one channel row, with c = (x − μ) − residual, x̂ = c·r and
    /// pre = (γ·r)·c + β (evaluated exactly as in the forward, so the activation's branch agrees) and d = g·(pre > 0 ? 1 : s); same
    /// block-float-then-Double accumulation as `shiftedMoments`.
    // The two element-wise row kernels below are written with explicit vectors: their input
    // and output may be the same memory (in-place normalisation), and the compiler's own
    // vectorisation falls back to scalar code when its run-time overlap check fails.

    /// y = act(scale·((x − μ) − residual) + shift) over one channel's `count` elements; `input`
    /// and `output` may be the same memory.
    @inline(__always)
    static func normalizedRow(
        _ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, count: Int,
        scale: Float, shift: Float, mean: Float, residual: Float, slope: Float
    ) {
        let source = UnsafeRawPointer(input), target = UnsafeMutableRawPointer(output)
        let scaleVector = SIMD16<Float>(repeating: scale), shiftVector = SIMD16<Float>(repeating: shift)
        let meanVector = SIMD16<Float>(repeating: mean), residualVector = SIMD16<Float>(repeating: residual)
        let zero = SIMD16<Float>()
        var index = 0
        while index + 16 <= count {
            let value = source.loadUnaligned(fromByteOffset: index * 4, as: SIMD16<Float>.self)
            let pre = scaleVector * ((value - meanVector) - residualVector) + shiftVector
            target.storeBytes(of: (pre * slope).replacing(with: pre, where: pre .> zero), toByteOffset: index * 4, as: SIMD16<Float>.self)
            index += 16
        }
        while index < count {
            let pre = scale * ((input[index] - mean) - residual) + shift
            output[index] = pre > 0 ? pre : pre * slope
            index += 1
        }
    }

    /// ∂L/∂x = p·d + q·(x − μ) + t over one channel's elements, d = ∂L/∂pre; `input` and
    /// `target` may be the same memory (each element is read before it is written).
    @inline(__always)
    static func inputGradientRow(
        _ input: UnsafePointer<Float>, gradient: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, count: Int,
        scale: Float, shift: Float, mean: Float, residual: Float, slope: Float, p: Float, q: Float, t: Float
    ) {
        let source = UnsafeRawPointer(input), outputGradients = UnsafeRawPointer(gradient), destination = UnsafeMutableRawPointer(target)
        let scaleVector = SIMD16<Float>(repeating: scale), shiftVector = SIMD16<Float>(repeating: shift)
        let meanVector = SIMD16<Float>(repeating: mean), residualVector = SIMD16<Float>(repeating: residual)
        let pVector = SIMD16<Float>(repeating: p), qVector = SIMD16<Float>(repeating: q), tVector = SIMD16<Float>(repeating: t)
        let zero = SIMD16<Float>()
        var index = 0
        while index + 16 <= count {
            let value = source.loadUnaligned(fromByteOffset: index * 4, as: SIMD16<Float>.self)
            let outputGradient = outputGradients.loadUnaligned(fromByteOffset: index * 4, as: SIMD16<Float>.self)
            let centred = (value - meanVector) - residualVector
            let pre = scaleVector * centred + shiftVector
            let d = (outputGradient * slope).replacing(with: outputGradient, where: pre .> zero)
            destination.storeBytes(of: pVector * d + qVector * centred + tVector, toByteOffset: index * 4, as: SIMD16<Float>.self)
            index += 16
        }
        while index < count {
            let centred = (input[index] - mean) - residual
            let pre = scale * centred + shift
            let d = pre > 0 ? gradient[index] : gradient[index] * slope
            target[index] = p * d + q * centred + t
            index += 1
        }
    }

    static func rectifiedSums(
        input: UnsafePointer<Float>, gradient: UnsafePointer<Float>, count: Int,
        gamma: Float, beta: Float, slope: Float, mean: Float, residual: Float, inverse: Float
    ) -> (d: Double, dXHat: Double) {
        let rawInput = UnsafeRawPointer(input), rawGradient = UnsafeRawPointer(gradient)
        let scale = gamma * inverse
        let scaleVector = SIMD8<Float>(repeating: scale), shiftVector = SIMD8<Float>(repeating: beta)
        let meanVector = SIMD8<Float>(repeating: mean), residualVector = SIMD8<Float>(repeating: residual)
        let inverseVector = SIMD8<Float>(repeating: inverse)
        let zero = SIMD8<Float>()
        var sumOfD = 0.0, sumOfDXHat = 0.0
        var start = 0
        while start < count {
            let end = min(start + accumulationBlock, count)
            var vectorD = SIMD8<Float>(), vectorDXHat = SIMD8<Float>()
            var index = start
            while index + 8 <= end {
                let value = rawInput.loadUnaligned(fromByteOffset: index * 4, as: SIMD8<Float>.self)
                let outputGradient = rawGradient.loadUnaligned(fromByteOffset: index * 4, as: SIMD8<Float>.self)
                let centred = (value - meanVector) - residualVector
                let pre = scaleVector * centred + shiftVector
                let d = (outputGradient * slope).replacing(with: outputGradient, where: pre .> zero)
                vectorD += d
                vectorDXHat += d * (centred * inverseVector)
                index += 8
            }
            var tailD: Float = 0, tailDXHat: Float = 0
            while index < end {
                let centred = (input[index] - mean) - residual
                let pre = scale * centred + beta
                let d = pre > 0 ? gradient[index] : gradient[index] * slope
                tailD += d
                tailDXHat += d * (centred * inverse)
                index += 1
            }
            sumOfD += Double(vectorD.sum() + tailD)
            sumOfDXHat += Double(vectorDXHat.sum() + tailDXHat)
            start = end
        }
        return (sumOfD, sumOfDXHat)
    }
}

/// Sizes of a grouped N×C×… tensor, checked against γ/β, and the parallel walk over its
/// (sample, group) pairs; each pair is one contiguous span of `groupCount` elements.
struct NormalizationGroupLayout: Sendable {
    let batch: Int
    let channels: Int
    let groups: Int
    let channelsPerGroup: Int
    let spatialCount: Int

    init(_ shape: [Int], groups: Int, weight: Tensor, bias: Tensor) {
        precondition(shape.count >= 3, "normalization: expected an N×C×D×H×W (or N×C×L) tensor, got shape \(shape)")
        batch = shape[0]
        channels = shape[1]
        spatialCount = shape.dropFirst(2).reduce(1, *)
        precondition(groups > 0 && channels % groups == 0, "normalization: \(channels) channels cannot form \(groups) equal groups")
        precondition(weight.shape == [channels] && bias.shape == [channels],
                     "normalization: γ \(weight.shape) and β \(bias.shape) must both be [\(channels)]")
        self.groups = groups
        channelsPerGroup = channels / groups
    }

    /// Elements per (sample, group).
    var groupCount: Int { channelsPerGroup * spatialCount }

    /// Calls `body(item, firstChannel, offset)` for item = sample·G + group, in parallel.
    func forEachGroup(_ body: @Sendable (_ item: Int, _ firstChannel: Int, _ offset: Int) -> Void) {
        let groups = groups, channelsPerGroup = channelsPerGroup, groupCount = groupCount
        Parallel.forEachChunk(batch * groups, minimumChunk: MemoryBoundParallelism.minimumItems(elementsPerItem: groupCount)) { range in
            for item in range {
                body(item, (item % groups) * channelsPerGroup, item * groupCount)
            }
        }
    }
}

extension ForwardContext {
    /// act(GroupNorm(x)·γ + β) in one pass over memory (see `NormalizationKernels`). x is
    /// N×C×D×H×W, γ and β are [C], C divisible by `groups`.
    ///
    /// When nothing else holds x (the convolution just computed, say), the output overwrites
    /// its storage: in inference always; in training when the output determines the input
    /// (`NormalizationKernels.reusesInput`), whose backward then works from the output. A
    /// training step then keeps one tensor per convolution + normalisation instead of two.
    public func normalizedActivation(
        _ x: consuming Variable, groups: Int, weight: Variable, bias: Variable, activation: Activation, epsilon: Float = 1e-5
    ) -> Variable {
        let gamma = weight.value, beta = bias.value
        guard tape != nil else {
            let input = (consume x).value  // in a statement of its own, so that no temporary still holds it
            let output = NormalizationKernels.normalizedActivationReusingInput(
                consume input, groups: groups, weight: gamma, bias: beta, activation: activation, epsilon: epsilon)
            OperationProfile.markForward(#function)
            return Variable(output)
        }
        let node = x.node
        var input = (consume x).value
        if NormalizationKernels.reusesInput(weight: gamma, activation: activation), input.hasUniqueStorage() {
            let statistics = NormalizationKernels.normalizedActivationInPlace(
                &input, groups: groups, weight: gamma, bias: beta, activation: activation, epsilon: epsilon)
            let output = input
            return record(output, inputs: [Variable(value: output, node: node), weight, bias]) { gradient in
                let gradients = NormalizationKernels.normalizedActivationBackward(
                    gradient, output: output, statistics: statistics, groups: groups, weight: gamma, bias: beta, activation: activation)
                return [gradients.input, gradients.weight, gradients.bias]
            }
        }
        let (output, statistics) = NormalizationKernels.normalizedActivation(
            input, groups: groups, weight: gamma, bias: beta, activation: activation, epsilon: epsilon)
        return record(output, inputs: [Variable(value: input, node: node), weight, bias]) { gradient in
            let gradients = NormalizationKernels.normalizedActivationBackward(
                gradient, input: input, statistics: statistics, groups: groups, weight: gamma, bias: beta, activation: activation)
            return [gradients.input, gradients.weight, gradients.bias]
        }
    }

    /// PyTorch `F.group_norm(x, groups, γ, β, ε)`: per sample, per group of C/groups channels,
    /// biased variance, affine γ/β of shape [C].
    public func groupNorm(_ x: Variable, groups: Int, weight: Variable, bias: Variable, epsilon: Float = 1e-5) -> Variable {
        normalizedActivation(x, groups: groups, weight: weight, bias: bias, activation: .none, epsilon: epsilon)
    }

    /// Instance normalization with affine γ/β (PyTorch `InstanceNorm3d(affine=True)` in training
    /// statistics mode): group norm with one group per channel.
    public func instanceNorm(_ x: Variable, weight: Variable, bias: Variable, epsilon: Float = 1e-5) -> Variable {
        precondition(x.shape.count >= 3, "instanceNorm: expected an N×C×D×H×W tensor, got shape \(x.shape)")
        return groupNorm(x, groups: x.shape[1], weight: weight, bias: bias, epsilon: epsilon)
    }
}

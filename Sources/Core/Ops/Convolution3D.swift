/// 3D convolution (PyTorch `Conv3d` semantics: cross-correlation, cubic kernel k, stride s,
/// symmetric zero padding p, groups G, optional bias) — forward, input gradient, weight and bias
/// gradients — plus the differentiable `ForwardContext.conv3d`.
///
///   y[n, o, z, y, x] = b[o] + Σ_{c ∈ group(o)} Σ_{kz,ky,kx} w[o, c, kz, ky, kx] · x[n, c, z·s−p+kz, y·s−p+ky, x·s−p+kx]
///
/// Method (every choice below is a `ConvolutionTuning` knob, exposed by `brainseg bench conv`):
/// - Stride-1 forward (default `.shiftedSlab`, see `ShiftedSlabConvolution`): a zero-padded slab
///   of input planes per worker, read at the k³ kernel offsets as the B matrix of k³ GEMMs with
///   K = Cin/G; no im2col copy at all. Valid positions are copied to the output with the bias.
/// - Other forward convs (stride 2, or `.im2col`): im2col over voxel TILES + `BLAS.sgemm`. For
///   each (image, group, tile of T output voxels) the tile's K×T column matrix (K = Cin/G·k³, see
///   `Im2ColTile`) is built in a per-worker scratch and Y[Cout/G × T] = W[Cout/G × K] · col is
///   written straight into the output (ldc = Do·Ho·Wo); the bias is fused by pre-filling the
///   output tile and running the GEMM with beta = 1 (OpenBLAS would spend a pass zeroing C for
///   beta = 0). A 1×1×1 stride-1 unpadded conv skips im2col (the input is the column matrix).
/// Memory stays bounded by workers × (K × T or slab) floats, never the whole-volume column matrix.
///
/// Backward:
/// - weight/bias, stride 1 (`.shiftedSlab`, see `ShiftedSlabConvolution.backwardWeights`): the
///   same padded slab read at the k³ offsets, dW_offsetᵀ += slab_offset · G_chunkᵀ with ∂L/∂y laid
///   on the padded frame, k³ GEMMs with K = a chunk of positions; no column copies.
/// - weight/bias otherwise: dW_gᵀ[K × Cout/G] += col_tile · dY_tileᵀ per tile (weightTileVoxels,
///   default 2048), one partial per worker, summed and transposed at the end; db = Σ dY in the
///   same loop.
/// - input: for stride 1 (and p ≤ k−1) the input gradient is itself a stride-1 convolution of dY
///   with the kernel flipped in space and transposed in channels, padding k−1−p; it reuses the
///   fast forward path (no scatter, no write conflicts between threads). Otherwise (stride 2)
///   col_tile = Wᵀ · dY_tile then col2im scatter-add; tiles are grouped in output-depth chunks
///   run in two phases (even chunks, then odd) so that concurrent chunks never touch the same
///   input slices (see `ColumnToImage`).
///
/// Backends (`ConvolutionTuning.backend`): by default every pass runs on oneDNN
/// (`OneDNNConvolution`), except the 3×3×3 stride-1 convolutions `WinogradConvolution` applies to
/// (the wide layers of every model; `ConvolutionTuning.winograd`); the engine's own kernels
/// described above are the reference path, used for any shape oneDNN refuses and by the
/// numerics tests.
/// One exception: a stride-1 weight gradient for which oneDNN has only its im2col GEMM (every
/// 3D weight gradient on CPUs without AVX-512) runs on the shifted slab: on Zen 3 a student
/// training step's weight gradients went from 1.09 to 0.81 s (the step from 1.93 to 1.50 s).
///
/// Measurements behind the defaults (`brainseg bench conv`, AMD EPYC Zen 4, 2 cores, OpenBLAS
/// 0.3.21 with OPENBLAS_CORETYPE=Haswell; the machine was shared with two other engineers'
/// builds, so only large differences are trustworthy):
/// - Threading: with 2 OpenBLAS threads and one big tile (32→32 at 64³, T 16384) the forward
///   took 0.50 s, no better than 1 thread (0.48 s); engine threads split im2col and GEMM work
///   without OpenBLAS's per-call fork/join, so engine threading is the default.
/// - im2col tile size (forward, 32→32 at 128³, quiet machine): T = 192 1.10 s, 384 0.99 s (min),
///   512 1.07 s, 1024 1.56 s, 16384 far slower: the column tile must stay within the 2 MB L2.
///   A profile (1 thread, 64³) showed 27 % of the time in the im2col copies and 12 % in
///   OpenBLAS's packing of them, which is what the shifted slab removes.
/// - Shifted slab vs im2col (2 threads, loaded machine, same minute): 64→64 at 64³ 0.75 s vs
///   0.95 s; 32→32 at 128³ 1.16–1.59 s vs 1.84–2.1 s; tile 1024–2048 best. Single-threaded the two
///   were equal (1.09 vs 1.05 s), so the gain is memory traffic, which matters with both cores busy.
/// - Weight gradient: the orientation dWᵀ = col·dYᵀ measured about 2× faster than dW = dY·colᵀ
///   (64→64 at 64³, 1.56 s → 0.75–0.94 s under load); larger tiles help (2048 ≥ 1024 > 512).
/// - With Haswell the whole table in Benchmarks/README.md; Cooperlake (OpenBLAS's own pick here)
///   is slower for these GEMMs (see `OpenBLASKernelSelection`).
///
/// Failure modes: preconditions that print the shapes (see `ConvolutionGeometry`).
public enum Convolution3D {
    /// y = conv3d(x, w) + b. input N×Cin×D×H×W, weight Cout×Cin/G×k×k×k, bias [Cout] or nil.
    public static func forward(
        input: Tensor, weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int, groups: Int = 1,
        tuning: ConvolutionTuning = .default
    ) -> Tensor {
        let geometry = ConvolutionGeometry(inputShape: input.shape, weightShape: weight.shape, biasShape: bias?.shape,
                                           stride: stride, padding: padding, groups: groups)
        var output = Tensor(uninitializedShape: geometry.outputShape)
        let biasValues = bias ?? Tensor(shape: [0])
        input.withUnsafeBufferPointer { inputBuffer in
            weight.withUnsafeBufferPointer { weightBuffer in
                biasValues.withUnsafeBufferPointer { biasBuffer in
                    output.withUnsafeMutableBufferPointer { outputBuffer in
                        forwardKernel(geometry: geometry, input: inputBuffer.baseAddress!, weight: weightBuffer.baseAddress!,
                                      bias: bias == nil ? nil : biasBuffer.baseAddress!, output: outputBuffer.baseAddress!,
                                      tuning: tuning)
                    }
                }
            }
        }
        return output
    }

    /// ∂L/∂x from ∂L/∂y (`outputGradient`, N×Cout×Do×Ho×Wo) for an input of `inputShape`.
    public static func backwardInput(
        outputGradient: Tensor, weight: Tensor, inputShape: [Int], stride: Int = 1, padding: Int, groups: Int = 1,
        tuning: ConvolutionTuning = .default
    ) -> Tensor {
        let geometry = ConvolutionGeometry(inputShape: inputShape, weightShape: weight.shape, biasShape: nil,
                                           stride: stride, padding: padding, groups: groups)
        precondition(outputGradient.shape == geometry.outputShape,
                     "conv3d backwardInput: output gradient \(outputGradient.shape), expected \(geometry.outputShape) for \(geometry)")
        // Winograd: the input gradient is the forward convolution of ∂L/∂y with the kernel
        // flipped in space and transposed in channels (padding k − 1 − p = 1).
        if tuning.usesWinograd && stride == 1 && padding == 1 && groups == 1 {
            let flippedGeometry = ConvolutionGeometry(inputShape: outputGradient.shape,
                                                      weightShape: [weight.shape[1], weight.shape[0]] + weight.shape.dropFirst(2),
                                                      biasShape: nil, stride: 1, padding: 1, groups: 1)
            if WinogradConvolution.applies(to: flippedGeometry, precision: tuning.precision) {
                return forward(input: outputGradient, weight: flippedTransposedWeight(weight, groups: 1), bias: nil, stride: 1,
                               padding: 1, groups: 1, tuning: tuning)
            }
        }
        if tuning.backend == .oneDNN {
            var result = Tensor(uninitializedShape: inputShape)
            let done = outputGradient.withUnsafeBufferPointer { gradientBuffer in
                weight.withUnsafeBufferPointer { weightBuffer in
                    result.withUnsafeMutableBufferPointer { resultBuffer in
                        OneDNNConvolution.backwardData(geometry: geometry, outputGradient: gradientBuffer.baseAddress!,
                                                       weight: weightBuffer.baseAddress!, inputGradient: resultBuffer.baseAddress!,
                                                       precision: tuning.precision)
                    }
                }
            }
            if done { return result }
        }
        let flippedPadding = geometry.kernel - 1 - padding
        if stride == 1 && flippedPadding >= 0 && tuning.inputGradientMethod == .automatic {
            let flipped = flippedTransposedWeight(weight, groups: groups)
            let result = forward(input: outputGradient, weight: flipped, bias: nil, stride: 1, padding: flippedPadding,
                                 groups: groups, tuning: tuning)
            precondition(result.shape == inputShape, "conv3d backwardInput: flipped convolution gave \(result.shape), expected \(inputShape)")
            return result
        }
        var inputGradient = Tensor(shape: inputShape, repeating: 0)
        outputGradient.withUnsafeBufferPointer { gradientBuffer in
            weight.withUnsafeBufferPointer { weightBuffer in
                inputGradient.withUnsafeMutableBufferPointer { inputGradientBuffer in
                    ColumnToImage.backwardInput(geometry: geometry, outputGradient: gradientBuffer.baseAddress!,
                                                weight: weightBuffer.baseAddress!, inputGradient: inputGradientBuffer.baseAddress!,
                                                tuning: tuning)
                }
            }
        }
        return inputGradient
    }

    /// ∂L/∂w (shape `weightShape`) and, when `includeBias`, ∂L/∂b ([Cout]) from ∂L/∂y and the
    /// forward input.
    public static func backwardWeight(
        outputGradient: Tensor, input: Tensor, weightShape: [Int], includeBias: Bool, stride: Int = 1, padding: Int,
        groups: Int = 1, tuning: ConvolutionTuning = .default
    ) -> (weight: Tensor, bias: Tensor?) {
        let geometry = ConvolutionGeometry(inputShape: input.shape, weightShape: weightShape, biasShape: nil,
                                           stride: stride, padding: padding, groups: groups)
        precondition(outputGradient.shape == geometry.outputShape,
                     "conv3d backwardWeight: output gradient \(outputGradient.shape), expected \(geometry.outputShape) for \(geometry)")
        let biasCount = includeBias ? geometry.outputChannels : nil
        if tuning.usesWinograd && WinogradConvolution.appliesToWeightGradient(geometry, precision: tuning.precision),
           let gradients = weightGradients(outputGradient, input, weightShape, biasCount, { gradient, input, weight, bias in
               WinogradConvolution.weightGradient(geometry: geometry, outputGradient: gradient, input: input, weightGradient: weight,
                                                  biasGradient: bias, tuning: tuning)
               return true
           }) {
            return gradients
        }
        let shiftedSlab = geometry.stride == 1 && !geometry.isPointwise && tuning.forwardMethod == .shiftedSlab
        // oneDNN unless its kernel is an im2col GEMM and the shifted slab can run instead (see
        // `ShiftedSlabConvolution.backwardWeights`).
        if tuning.backend == .oneDNN && !(shiftedSlab && OneDNNConvolution.weightGradientIsGEMM(geometry, precision: tuning.precision)),
           let gradients = weightGradients(outputGradient, input, weightShape, biasCount, { gradient, input, weight, bias in
               OneDNNConvolution.backwardWeights(geometry: geometry, outputGradient: gradient, input: input, weightGradient: weight,
                                                 biasGradient: bias, precision: tuning.precision)
           }) {
            return gradients
        }
        if shiftedSlab,
           let gradients = weightGradients(outputGradient, input, weightShape, biasCount, { gradient, input, weight, bias in
               ShiftedSlabConvolution.backwardWeights(geometry: geometry, outputGradient: gradient, input: input, weightGradient: weight,
                                                      biasGradient: bias, tuning: tuning)
               return true
           }) {
            return gradients
        }
        let weightCount = geometry.outputChannels * geometry.columnRows
        let partialCount = weightCount + geometry.outputChannels
        let workers = tuning.maximumWorkers
        var partials = Tensor(shape: [workers, partialCount], repeating: 0)
        outputGradient.withUnsafeBufferPointer { gradientBuffer in
            input.withUnsafeBufferPointer { inputBuffer in
                partials.withUnsafeMutableBufferPointer { partialBuffer in
                    weightKernel(geometry: geometry, outputGradient: gradientBuffer.baseAddress!, input: inputBuffer.baseAddress!,
                                 partials: partialBuffer.baseAddress!, partialCount: partialCount, workers: workers, tuning: tuning)
                }
            }
        }
        var weightGradient = Tensor(uninitializedShape: weightShape)
        var biasGradient = includeBias ? Tensor(uninitializedShape: [geometry.outputChannels]) : nil
        let rows = geometry.columnRows, groupOutputs = geometry.groupOutputChannels
        partials.withUnsafeBufferPointer { partialBuffer in
            weightGradient.withUnsafeMutableBufferPointer { target in
                // Partials hold dW_gᵀ[K × Cout/G] per group; the weight is [Cout/G × K] per group.
                for group in 0..<geometry.groups {
                    for output in 0..<groupOutputs {
                        for row in 0..<rows {
                            let index = group * groupOutputs * rows + row * groupOutputs + output
                            var total: Float = 0
                            for worker in 0..<workers { total += partialBuffer[worker * partialCount + index] }
                            target[(group * groupOutputs + output) * rows + row] = total
                        }
                    }
                }
            }
            biasGradient?.withUnsafeMutableBufferPointer { target in
                for channel in 0..<geometry.outputChannels {
                    var total: Float = 0
                    for worker in 0..<workers { total += partialBuffer[worker * partialCount + weightCount + channel] }
                    target[channel] = total
                }
            }
        }
        return (weightGradient, biasGradient)
    }

    /// w′[g·Cin/G + c, o, k−1−kz, k−1−ky, k−1−kx] = w[g·Cout/G + o, c, kz, ky, kx]: the weight of
    /// the stride-1 convolution that maps ∂L/∂y to ∂L/∂x.
    static func flippedTransposedWeight(_ weight: Tensor, groups: Int) -> Tensor {
        let outputChannels = weight.shape[0], groupInputChannels = weight.shape[1], kernel = weight.shape[2]
        let groupOutputChannels = outputChannels / groups
        let volume = kernel * kernel * kernel
        var flipped = Tensor(uninitializedShape: [groupInputChannels * groups, groupOutputChannels, kernel, kernel, kernel])
        weight.withUnsafeBufferPointer { source in
            flipped.withUnsafeMutableBufferPointer { target in
                for group in 0..<groups {
                    for output in 0..<groupOutputChannels {
                        for channel in 0..<groupInputChannels {
                            let from = ((group * groupOutputChannels + output) * groupInputChannels + channel) * volume
                            let to = ((group * groupInputChannels + channel) * groupOutputChannels + output) * volume
                            for offset in 0..<volume { target[to + volume - 1 - offset] = source[from + offset] }
                        }
                    }
                }
            }
        }
        return flipped
    }

    /// New ∂L/∂w (`weightShape`) and ∂L/∂b (`biasCount` values, or none) filled by `kernel(∂L/∂y,
    /// x, ∂L/∂w, ∂L/∂b)`; nil when the kernel returns false (it could not run the shape).
    private static func weightGradients(
        _ outputGradient: Tensor, _ input: Tensor, _ weightShape: [Int], _ biasCount: Int?,
        _ kernel: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>?) -> Bool
    ) -> (weight: Tensor, bias: Tensor?)? {
        var weightGradient = Tensor(uninitializedShape: weightShape)
        var biasGradient = biasCount.map { Tensor(uninitializedShape: [$0]) }
        let done = outputGradient.withUnsafeBufferPointer { gradientBuffer in
            input.withUnsafeBufferPointer { inputBuffer in
                weightGradient.withUnsafeMutableBufferPointer { weightBuffer in
                    OneDNNConvolution.withOptionalMutablePointer(&biasGradient) { biasPointer in
                        kernel(gradientBuffer.baseAddress!, inputBuffer.baseAddress!, weightBuffer.baseAddress!, biasPointer)
                    }
                }
            }
        }
        return done ? (weightGradient, biasGradient) : nil
    }

    // MARK: - Kernels on raw pointers

    static func forwardKernel(
        geometry: ConvolutionGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, tuning: ConvolutionTuning
    ) {
        if tuning.usesWinograd && WinogradConvolution.applies(to: geometry, precision: tuning.precision) {
            WinogradConvolution.forward(geometry: geometry, input: input, weight: weight, bias: bias, output: output, tuning: tuning)
            return
        }
        if tuning.backend == .oneDNN
            && OneDNNConvolution.forward(geometry: geometry, input: input, weight: weight, bias: bias, output: output,
                                         precision: tuning.precision) {
            return
        }
        if geometry.stride == 1 && !geometry.isPointwise && tuning.forwardMethod == .shiftedSlab {
            ShiftedSlabConvolution.forward(geometry: geometry, input: input, weight: weight, bias: bias, output: output, tuning: tuning)
            return
        }
        let tileVoxels = min(tuning.tileVoxels, geometry.outputSpatialCount)
        let tilesPerImage = (geometry.outputSpatialCount + tileVoxels - 1) / tileVoxels
        let items = geometry.batch * geometry.groups * tilesPerImage
        let inputPointer = SendableConstPointer(input), weightPointer = SendableConstPointer(weight)
        let biasPointer = bias.map { SendableConstPointer($0) }, outputPointer = SendablePointer(output)
        tuning.run(items) { _, range in
            let rows = geometry.columnRows
            let scratch = geometry.isPointwise ? nil : BufferPool.shared.scratch(rows * tileVoxels)
            defer { scratch.map(BufferPool.shared.release) }
            let outputSpatial = geometry.outputSpatialCount
            let groupOutputs = geometry.groupOutputChannels
            for item in range {
                let tile = item % tilesPerImage
                let imageGroup = item / tilesPerImage
                let group = imageGroup % geometry.groups
                let image = imageGroup / geometry.groups
                let start = tile * tileVoxels
                let count = min(tileVoxels, outputSpatial - start)
                let inputGroup = inputPointer.pointer
                    + (image * geometry.inputChannels + group * geometry.groupInputChannels) * geometry.inputSpatialCount
                let outputTile = outputPointer.pointer + (image * geometry.outputChannels + group * groupOutputs) * outputSpatial + start
                var beta: Float = 0
                if let biasPointer {
                    for channel in 0..<groupOutputs {
                        (outputTile + channel * outputSpatial).update(repeating: biasPointer.pointer[group * groupOutputs + channel], count: count)
                    }
                    beta = 1
                }
                let columns: UnsafePointer<Float>
                let columnStride: Int
                if let scratch {
                    Im2ColTile.fill(columns: scratch, columnStride: count, input: inputGroup, geometry: geometry, start: start, count: count)
                    columns = UnsafePointer(scratch)
                    columnStride = count
                } else {
                    columns = inputGroup + start
                    columnStride = geometry.inputSpatialCount
                }
                BLAS.sgemm(transposeA: false, transposeB: false, m: groupOutputs, n: count, k: rows,
                           alpha: 1, a: weightPointer.pointer + group * groupOutputs * rows, lda: rows,
                           b: columns, ldb: columnStride, beta: beta, c: outputTile, ldc: outputSpatial)
            }
        }
    }

    static func weightKernel(
        geometry: ConvolutionGeometry, outputGradient: UnsafePointer<Float>, input: UnsafePointer<Float>,
        partials: UnsafeMutablePointer<Float>, partialCount: Int, workers: Int, tuning: ConvolutionTuning
    ) {
        let tileVoxels = min(tuning.weightTileVoxels, geometry.outputSpatialCount)
        let tilesPerImage = (geometry.outputSpatialCount + tileVoxels - 1) / tileVoxels
        let items = geometry.batch * geometry.groups * tilesPerImage
        let gradientPointer = SendableConstPointer(outputGradient), inputPointer = SendableConstPointer(input)
        let partialPointer = SendablePointer(partials)
        tuning.run(items, workers: workers) { worker, range in
            let rows = geometry.columnRows
            let scratch = geometry.isPointwise ? nil : BufferPool.shared.scratch(rows * tileVoxels)
            defer { scratch.map(BufferPool.shared.release) }
            let outputSpatial = geometry.outputSpatialCount
            let groupOutputs = geometry.groupOutputChannels
            let weightPartial = partialPointer.pointer + worker * partialCount
            let biasPartial = weightPartial + geometry.outputChannels * rows
            for item in range {
                let tile = item % tilesPerImage
                let imageGroup = item / tilesPerImage
                let group = imageGroup % geometry.groups
                let image = imageGroup / geometry.groups
                let start = tile * tileVoxels
                let count = min(tileVoxels, outputSpatial - start)
                let inputGroup = inputPointer.pointer
                    + (image * geometry.inputChannels + group * geometry.groupInputChannels) * geometry.inputSpatialCount
                let gradientTile = gradientPointer.pointer + (image * geometry.outputChannels + group * groupOutputs) * outputSpatial + start
                for channel in 0..<groupOutputs {
                    let row = gradientTile + channel * outputSpatial
                    var total: Float = 0
                    for index in 0..<count { total += row[index] }
                    biasPartial[group * groupOutputs + channel] += total
                }
                let columns: UnsafePointer<Float>
                let columnStride: Int
                if let scratch {
                    Im2ColTile.fill(columns: scratch, columnStride: count, input: inputGroup, geometry: geometry, start: start, count: count)
                    columns = UnsafePointer(scratch)
                    columnStride = count
                } else {
                    columns = inputGroup + start
                    columnStride = geometry.inputSpatialCount
                }
                // dW_gᵀ[K × Cout/G] += col[K × T] · dY_tile[Cout/G × T]ᵀ (this orientation measured
                // ~2× faster than dW_g += dY·colᵀ in OpenBLAS 0.3.21; transposed back at the end).
                BLAS.sgemm(transposeA: false, transposeB: true, m: rows, n: groupOutputs, k: count,
                           alpha: 1, a: columns, lda: columnStride, b: gradientTile, ldb: outputSpatial,
                           beta: 1, c: weightPartial + group * groupOutputs * rows, ldc: groupOutputs)
            }
        }
    }
}

extension ForwardContext {
    /// Differentiable 3D convolution (see `Convolution3D`): input N×Cin×D×H×W, weight
    /// Cout×Cin/groups×k×k×k, optional bias [Cout]. Gradients are computed only for inputs that
    /// are on the tape.
    public func conv3d(_ input: Variable, weight: Variable, bias: Variable?, stride: Int = 1, padding: Int, groups: Int = 1) -> Variable {
        let inputValue = input.value
        let weightValue = weight.value
        let tuning = convolution
        let output = Convolution3D.forward(input: inputValue, weight: weightValue, bias: bias?.value,
                                           stride: stride, padding: padding, groups: groups, tuning: tuning)
        ConvolutionCounter.record(output.count * (weightValue.count / weightValue.shape[0]))
        let needsInput = input.node != nil
        let needsWeight = weight.node != nil || bias?.node != nil
        let hasBias = bias != nil
        let inputs = bias.map { [input, weight, $0] } ?? [input, weight]
        return record(output, inputs: inputs) { gradient in
            let inputGradient = needsInput
                ? OperationProfile.measure("conv3d backward-data") {
                    Convolution3D.backwardInput(outputGradient: gradient, weight: weightValue, inputShape: inputValue.shape,
                                                stride: stride, padding: padding, groups: groups, tuning: tuning)
                }
                : nil
            var weightGradient: Tensor?
            var biasGradient: Tensor?
            if needsWeight {
                (weightGradient, biasGradient) = OperationProfile.measure("conv3d backward-weights") {
                    Convolution3D.backwardWeight(
                        outputGradient: gradient, input: inputValue, weightShape: weightValue.shape, includeBias: hasBias,
                        stride: stride, padding: padding, groups: groups, tuning: tuning)
                }
            }
            return hasBias ? [inputGradient, weightGradient, biasGradient] : [inputGradient, weightGradient]
        }
    }
}

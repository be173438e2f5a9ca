/// 3D transposed convolution with kernel 2, stride 2, no padding, groups 1 (PyTorch
/// `ConvTranspose3d(Cin, Cout, 2, stride: 2)`; weight layout Cin×Cout×2×2×2), optional bias:
///
///   y[n, o, 2z+a, 2y+b, 2x+c] = b[o] + Σ_i x[n, i, z, y, x] · w[i, o, a, b, c]
///
/// Input N×Cin×D×H×W, output N×Cout×2D×2H×2W. With kernel = stride the output blocks do not
/// overlap, so this is one GEMM per voxel tile, Y[8·Cout × T] = Wᵀ[8·Cout × Cin] · X[Cin × T]
/// (X read in place, ldb = D·H·W), followed by a scatter of each row (o, a, b, c) to its 2×2×2
/// position (bias added in the same pass). Backward gathers the tile of ∂L/∂y into
/// G[8·Cout × T] (the scatter's adjoint), then
///   ∂L/∂x = W[Cin × 8·Cout] · G,   ∂L/∂w += X · Gᵀ,   ∂L/∂b = Σ G per output channel.
/// Threads run over (image, tile) items, one weight-gradient partial per worker.
///
/// Failure modes: preconditions printing the shapes (rank, weight Cin×Cout×2×2×2, bias [Cout]).
public enum TransposedConvolution3D {
    /// Sizes checked once.
    struct Geometry {
        let batch: Int, inputChannels: Int, outputChannels: Int
        let depth: Int, height: Int, width: Int

        init(inputShape: [Int], weightShape: [Int], biasShape: [Int]?) {
            let context = "transposedConv3d(input \(inputShape), weight \(weightShape), bias \(biasShape.map { "\($0)" } ?? "none"))"
            precondition(inputShape.count == 5 && inputShape.allSatisfy { $0 >= 1 }, "\(context): input must be a non-empty N×Cin×D×H×W")
            precondition(weightShape.count == 5 && weightShape[0] == inputShape[1] && weightShape[2...] == [2, 2, 2],
                         "\(context): weight must be Cin×Cout×2×2×2 with Cin = \(inputShape[1])")
            if let biasShape { precondition(biasShape == [weightShape[1]], "\(context): bias must be [Cout] = [\(weightShape[1])]") }
            batch = inputShape[0]
            inputChannels = inputShape[1]
            outputChannels = weightShape[1]
            depth = inputShape[2]
            height = inputShape[3]
            width = inputShape[4]
        }

        var spatialCount: Int { depth * height * width }
        var outputSpatialCount: Int { 8 * spatialCount }
        var outputShape: [Int] { [batch, outputChannels, 2 * depth, 2 * height, 2 * width] }
        var rows: Int { 8 * outputChannels }
    }

    /// y = convTranspose3d(x, w) + b.
    public static func forward(input: Tensor, weight: Tensor, bias: Tensor?, tuning: ConvolutionTuning = .default) -> Tensor {
        let geometry = Geometry(inputShape: input.shape, weightShape: weight.shape, biasShape: bias?.shape)
        var output = Tensor(uninitializedShape: geometry.outputShape)
        let tileVoxels = min(tuning.tileVoxels, geometry.spatialCount)
        let tiles = (geometry.spatialCount + tileVoxels - 1) / tileVoxels
        let biasValues = bias ?? Tensor(shape: [geometry.outputChannels], repeating: 0)
        input.withUnsafeBufferPointer { inputBuffer in
            weight.withUnsafeBufferPointer { weightBuffer in
                biasValues.withUnsafeBufferPointer { biasBuffer in
                    output.withUnsafeMutableBufferPointer { outputBuffer in
                        let inputPointer = SendableConstPointer(inputBuffer.baseAddress!)
                        let weightPointer = SendableConstPointer(weightBuffer.baseAddress!)
                        let biasPointer = SendableConstPointer(biasBuffer.baseAddress!)
                        let outputPointer = SendablePointer(outputBuffer.baseAddress!)
                        tuning.run(geometry.batch * tiles) { _, range in
                            let scratch = BufferPool.shared.scratch(geometry.rows * tileVoxels)
                            defer { BufferPool.shared.release(scratch) }
                            for item in range {
                                let image = item / tiles
                                let start = (item % tiles) * tileVoxels
                                let count = min(tileVoxels, geometry.spatialCount - start)
                                BLAS.sgemm(transposeA: true, transposeB: false, m: geometry.rows, n: count, k: geometry.inputChannels,
                                           alpha: 1, a: weightPointer.pointer, lda: geometry.rows,
                                           b: inputPointer.pointer + image * geometry.inputChannels * geometry.spatialCount + start,
                                           ldb: geometry.spatialCount, beta: 0, c: scratch, ldc: count)
                                scatter(scratch, into: outputPointer.pointer + image * geometry.outputChannels * geometry.outputSpatialCount,
                                        bias: biasPointer.pointer, geometry: geometry, start: start, count: count)
                            }
                        }
                    }
                }
            }
        }
        return output
    }

    /// ∂L/∂x (N×Cin×D×H×W) from ∂L/∂y.
    public static func backwardInput(outputGradient: Tensor, weight: Tensor, inputShape: [Int],
                                     tuning: ConvolutionTuning = .default) -> Tensor {
        let geometry = Geometry(inputShape: inputShape, weightShape: weight.shape, biasShape: nil)
        precondition(outputGradient.shape == geometry.outputShape,
                     "transposedConv3d backwardInput: output gradient \(outputGradient.shape), expected \(geometry.outputShape)")
        var inputGradient = Tensor(uninitializedShape: inputShape)
        let tileVoxels = min(tuning.tileVoxels, geometry.spatialCount)
        let tiles = (geometry.spatialCount + tileVoxels - 1) / tileVoxels
        outputGradient.withUnsafeBufferPointer { gradientBuffer in
            weight.withUnsafeBufferPointer { weightBuffer in
                inputGradient.withUnsafeMutableBufferPointer { inputGradientBuffer in
                    let gradientPointer = SendableConstPointer(gradientBuffer.baseAddress!)
                    let weightPointer = SendableConstPointer(weightBuffer.baseAddress!)
                    let inputGradientPointer = SendablePointer(inputGradientBuffer.baseAddress!)
                    tuning.run(geometry.batch * tiles) { _, range in
                        let scratch = BufferPool.shared.scratch(geometry.rows * tileVoxels)
                        defer { BufferPool.shared.release(scratch) }
                        for item in range {
                            let image = item / tiles
                            let start = (item % tiles) * tileVoxels
                            let count = min(tileVoxels, geometry.spatialCount - start)
                            gather(gradientPointer.pointer + image * geometry.outputChannels * geometry.outputSpatialCount,
                                   into: scratch, geometry: geometry, start: start, count: count)
                            BLAS.sgemm(transposeA: false, transposeB: false, m: geometry.inputChannels, n: count, k: geometry.rows,
                                       alpha: 1, a: weightPointer.pointer, lda: geometry.rows, b: scratch, ldb: count, beta: 0,
                                       c: inputGradientPointer.pointer + image * geometry.inputChannels * geometry.spatialCount + start,
                                       ldc: geometry.spatialCount)
                        }
                    }
                }
            }
        }
        return inputGradient
    }

    /// ∂L/∂w (Cin×Cout×2×2×2) and, when `includeBias`, ∂L/∂b ([Cout]).
    public static func backwardWeight(outputGradient: Tensor, input: Tensor, weightShape: [Int], includeBias: Bool,
                                      tuning: ConvolutionTuning = .default) -> (weight: Tensor, bias: Tensor?) {
        let geometry = Geometry(inputShape: input.shape, weightShape: weightShape, biasShape: nil)
        precondition(outputGradient.shape == geometry.outputShape,
                     "transposedConv3d backwardWeight: output gradient \(outputGradient.shape), expected \(geometry.outputShape)")
        let tileVoxels = min(tuning.tileVoxels, geometry.spatialCount)
        let tiles = (geometry.spatialCount + tileVoxels - 1) / tileVoxels
        let weightCount = geometry.inputChannels * geometry.rows
        let partialCount = weightCount + geometry.outputChannels
        let workers = tuning.maximumWorkers
        var partials = Tensor(shape: [workers, partialCount], repeating: 0)
        outputGradient.withUnsafeBufferPointer { gradientBuffer in
            input.withUnsafeBufferPointer { inputBuffer in
                partials.withUnsafeMutableBufferPointer { partialBuffer in
                    let gradientPointer = SendableConstPointer(gradientBuffer.baseAddress!)
                    let inputPointer = SendableConstPointer(inputBuffer.baseAddress!)
                    let partialPointer = SendablePointer(partialBuffer.baseAddress!)
                    tuning.run(geometry.batch * tiles, workers: workers) { worker, range in
                        let scratch = BufferPool.shared.scratch(geometry.rows * tileVoxels)
                        defer { BufferPool.shared.release(scratch) }
                        let weightPartial = partialPointer.pointer + worker * partialCount
                        let biasPartial = weightPartial + weightCount
                        for item in range {
                            let image = item / tiles
                            let start = (item % tiles) * tileVoxels
                            let count = min(tileVoxels, geometry.spatialCount - start)
                            gather(gradientPointer.pointer + image * geometry.outputChannels * geometry.outputSpatialCount,
                                   into: scratch, geometry: geometry, start: start, count: count)
                            for row in 0..<geometry.rows {
                                let values = scratch + row * count
                                var total: Float = 0
                                for index in 0..<count { total += values[index] }
                                biasPartial[row / 8] += total
                            }
                            BLAS.sgemm(transposeA: false, transposeB: true, m: geometry.inputChannels, n: geometry.rows, k: count,
                                       alpha: 1, a: inputPointer.pointer + image * geometry.inputChannels * geometry.spatialCount + start,
                                       lda: geometry.spatialCount, b: scratch, ldb: count, beta: 1, c: weightPartial, ldc: geometry.rows)
                        }
                    }
                }
            }
        }
        var weightGradient = Tensor(uninitializedShape: weightShape)
        var biasGradient = includeBias ? Tensor(uninitializedShape: [geometry.outputChannels]) : nil
        partials.withUnsafeBufferPointer { partialBuffer in
            weightGradient.withUnsafeMutableBufferPointer { target in
                for index in 0..<weightCount {
                    var total: Float = 0
                    for worker in 0..<workers { total += partialBuffer[worker * partialCount + index] }
                    target[index] = total
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

    /// output[o, 2z+a, 2y+b, 2x+c] = rows[o·8 + a·4 + b·2 + c, t] + bias[o] for the tile's voxels.
    static func scatter(_ rows: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>,
                        geometry: Geometry, start: Int, count: Int) {
        forEachRun(geometry: geometry, start: start, count: count) { z, y, x, length, column in
            for channel in 0..<geometry.outputChannels {
                let channelBase = output + channel * geometry.outputSpatialCount
                let shift = bias[channel]
                for a in 0..<2 {
                    for b in 0..<2 {
                        let row = channel * 8 + a * 4 + b * 2
                        let even = rows + row * count + column
                        let odd = even + count
                        let target = channelBase + ((2 * z + a) * 2 * geometry.height + 2 * y + b) * 2 * geometry.width + 2 * x
                        for index in 0..<length {
                            target[2 * index] = even[index] + shift
                            target[2 * index + 1] = odd[index] + shift
                        }
                    }
                }
            }
        }
    }

    /// rows[o·8 + a·4 + b·2 + c, t] = gradient[o, 2z+a, 2y+b, 2x+c]: the adjoint of `scatter`.
    static func gather(_ gradient: UnsafePointer<Float>, into rows: UnsafeMutablePointer<Float>,
                       geometry: Geometry, start: Int, count: Int) {
        forEachRun(geometry: geometry, start: start, count: count) { z, y, x, length, column in
            for channel in 0..<geometry.outputChannels {
                let channelBase = gradient + channel * geometry.outputSpatialCount
                for a in 0..<2 {
                    for b in 0..<2 {
                        let row = channel * 8 + a * 4 + b * 2
                        let even = rows + row * count + column
                        let odd = even + count
                        let source = channelBase + ((2 * z + a) * 2 * geometry.height + 2 * y + b) * 2 * geometry.width + 2 * x
                        for index in 0..<length {
                            even[index] = source[2 * index]
                            odd[index] = source[2 * index + 1]
                        }
                    }
                }
            }
        }
    }

    /// Calls `body(z, y, x, length, column)` for each x-run of input voxels in [start, start+count).
    @inline(__always)
    static func forEachRun(geometry: Geometry, start: Int, count: Int, _ body: (Int, Int, Int, Int, Int) -> Void) {
        let plane = geometry.height * geometry.width
        var voxel = start
        while voxel < start + count {
            let z = voxel / plane
            let y = (voxel - z * plane) / geometry.width
            let x = voxel - z * plane - y * geometry.width
            let length = min(geometry.width - x, start + count - voxel)
            body(z, y, x, length, voxel - start)
            voxel += length
        }
    }
}

extension ForwardContext {
    /// Differentiable transposed convolution, kernel 2, stride 2 (see `TransposedConvolution3D`):
    /// input N×Cin×D×H×W, weight Cin×Cout×2×2×2, optional bias [Cout] → N×Cout×2D×2H×2W.
    public func transposedConv3d(_ input: Variable, weight: Variable, bias: Variable?) -> Variable {
        let inputValue = input.value
        let weightValue = weight.value
        let output = TransposedConvolution3D.forward(input: inputValue, weight: weightValue, bias: bias?.value)
        ConvolutionCounter.record(inputValue.count * weightValue.shape[1] * 8)
        let needsInput = input.node != nil
        let needsWeight = weight.node != nil || bias?.node != nil
        let hasBias = bias != nil
        let inputs = bias.map { [input, weight, $0] } ?? [input, weight]
        return record(output, inputs: inputs) { gradient in
            let inputGradient = needsInput
                ? TransposedConvolution3D.backwardInput(outputGradient: gradient, weight: weightValue, inputShape: inputValue.shape)
                : nil
            var weightGradient: Tensor?
            var biasGradient: Tensor?
            if needsWeight {
                (weightGradient, biasGradient) = TransposedConvolution3D.backwardWeight(
                    outputGradient: gradient, input: inputValue, weightShape: weightValue.shape, includeBias: hasBias)
            }
            return hasBias ? [inputGradient, weightGradient, biasGradient] : [inputGradient, weightGradient]
        }
    }
}

/// The weight gradient of a stride-1 convolution without im2col, on the same padded frame as
/// `ShiftedSlabConvolution.forward`.
///
/// Output position q = z·Hp·Wp + y·Wp + x of the padded frame reads input voxel slab[q + offset]
/// for kernel offset (kz, ky, kx) ↦ kz·Hp·Wp + ky·Wp + kx, so for each offset
///
///   dW_offsetᵀ[Cin/G × Cout/G] += slab[Cin/G × (offset ..< offset + T)] · G[Cout/G × T]ᵀ
///
/// where G is ∂L/∂y laid out on the padded frame (zero at the junk positions y ≥ Ho or x ≥ Wo,
/// so they add nothing): k³ GEMMs with K = T per chunk of output planes, the slab read in place.
/// Work items are (image, group, chunk of output planes); each worker sums into its own
/// partials, added up at the end.
///
/// Why it exists: on CPUs without AVX-512, oneDNN 2.6 has no direct kernel for the 3D weight
/// gradient and runs an im2col GEMM, at 5–25 GFLOP/s for the narrow layers of these networks
/// (16 channels at 64³, the student's 3-channel head), more than half of a student training
/// step. The GEMMs here are long in K and reach 30–60 GFLOP/s per core (OpenBLAS, M = N = 8…32,
/// K = 4096), with no column copies.
extension ShiftedSlabConvolution {
    /// ∂L/∂w (Cout×Cin/G×k³, overwritten) and, when given, ∂L/∂b ([Cout], overwritten).
    static func backwardWeights(
        geometry: ConvolutionGeometry, outputGradient: UnsafePointer<Float>, input: UnsafePointer<Float>,
        weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?, tuning: ConvolutionTuning
    ) {
        precondition(geometry.stride == 1, "shifted-slab weight gradient needs stride 1: \(geometry)")
        let kernel = geometry.kernel, padding = geometry.padding
        let paddedHeight = geometry.inputHeight + 2 * padding, paddedWidth = geometry.inputWidth + 2 * padding
        let plane = paddedHeight * paddedWidth
        // About two weight tiles of positions per chunk: the GEMMs' K.
        let planesWanted = max(1, (2 * tuning.weightTileVoxels + plane - 1) / plane)
        let chunkPlanes = max(1, min(planesWanted, geometry.outputDepth))
        let chunks = (geometry.outputDepth + chunkPlanes - 1) / chunkPlanes
        let slabLength = (chunkPlanes + kernel - 1) * plane + (kernel - 1) * (paddedWidth + 1)
        let groupInputs = geometry.groupInputChannels, groupOutputs = geometry.groupOutputChannels
        let volume = geometry.kernelVolume
        // Per worker: dWᵀ[g][offset][Cin/G][Cout/G], then the bias gradient.
        let weightCount = geometry.groups * volume * groupInputs * groupOutputs
        let partialCount = weightCount + geometry.outputChannels
        let workers = tuning.maximumWorkers
        let partials = BufferPool.shared.scratch(workers * partialCount)
        defer { BufferPool.shared.release(partials) }
        partials.update(repeating: 0, count: workers * partialCount)
        let inputPointer = SendableConstPointer(input), gradientPointer = SendableConstPointer(outputGradient)
        let partialPointer = SendablePointer(partials)
        let items = geometry.batch * geometry.groups * chunks
        tuning.run(items, workers: workers) { worker, range in
            let slab = BufferPool.shared.scratch(groupInputs * slabLength)
            let framed = BufferPool.shared.scratch(groupOutputs * chunkPlanes * plane)
            defer { BufferPool.shared.release(slab); BufferPool.shared.release(framed) }
            var offsets: [Int] = []
            for kz in 0..<kernel { for ky in 0..<kernel { for kx in 0..<kernel { offsets.append(kz * plane + ky * paddedWidth + kx) } } }
            let weightPartial = partialPointer.pointer + worker * partialCount
            let biasPartial = weightPartial + weightCount
            let outputPlane = geometry.outputHeight * geometry.outputWidth
            for item in range {
                let chunk = item % chunks
                let imageGroup = item / chunks
                let group = imageGroup % geometry.groups
                let image = imageGroup / geometry.groups
                let firstPlane = chunk * chunkPlanes
                let planes = min(chunkPlanes, geometry.outputDepth - firstPlane)
                let positions = planes * plane
                let inputGroup = inputPointer.pointer
                    + (image * geometry.inputChannels + group * groupInputs) * geometry.inputSpatialCount
                fillSlab(slab, slabLength: slabLength, input: inputGroup, geometry: geometry, firstPaddedPlane: firstPlane,
                         planes: planes + kernel - 1, paddedHeight: paddedHeight, paddedWidth: paddedWidth)
                // G[o][z·Hp·Wp + y·Wp + x] = ∂L/∂y[o, firstPlane + z, y, x], zero at junk positions.
                let gradientGroup = gradientPointer.pointer
                    + (image * geometry.outputChannels + group * groupOutputs) * geometry.outputSpatialCount + firstPlane * outputPlane
                for channel in 0..<groupOutputs {
                    let source = gradientGroup + channel * geometry.outputSpatialCount
                    let target = framed + channel * positions
                    target.update(repeating: 0, count: positions)
                    var total: Float = 0
                    for z in 0..<planes {
                        for y in 0..<geometry.outputHeight {
                            let row = source + (z * geometry.outputHeight + y) * geometry.outputWidth
                            (target + z * plane + y * paddedWidth).update(from: row, count: geometry.outputWidth)
                            for x in 0..<geometry.outputWidth { total += row[x] }
                        }
                    }
                    biasPartial[group * groupOutputs + channel] += total
                }
                for (index, offset) in offsets.enumerated() {
                    BLAS.sgemm(transposeA: false, transposeB: true, m: groupInputs, n: groupOutputs, k: positions, alpha: 1,
                               a: slab + offset, lda: slabLength, b: framed, ldb: positions, beta: 1,
                               c: weightPartial + (group * volume + index) * groupInputs * groupOutputs, ldc: groupOutputs)
                }
            }
        }
        // Sum the workers' partials into w[g·Cout/G + o, c, offset].
        for group in 0..<geometry.groups {
            for output in 0..<groupOutputs {
                for channel in 0..<groupInputs {
                    let target = weightGradient + ((group * groupOutputs + output) * groupInputs + channel) * volume
                    for offset in 0..<volume {
                        let index = ((group * volume + offset) * groupInputs + channel) * groupOutputs + output
                        var total: Float = 0
                        for worker in 0..<workers { total += partials[worker * partialCount + index] }
                        target[offset] = total
                    }
                }
            }
        }
        if let biasGradient {
            for channel in 0..<geometry.outputChannels {
                var total: Float = 0
                for worker in 0..<workers { total += partials[worker * partialCount + weightCount + channel] }
                biasGradient[channel] = total
            }
        }
    }
}

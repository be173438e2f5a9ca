/// Stride-1 convolution forward without im2col: the "padded flat index" method.
///
/// Pad a slab of input planes once (zero border of p voxels, planes Hp×Wp = (H+2p)×(W+2p)).
/// Compute outputs on the padded frame: output position q = z·Hp·Wp + y·Wp + x (x < Wp, y < Hp;
/// positions with y ≥ Ho or x ≥ Wo are junk and dropped). For kernel offset (kz, ky, kx) the input
/// voxel of position q is slab[q + kz·Hp·Wp + ky·Wp + kx], so the k³ shifted copies of the input
/// that im2col would write are just the same slab read at k³ offsets. Each tile of T positions is
///
///   C[Cout/G × T] = Σ_{kz,ky,kx} W_(kz,ky,kx)[Cout/G × Cin/G] · slab[Cin/G × (q₀+offset ..< q₀+offset+T)]
///
/// (k³ GEMMs with K = Cin/G, B read in place with ldb = slab channel stride, beta = 1 after the
/// first), followed by a copy of the valid positions into the output (bias added there). The
/// slab holds zc + k − 1 padded planes for zc output planes plus a tail of (k−1)(Wp+1) zeros so
/// that junk positions never read outside it. Work items are (image, group, output-plane chunk),
/// one slab per worker.
enum ShiftedSlabConvolution {
    static func forward(
        geometry: ConvolutionGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, tuning: ConvolutionTuning
    ) {
        precondition(geometry.stride == 1, "shifted-slab convolution needs stride 1: \(geometry)")
        let kernel = geometry.kernel, padding = geometry.padding
        let paddedHeight = geometry.inputHeight + 2 * padding, paddedWidth = geometry.inputWidth + 2 * padding
        let plane = paddedHeight * paddedWidth
        // Enough planes per chunk that the k − 1 halo planes cost little, and enough chunks to share.
        let planesWanted = max(1, (2 * tuning.tileVoxels + plane - 1) / plane)
        let chunkPlanes = max(1, min(planesWanted, geometry.outputDepth, (geometry.outputDepth + 1) / 2))
        let chunks = (geometry.outputDepth + chunkPlanes - 1) / chunkPlanes
        let slabLength = (chunkPlanes + kernel - 1) * plane + (kernel - 1) * (paddedWidth + 1)
        let groupInputs = geometry.groupInputChannels, groupOutputs = geometry.groupOutputChannels
        let volume = geometry.kernelVolume
        // W_offset[g][offset][o][c] = w[g·Cout/G + o, c, offset]
        let reordered = BufferPool.shared.scratch(geometry.outputChannels * groupInputs * volume)
        defer { BufferPool.shared.release(reordered) }
        for group in 0..<geometry.groups {
            for offset in 0..<volume {
                for outputChannel in 0..<groupOutputs {
                    for channel in 0..<groupInputs {
                        reordered[((group * volume + offset) * groupOutputs + outputChannel) * groupInputs + channel] =
                            weight[((group * groupOutputs + outputChannel) * groupInputs + channel) * volume + offset]
                    }
                }
            }
        }
        let inputPointer = SendableConstPointer(input), weightPointer = SendableConstPointer(UnsafePointer(reordered))
        let biasPointer = bias.map { SendableConstPointer($0) }, outputPointer = SendablePointer(output)
        let items = geometry.batch * geometry.groups * chunks
        tuning.run(items) { _, range in
            let tile = max(1, tuning.tileVoxels)
            let slab = BufferPool.shared.scratch(groupInputs * slabLength)
            let accumulator = BufferPool.shared.scratch(groupOutputs * tile)
            defer { BufferPool.shared.release(slab); BufferPool.shared.release(accumulator) }
            var offsets: [Int] = []
            for kz in 0..<kernel { for ky in 0..<kernel { for kx in 0..<kernel { offsets.append(kz * plane + ky * paddedWidth + kx) } } }
            let outputPlane = geometry.outputHeight * geometry.outputWidth
            for item in range {
                let chunk = item % chunks
                let imageGroup = item / chunks
                let group = imageGroup % geometry.groups
                let image = imageGroup / geometry.groups
                let firstPlane = chunk * chunkPlanes
                let planes = min(chunkPlanes, geometry.outputDepth - firstPlane)
                let inputGroup = inputPointer.pointer
                    + (image * geometry.inputChannels + group * groupInputs) * geometry.inputSpatialCount
                fillSlab(slab, slabLength: slabLength, input: inputGroup, geometry: geometry, firstPaddedPlane: firstPlane,
                         planes: planes + kernel - 1, paddedHeight: paddedHeight, paddedWidth: paddedWidth)
                let outputGroup = outputPointer.pointer + (image * geometry.outputChannels + group * groupOutputs) * geometry.outputSpatialCount
                let positions = planes * plane
                var start = 0
                while start < positions {
                    let count = min(tile, positions - start)
                    for (index, offset) in offsets.enumerated() {
                        BLAS.sgemm(transposeA: false, transposeB: false, m: groupOutputs, n: count, k: groupInputs, alpha: 1,
                                   a: weightPointer.pointer + (group * volume + index) * groupOutputs * groupInputs, lda: groupInputs,
                                   b: slab + start + offset, ldb: slabLength, beta: index == 0 ? 0 : 1, c: accumulator, ldc: count)
                    }
                    // Copy the valid positions of this tile to the output (+ bias).
                    var position = start
                    while position < start + count {
                        let z = position / plane
                        let y = (position - z * plane) / paddedWidth
                        let x = position - z * plane - y * paddedWidth
                        let length = min(paddedWidth - x, start + count - position)
                        if y < geometry.outputHeight && x < geometry.outputWidth {
                            let valid = min(length, geometry.outputWidth - x)
                            let target = outputGroup + (firstPlane + z) * outputPlane + y * geometry.outputWidth + x
                            for outputChannel in 0..<groupOutputs {
                                let source = accumulator + outputChannel * count + (position - start)
                                let destination = target + outputChannel * geometry.outputSpatialCount
                                let shift = biasPointer?.pointer[group * groupOutputs + outputChannel] ?? 0
                                for index in 0..<valid { destination[index] = source[index] + shift }
                            }
                        }
                        position += length
                    }
                    start += count
                }
            }
        }
    }

    /// slab[c][s·Hp·Wp + y·Wp + x] = input[c, firstPaddedPlane + s − p, y − p, x − p] (0 outside),
    /// for s < planes, and zeros up to `slabLength`.
    static func fillSlab(
        _ slab: UnsafeMutablePointer<Float>, slabLength: Int, input: UnsafePointer<Float>, geometry: ConvolutionGeometry,
        firstPaddedPlane: Int, planes: Int, paddedHeight: Int, paddedWidth: Int
    ) {
        let padding = geometry.padding, width = geometry.inputWidth
        let plane = paddedHeight * paddedWidth
        for channel in 0..<geometry.groupInputChannels {
            let target = slab + channel * slabLength
            let source = input + channel * geometry.inputSpatialCount
            for s in 0..<planes {
                let z = firstPaddedPlane + s - padding
                let planeTarget = target + s * plane
                guard z >= 0 && z < geometry.inputDepth else {
                    planeTarget.update(repeating: 0, count: plane)
                    continue
                }
                if padding > 0 { planeTarget.update(repeating: 0, count: padding * paddedWidth) }
                for y in 0..<geometry.inputHeight {
                    let row = planeTarget + (y + padding) * paddedWidth
                    if padding > 0 { row.update(repeating: 0, count: padding) }
                    (row + padding).update(from: source + (z * geometry.inputHeight + y) * width, count: width)
                    if padding > 0 { (row + padding + width).update(repeating: 0, count: padding) }
                }
                if padding > 0 {
                    (planeTarget + (geometry.inputHeight + padding) * paddedWidth).update(repeating: 0, count: padding * paddedWidth)
                }
            }
            (target + planes * plane).update(repeating: 0, count: slabLength - planes * plane)
        }
    }
}

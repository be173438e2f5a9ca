/// The GEMM + col2im input gradient of a convolution, used for stride > 1 (and on request):
///
///   col_tile[K × T] = W_gᵀ[K × Cout/G] · dY_tile[Cout/G × T],   dX += col2im(col_tile)
///
/// Different tiles scatter into overlapping input voxels, so threads must not run tiles whose
/// input footprints overlap. The output depth axis is cut into chunks of at least
/// L = max(1, ⌈k/s⌉ − 1) slices; chunk i reads input depths [z₀·s − p, (z₁−1)·s − p + k), so
/// chunks i and i + 2 are disjoint whenever (L + 1)·s ≥ k. Phase 0 runs all even chunks in
/// parallel, phase 1 all odd ones; within a chunk one worker walks its tiles in order. Images and
/// groups write disjoint channels and run freely.
enum ColumnToImage {
    /// inputGradient (zero-initialised by the caller, N×Cin×D×H×W) += the input gradient.
    static func backwardInput(
        geometry: ConvolutionGeometry, outputGradient: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>, tuning: ConvolutionTuning
    ) {
        let plane = geometry.outputHeight * geometry.outputWidth
        let tileVoxels = min(tuning.tileVoxels, geometry.outputSpatialCount)
        let minimumLength = max(1, (geometry.kernel + geometry.stride - 1) / geometry.stride - 1)
        let chunkCount = max(1, min(geometry.outputDepth / minimumLength, 4 * max(1, Parallel.threadCount)))
        let imageGroups = geometry.batch * geometry.groups
        let gradientPointer = SendableConstPointer(outputGradient), weightPointer = SendableConstPointer(weight)
        let inputGradientPointer = SendablePointer(inputGradient)
        for phase in 0..<2 {
            let chunksInPhase = (chunkCount - phase + 1) / 2
            guard chunksInPhase > 0 else { continue }
            tuning.run(imageGroups * chunksInPhase) { _, range in
                let rows = geometry.columnRows
                let scratch = BufferPool.shared.scratch(rows * tileVoxels)
                defer { BufferPool.shared.release(scratch) }
                let outputSpatial = geometry.outputSpatialCount
                let groupOutputs = geometry.groupOutputChannels
                for item in range {
                    let chunk = 2 * (item % chunksInPhase) + phase
                    let imageGroup = item / chunksInPhase
                    let group = imageGroup % geometry.groups
                    let image = imageGroup / geometry.groups
                    let firstVoxel = geometry.outputDepth * chunk / chunkCount * plane
                    let endVoxel = geometry.outputDepth * (chunk + 1) / chunkCount * plane
                    let inputGroup = inputGradientPointer.pointer
                        + (image * geometry.inputChannels + group * geometry.groupInputChannels) * geometry.inputSpatialCount
                    let gradientGroup = gradientPointer.pointer + (image * geometry.outputChannels + group * groupOutputs) * outputSpatial
                    var start = firstVoxel
                    while start < endVoxel {
                        let count = min(tileVoxels, endVoxel - start)
                        BLAS.sgemm(transposeA: true, transposeB: false, m: rows, n: count, k: groupOutputs,
                                   alpha: 1, a: weightPointer.pointer + group * groupOutputs * rows, lda: rows,
                                   b: gradientGroup + start, ldb: outputSpatial, beta: 0, c: scratch, ldc: count)
                        Im2ColTile.accumulate(columns: scratch, columnStride: count, into: inputGroup,
                                              geometry: geometry, start: start, count: count)
                        start += count
                    }
                }
            }
        }
    }
}

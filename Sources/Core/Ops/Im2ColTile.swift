/// im2col and col2im over a TILE of output voxels, for one image and one channel group.
///
/// A tile is the output voxels with flat indices [start, start + count) in Do×Ho×Wo order. Its
/// column matrix has K = (Cin/G)·k³ rows (channel, kz, ky, kx; the weight's trailing order) and
/// `count` columns, stored row-major with row stride `columnStride`:
///
///   columns[r, t] = input[c, z·s − p + kz, y·s − p + ky, x·s − p + kx]   (0 outside the volume)
///
/// for r = ((c·k + kz)·k + ky)·k + kx and output voxel start + t = (z, y, x). Only a tile is ever
/// materialised (K × tile floats), never the whole-volume matrix (27·C·D·H·W floats: 7 GB for
/// 32 channels at 128³).
///
/// The tile is walked as runs along x within one (z, y) output row; for each run and each
/// (c, kz, ky) the source is one input row, so with stride 1 every column row is a plain memory
/// copy plus zero fill at the borders. Stride 2 gathers every other element.
///
/// Pointers: `input` points at channel 0 of the group of one image (channels are D·H·W apart);
/// the caller guarantees the tile lies inside the output and `columns` holds K × columnStride.
enum Im2ColTile {
    /// columns ← im2col(input) for the tile.
    static func fill(
        columns: UnsafeMutablePointer<Float>, columnStride: Int,
        input: UnsafePointer<Float>, geometry: ConvolutionGeometry, start: Int, count: Int
    ) {
        walk(geometry: geometry, start: start, count: count) { run in
            let destinationBase = columns + run.column
            for channel in 0..<geometry.groupInputChannels {
                let channelBase = input + channel * geometry.inputSpatialCount
                for kz in 0..<geometry.kernel {
                    for ky in 0..<geometry.kernel {
                        let rowBase = ((channel * geometry.kernel + kz) * geometry.kernel + ky) * geometry.kernel
                        let inputZ = run.z * geometry.stride - geometry.padding + kz
                        let inputY = run.y * geometry.stride - geometry.padding + ky
                        let rowInside = inputZ >= 0 && inputZ < geometry.inputDepth && inputY >= 0 && inputY < geometry.inputHeight
                        let source = channelBase + (rowInside ? (inputZ * geometry.inputHeight + inputY) * geometry.inputWidth : 0)
                        for kx in 0..<geometry.kernel {
                            let destination = destinationBase + (rowBase + kx) * columnStride
                            guard rowInside else {
                                destination.update(repeating: 0, count: run.length)
                                continue
                            }
                            let (first, end) = validRange(run: run, kx: kx, geometry: geometry)
                            if first > 0 { destination.update(repeating: 0, count: first) }
                            if end > first {
                                let offset = (run.x + first) * geometry.stride - geometry.padding + kx
                                if geometry.stride == 1 {
                                    (destination + first).update(from: source + offset, count: end - first)
                                } else {
                                    for index in first..<end {
                                        destination[index] = source[offset + (index - first) * geometry.stride]
                                    }
                                }
                            }
                            if end < run.length { (destination + end).update(repeating: 0, count: run.length - end) }
                        }
                    }
                }
            }
        }
    }

    /// inputGradient += col2im(columns) for the tile: the adjoint of `fill` (every column element
    /// is added back to the input voxel it was copied from; padding positions are dropped).
    static func accumulate(
        columns: UnsafePointer<Float>, columnStride: Int,
        into inputGradient: UnsafeMutablePointer<Float>, geometry: ConvolutionGeometry, start: Int, count: Int
    ) {
        walk(geometry: geometry, start: start, count: count) { run in
            let sourceBase = columns + run.column
            for channel in 0..<geometry.groupInputChannels {
                let channelBase = inputGradient + channel * geometry.inputSpatialCount
                for kz in 0..<geometry.kernel {
                    let inputZ = run.z * geometry.stride - geometry.padding + kz
                    guard inputZ >= 0 && inputZ < geometry.inputDepth else { continue }
                    for ky in 0..<geometry.kernel {
                        let inputY = run.y * geometry.stride - geometry.padding + ky
                        guard inputY >= 0 && inputY < geometry.inputHeight else { continue }
                        let rowBase = ((channel * geometry.kernel + kz) * geometry.kernel + ky) * geometry.kernel
                        let target = channelBase + (inputZ * geometry.inputHeight + inputY) * geometry.inputWidth
                        for kx in 0..<geometry.kernel {
                            let source = sourceBase + (rowBase + kx) * columnStride
                            let (first, end) = validRange(run: run, kx: kx, geometry: geometry)
                            guard end > first else { continue }
                            let offset = (run.x + first) * geometry.stride - geometry.padding + kx
                            for index in first..<end {
                                target[offset + (index - first) * geometry.stride] += source[index]
                            }
                        }
                    }
                }
            }
        }
    }

    /// A run of output voxels along x in one output row: (z, y, x..<x+length), stored from column
    /// `column` of the tile.
    struct Run {
        var z: Int
        var y: Int
        var x: Int
        var length: Int
        var column: Int
    }

    /// Calls `body` for each maximal x-run of the tile, in order.
    @inline(__always)
    static func walk(geometry: ConvolutionGeometry, start: Int, count: Int, _ body: (Run) -> Void) {
        let plane = geometry.outputHeight * geometry.outputWidth
        var voxel = start
        let end = start + count
        while voxel < end {
            let z = voxel / plane
            let remainder = voxel - z * plane
            let y = remainder / geometry.outputWidth
            let x = remainder - y * geometry.outputWidth
            let length = min(geometry.outputWidth - x, end - voxel)
            body(Run(z: z, y: y, x: x, length: length, column: voxel - start))
            voxel += length
        }
    }

    /// The run positions [first, end) whose input x = (run.x + i)·s − p + kx lies inside the row.
    @inline(__always)
    static func validRange(run: Run, kx: Int, geometry: ConvolutionGeometry) -> (Int, Int) {
        // x·s − p + kx ≥ 0  ⇔  x ≥ ⌈(p − kx) / s⌉;   x·s − p + kx ≤ W − 1  ⇔  x ≤ ⌊(W − 1 + p − kx) / s⌋.
        let low = geometry.padding - kx
        let firstX = low <= 0 ? 0 : (low + geometry.stride - 1) / geometry.stride
        let high = geometry.inputWidth - 1 + geometry.padding - kx
        let endX = high < 0 ? 0 : high / geometry.stride + 1
        let first = min(max(firstX - run.x, 0), run.length)
        let end = max(min(endX - run.x, run.length), first)
        return (first, end)
    }
}

/// Resampling of N×C×D×H×W tensors to another grid size, with PyTorch's
/// `align_corners = False` convention: output voxel i samples input coordinate
/// (i + ½)·(in/out) − ½, clamped to the grid. Used to bring a crop to a model's working
/// resolution and its outputs back.
public enum VolumeResampling {
    /// Trilinear interpolation (images, probabilities).
    public static func trilinear(_ input: Tensor, depth: Int, height: Int, width: Int) -> Tensor {
        let shape = input.volumeShape
        if shape.depth == depth && shape.height == height && shape.width == width { return input }
        let zs = axisWeights(from: shape.depth, to: depth)
        let ys = axisWeights(from: shape.height, to: height)
        let xs = axisWeights(from: shape.width, to: width)
        var output = Tensor(uninitializedShape: [shape.batch, shape.channels, depth, height, width])
        let planes = shape.batch * shape.channels
        let inputPlane = shape.spatialCount, outputPlane = depth * height * width
        let source = SendableConstPointer(input.withUnsafeBufferPointer { $0.baseAddress! })
        output.withUnsafeMutableBufferPointer { out in
            let target = SendablePointer(out.baseAddress!)
            Parallel.forEachChunk(planes * depth) { range in
                for job in range {
                    let plane = job / depth, z = job % depth
                    let (z0, z1, wz) = zs[z]
                    let base = source.pointer + plane * inputPlane
                    let destination = target.pointer + plane * outputPlane + z * height * width
                    for y in 0..<height {
                        let (y0, y1, wy) = ys[y]
                        let r00 = base + (z0 * shape.height + y0) * shape.width
                        let r01 = base + (z0 * shape.height + y1) * shape.width
                        let r10 = base + (z1 * shape.height + y0) * shape.width
                        let r11 = base + (z1 * shape.height + y1) * shape.width
                        for x in 0..<width {
                            let (x0, x1, wx) = xs[x]
                            let c00 = r00[x0] + (r00[x1] - r00[x0]) * wx
                            let c01 = r01[x0] + (r01[x1] - r01[x0]) * wx
                            let c10 = r10[x0] + (r10[x1] - r10[x0]) * wx
                            let c11 = r11[x0] + (r11[x1] - r11[x0]) * wx
                            let c0 = c00 + (c01 - c00) * wy
                            let c1 = c10 + (c11 - c10) * wy
                            destination[y * width + x] = c0 + (c1 - c0) * wz
                        }
                    }
                }
            }
        }
        return output
    }

    /// Nearest-neighbour resampling of a label grid (x fastest, `dims` = [nx, ny, nz]).
    public static func nearest<T>(_ labels: [T], dims: [Int], to size: [Int]) -> [T] {
        if dims == size { return labels }
        let maps = (0..<3).map { axis in
            (0..<size[axis]).map { min(dims[axis] - 1, Int((Double($0) + 0.5) * Double(dims[axis]) / Double(size[axis]))) }
        }
        var result: [T] = []
        result.reserveCapacity(size.reduce(1, *))
        for z in maps[2] {
            for y in maps[1] {
                let row = dims[0] * (y + dims[1] * z)
                for x in maps[0] { result.append(labels[row + x]) }
            }
        }
        return result
    }

    /// Output size for resampling `size` voxels of `spacing` mm to `targetSpacing` mm (≥ 1).
    public static func size(_ size: Int, spacing: Double, targetSpacing: Double) -> Int {
        max(1, Int((Double(size) * spacing / targetSpacing).rounded()))
    }

    /// For each output index: the two input indices and the weight of the second.
    private static func axisWeights(from input: Int, to output: Int) -> [(Int, Int, Float)] {
        let scale = Double(input) / Double(output)
        return (0..<output).map { index in
            let coordinate = max(0, (Double(index) + 0.5) * scale - 0.5)
            let lower = min(Int(coordinate), input - 1)
            let upper = min(lower + 1, input - 1)
            return (lower, upper, Float(coordinate - Double(lower)))
        }
    }
}

/// An axis-aligned box of voxels [lower, upper] (inclusive) in a grid.
struct BoundingBox {
    var lower: [Int]
    var upper: [Int]

    init(enclosing indices: [Int], dims: [Int]) {
        let (nx, ny) = (dims[0], dims[1])
        var (lowX, lowY, lowZ) = (dims[0], dims[1], dims[2])
        var (highX, highY, highZ) = (-1, -1, -1)
        for index in indices {
            let x = index % nx, y = (index / nx) % ny, z = index / (nx * ny)
            lowX = min(lowX, x); highX = max(highX, x)
            lowY = min(lowY, y); highY = max(highY, y)
            lowZ = min(lowZ, z); highZ = max(highZ, z)
        }
        lower = [lowX, lowY, lowZ]
        upper = [highX, highY, highZ]
    }

    var sizes: [Int] { (0..<3).map { upper[$0] - lower[$0] + 1 } }

    func localIndex(ofGlobal index: Int, dims: [Int]) -> Int {
        let x = index % dims[0] - lower[0]
        let y = (index / dims[0]) % dims[1] - lower[1]
        let z = index / (dims[0] * dims[1]) - lower[2]
        return x + (upper[0] - lower[0] + 1) * (y + (upper[1] - lower[1] + 1) * z)
    }
}

/// Exact Euclidean distance transform with anisotropic spacing (Felzenszwalb & Huttenlocher,
/// "Distance Transforms of Sampled Functions", 2012): three separable passes of the 1D lower
/// envelope of parabolas. O(voxels).
enum EuclideanDistanceTransform {
    /// Squared distance in mm² from every voxel of `box` to the nearest feature voxel (flat
    /// global indices, all inside the box), as a box-local array, x fastest.
    static func squaredDistances(toFeatures features: [Int], box: BoundingBox, dims: [Int], spacing: [Double]) -> [Double] {
        let sizes = box.sizes
        let far = 1e30
        var field = [Double](repeating: far, count: sizes.reduce(1, *))
        for feature in features { field[box.localIndex(ofGlobal: feature, dims: dims)] = 0 }
        let strides = [1, sizes[0], sizes[0] * sizes[1]]
        for axis in 0..<3 {
            let length = sizes[axis]
            guard length > 1 else { continue }
            let weight = spacing[axis] * spacing[axis]
            let others = (0..<3).filter { $0 != axis }
            var line = [Double](repeating: 0, count: length)
            var output = [Double](repeating: 0, count: length)
            var vertices = [Int](repeating: 0, count: length)
            var boundaries = [Double](repeating: 0, count: length + 1)
            for b in 0..<sizes[others[1]] {
                for a in 0..<sizes[others[0]] {
                    let start = a * strides[others[0]] + b * strides[others[1]]
                    for i in 0..<length { line[i] = field[start + i * strides[axis]] }
                    transform1D(line, weight: weight, output: &output, vertices: &vertices, boundaries: &boundaries)
                    for i in 0..<length { field[start + i * strides[axis]] = output[i] }
                }
            }
        }
        return field
    }

    /// d(q) = min_p weight·(q − p)² + f(p).
    private static func transform1D(_ f: [Double], weight: Double, output: inout [Double], vertices: inout [Int], boundaries: inout [Double]) {
        let n = f.count
        var k = 0
        vertices[0] = 0
        boundaries[0] = -.infinity
        boundaries[1] = .infinity
        for q in 1..<n {
            var s: Double
            repeat {
                let v = vertices[k]
                s = ((f[q] + weight * Double(q * q)) - (f[v] + weight * Double(v * v))) / (2 * weight * Double(q - v))
                if s <= boundaries[k] { k -= 1 } else { break }
            } while k >= 0
            k += 1
            vertices[k] = q
            boundaries[k] = s
            boundaries[k + 1] = .infinity
        }
        k = 0
        for q in 0..<n {
            while boundaries[k + 1] < Double(q) { k += 1 }
            let v = vertices[k]
            output[q] = weight * Double((q - v) * (q - v)) + f[v]
        }
    }
}

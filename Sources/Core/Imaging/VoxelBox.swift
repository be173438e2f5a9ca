/// An axis-aligned box of voxels in a 3D grid: `origin` (x, y, z) and `size` (nx, ny, nz).
public struct VoxelBox: Sendable, Equatable, Codable, CustomStringConvertible {
    public var origin: [Int]
    public var size: [Int]

    public init(origin: [Int], size: [Int]) {
        precondition(origin.count == 3 && size.count == 3)
        self.origin = origin
        self.size = size
    }

    public var voxelCount: Int { size.reduce(1, *) }
    public var description: String { "\(size[0])×\(size[1])×\(size[2]) at (\(origin[0]), \(origin[1]), \(origin[2]))" }

    /// The smallest box holding every voxel that is non-zero in any of `volumes` (the brain),
    /// grown by `margin` voxels and clipped to the grid; nil when all are empty.
    public static func nonZero(in volumes: [Volume], margin: Int = 0) -> VoxelBox? {
        guard let dims = volumes.first?.dims else { return nil }
        var lower = dims, upper = [-1, -1, -1]
        let (nx, ny, nz) = (dims[0], dims[1], dims[2])
        for volume in volumes {
            volume.voxels.withUnsafeBufferPointer { values in
                for z in 0..<nz {
                    for y in 0..<ny {
                        let row = nx * (y + ny * z)
                        var first = -1, last = -1
                        for x in 0..<nx where values[row + x] != 0 {
                            if first < 0 { first = x }
                            last = x
                        }
                        guard first >= 0 else { continue }
                        lower[0] = min(lower[0], first); upper[0] = max(upper[0], last)
                        lower[1] = min(lower[1], y); upper[1] = max(upper[1], y)
                        lower[2] = min(lower[2], z); upper[2] = max(upper[2], z)
                    }
                }
            }
        }
        guard upper[0] >= 0 else { return nil }
        let origin = (0..<3).map { max(0, lower[$0] - margin) }
        let end = (0..<3).map { min(dims[$0] - 1, upper[$0] + margin) }
        return VoxelBox(origin: origin, size: (0..<3).map { end[$0] - origin[$0] + 1 })
    }

    /// Copies the box out of a grid of `dims` (x fastest).
    public func crop<T>(_ values: [T], dims: [Int]) -> [T] {
        precondition(values.count == dims.reduce(1, *))
        var result: [T] = []
        result.reserveCapacity(voxelCount)
        for z in origin[2]..<(origin[2] + size[2]) {
            for y in origin[1]..<(origin[1] + size[1]) {
                let start = origin[0] + dims[0] * (y + dims[1] * z)
                result.append(contentsOf: values[start..<(start + size[0])])
            }
        }
        return result
    }

    /// Writes `values` (the box's contents, x fastest) into a grid of `dims` filled with `background`.
    public func paste<T>(_ values: [T], into dims: [Int], background: T) -> [T] {
        precondition(values.count == voxelCount)
        var result = [T](repeating: background, count: dims.reduce(1, *))
        var source = 0
        for z in origin[2]..<(origin[2] + size[2]) {
            for y in origin[1]..<(origin[1] + size[1]) {
                let start = origin[0] + dims[0] * (y + dims[1] * z)
                result.replaceSubrange(start..<(start + size[0]), with: values[source..<(source + size[0])])
                source += size[0]
            }
        }
        return result
    }
}

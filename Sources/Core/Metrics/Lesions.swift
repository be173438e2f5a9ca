/// The lesions of a binary mask: its 26-connected components (`ConnectedComponents`), each
/// with its voxels. Lesion k (0-based) is the component whose first voxel comes k-th in flat
/// order (x fastest); `voxels[k]` lists its flat indices in ascending order.
public struct Lesions: Sendable, Equatable {
    public let dims: [Int]
    /// 0 for background, k + 1 for a voxel of lesion k; one entry per voxel of the grid.
    public let identifiers: [Int]
    /// Flat indices of each lesion's voxels, ascending.
    public let voxels: [[Int]]

    /// The lesions of `mask` (non-zero = inside) over the grid `dims` = [nx, ny, nz].
    public init(mask: [UInt8], dims: [Int]) {
        precondition(dims.count == 3 && mask.count == dims.reduce(1, *), "mask does not cover the grid \(dims)")
        let components = ConnectedComponents.label(mask.map { $0 != 0 }, dims: dims)
        var voxels = components.sizes.map { size -> [Int] in
            var list: [Int] = []
            list.reserveCapacity(size)
            return list
        }
        components.identifiers.withUnsafeBufferPointer { identifiers in
            for index in 0..<identifiers.count where identifiers[index] != 0 { voxels[identifiers[index] - 1].append(index) }
        }
        self.dims = dims
        identifiers = components.identifiers
        self.voxels = voxels
    }

    public var count: Int { voxels.count }

    /// Voxel count of each lesion.
    public var sizes: [Int] { voxels.map(\.count) }
}

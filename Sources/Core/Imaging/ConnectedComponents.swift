/// Connected components of a binary 3D mask with 26-connectivity.
public enum ConnectedComponents {
    /// `identifiers[i]` is 0 for background, else 1…k; `sizes[k − 1]` is component k's voxel count.
    public static func label(_ mask: [Bool], dims: [Int]) -> (identifiers: [Int], sizes: [Int]) {
        let (nx, ny, nz) = (dims[0], dims[1], dims[2])
        var identifiers = [Int](repeating: 0, count: mask.count)
        var sizes: [Int] = []
        var stack: [Int] = []
        for start in mask.indices where mask[start] && identifiers[start] == 0 {
            let identifier = sizes.count + 1
            var size = 0
            identifiers[start] = identifier
            stack.append(start)
            while let index = stack.popLast() {
                size += 1
                let x = index % nx, y = (index / nx) % ny, z = index / (nx * ny)
                for dz in -1...1 where z + dz >= 0 && z + dz < nz {
                    for dy in -1...1 where y + dy >= 0 && y + dy < ny {
                        for dx in -1...1 where x + dx >= 0 && x + dx < nx {
                            let neighbour = index + dx + nx * (dy + ny * dz)
                            if mask[neighbour] && identifiers[neighbour] == 0 {
                                identifiers[neighbour] = identifier
                                stack.append(neighbour)
                            }
                        }
                    }
                }
            }
            sizes.append(size)
        }
        return (identifiers, sizes)
    }
}

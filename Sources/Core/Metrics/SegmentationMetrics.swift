/// Overlap and surface-distance metrics of binary masks with the BraTS conventions
/// (MODELS.md "Metrics"), matching medpy's `dc`, `hd95`, `sensitivity` and `specificity`.
///
/// Masks are 0/1 bytes over a grid `dims` = [nx, ny, nz], x fastest; `spacing` in mm.
public enum SegmentationMetrics {
    /// HD95 when exactly one mask is empty: the diagonal of a 240×240×155 mm grid.
    public static let emptyMaskDistance = 373.13

    /// Dice = 2|P∩G| / (|P|+|G|); 1 when both are empty, 0 when exactly one is.
    public static func dice(_ prediction: [UInt8], _ truth: [UInt8]) -> Double {
        let counts = overlap(prediction, truth)
        if counts.predicted + counts.truth == 0 { return 1 }
        return 2 * Double(counts.both) / Double(counts.predicted + counts.truth)
    }

    /// |P∩G| / |G|; 1 when both are empty, 0 when only G is.
    public static func sensitivity(_ prediction: [UInt8], _ truth: [UInt8]) -> Double {
        let counts = overlap(prediction, truth)
        if counts.truth == 0 { return counts.predicted == 0 ? 1 : 0 }
        return Double(counts.both) / Double(counts.truth)
    }

    /// |¬P∩¬G| / |¬G| over the whole grid; 1 when G covers the grid.
    public static func specificity(_ prediction: [UInt8], _ truth: [UInt8]) -> Double {
        let counts = overlap(prediction, truth)
        let negatives = prediction.count - counts.truth
        if negatives == 0 { return 1 }
        let trueNegatives = prediction.count - counts.predicted - counts.truth + counts.both
        return Double(trueNegatives) / Double(negatives)
    }

    /// The 95th percentile (linear interpolation, as numpy) of the pooled directed distances
    /// from each surface voxel of one mask to the nearest surface voxel of the other, both ways.
    /// A surface voxel is a mask voxel with a 6-neighbour outside the mask or the grid. 0 when
    /// both masks are empty; `emptyMaskDistance` when exactly one is.
    public static func hausdorff95(_ prediction: [UInt8], _ truth: [UInt8], dims: [Int], spacing: [Double]) -> Double {
        precondition(dims.count == 3 && spacing.count == 3 && prediction.count == dims.reduce(1, *) && truth.count == prediction.count)
        let predictedSurface = surface(of: prediction, dims: dims)
        let truthSurface = surface(of: truth, dims: dims)
        switch (predictedSurface.isEmpty, truthSurface.isEmpty) {
        case (true, true): return 0
        case (true, false), (false, true): return emptyMaskDistance
        default: break
        }
        // Distances are exact within the box holding both surfaces (every nearest feature is inside it).
        let box = BoundingBox(enclosing: predictedSurface + truthSurface, dims: dims)
        var distances = directedDistances(from: predictedSurface, to: truthSurface, box: box, dims: dims, spacing: spacing)
        distances += directedDistances(from: truthSurface, to: predictedSurface, box: box, dims: dims, spacing: spacing)
        return percentile(distances, 95)
    }

    /// numpy's default (linear) percentile.
    public static func percentile(_ values: [Double], _ q: Double) -> Double {
        precondition(!values.isEmpty)
        let sorted = values.sorted()
        let position = q / 100 * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down))
        let upper = min(lower + 1, sorted.count - 1)
        let fraction = position - Double(lower)
        return sorted[lower] + (sorted[upper] - sorted[lower]) * fraction
    }

    // MARK: - Internals

    private static func overlap(_ prediction: [UInt8], _ truth: [UInt8]) -> (predicted: Int, truth: Int, both: Int) {
        precondition(prediction.count == truth.count, "masks of different sizes")
        var predicted = 0, actual = 0, both = 0
        prediction.withUnsafeBufferPointer { p in
            truth.withUnsafeBufferPointer { g in
                for index in 0..<p.count {
                    let a = Int(p[index] != 0 ? 1 : 0), b = Int(g[index] != 0 ? 1 : 0)
                    predicted += a
                    actual += b
                    both += a & b
                }
            }
        }
        return (predicted, actual, both)
    }

    /// Flat indices of surface voxels.
    static func surface(of mask: [UInt8], dims: [Int]) -> [Int] {
        let (nx, ny, nz) = (dims[0], dims[1], dims[2])
        var result: [Int] = []
        mask.withUnsafeBufferPointer { m in
            for z in 0..<nz {
                for y in 0..<ny {
                    let row = nx * (y + ny * z)
                    for x in 0..<nx where m[row + x] != 0 {
                        let index = row + x
                        let interior = x > 0 && x < nx - 1 && y > 0 && y < ny - 1 && z > 0 && z < nz - 1
                            && m[index - 1] != 0 && m[index + 1] != 0 && m[index - nx] != 0 && m[index + nx] != 0
                            && m[index - nx * ny] != 0 && m[index + nx * ny] != 0
                        if !interior { result.append(index) }
                    }
                }
            }
        }
        return result
    }

    private static func directedDistances(from sources: [Int], to targets: [Int], box: BoundingBox, dims: [Int], spacing: [Double]) -> [Double] {
        let squared = EuclideanDistanceTransform.squaredDistances(toFeatures: targets, box: box, dims: dims, spacing: spacing)
        return sources.map { squared[box.localIndex(ofGlobal: $0, dims: dims)].squareRoot() }
    }
}

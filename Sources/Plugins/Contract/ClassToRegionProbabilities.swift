import Core

/// BraTS label classes to evaluation regions: a network that outputs softmax probabilities
/// over (background, NCR/NET, ED, ET) is turned into region probabilities [WT, TC, ET] by
/// P_WT = p1 + p2 + p3, P_TC = p1 + p3, P_ET = p3 (MODELS.md, the cascade).
public enum ClassToRegionProbabilities {
    /// Region probabilities [WT, TC, ET] from class probabilities (N×4×… → N×3×…).
    public static func convert(_ p: Tensor) -> Tensor {
        let shape = p.volumeShape
        precondition(shape.channels == 4, "expected 4 class channels, got \(shape)")
        var regions = Tensor(uninitializedShape: [shape.batch, 3, shape.depth, shape.height, shape.width])
        let n = shape.spatialCount
        p.withUnsafeBufferPointer { source in
            regions.withUnsafeMutableBufferPointer { target in
                for sample in 0..<shape.batch {
                    let s = source.baseAddress! + sample * 4 * n
                    let t = target.baseAddress! + sample * 3 * n
                    for i in 0..<n {
                        let (p1, p2, p3) = (s[n + i], s[2 * n + i], s[3 * n + i])
                        t[i] = p1 + p2 + p3
                        t[n + i] = p1 + p3
                        t[2 * n + i] = p3
                    }
                }
            }
        }
        return regions
    }
}

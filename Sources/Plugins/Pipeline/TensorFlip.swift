import Core

extension Tensor {
    /// The N×C×D×H×W tensor mirrored along height (y) and/or width (x). An involution.
    public func flipped(height flipHeight: Bool, width flipWidth: Bool) -> Tensor {
        guard flipHeight || flipWidth else { return self }
        let shape = volumeShape
        var result = Tensor(uninitializedShape: self.shape)
        withUnsafeBufferPointer { source in
            result.withUnsafeMutableBufferPointer { target in
                let rows = shape.batch * shape.channels * shape.depth
                for row in 0..<rows {
                    for y in 0..<shape.height {
                        let sourceY = flipHeight ? shape.height - 1 - y : y
                        let s = source.baseAddress! + (row * shape.height + sourceY) * shape.width
                        let t = target.baseAddress! + (row * shape.height + y) * shape.width
                        if flipWidth {
                            for x in 0..<shape.width { t[x] = s[shape.width - 1 - x] }
                        } else {
                            t.update(from: s, count: shape.width)
                        }
                    }
                }
            }
        }
        return result
    }
}

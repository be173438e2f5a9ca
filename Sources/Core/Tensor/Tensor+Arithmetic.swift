/// Elementwise arithmetic and reductions on whole tensors (no autograd: these are the building
/// blocks kernels, losses and optimisers use). Shapes must match exactly; there is no
/// broadcasting.
extension Tensor {
    /// self += other.
    public mutating func add(_ other: Tensor) {
        precondition(shape == other.shape, "add: \(shape) vs \(other.shape)")
        other.withUnsafeBufferPointer { source in
            withUnsafeMutableBufferPointer { target in
                for index in 0..<target.count { target[index] += source[index] }
            }
        }
    }

    /// self += scale × other.
    public mutating func add(_ other: Tensor, scaledBy scale: Float) {
        precondition(shape == other.shape, "add: \(shape) vs \(other.shape)")
        other.withUnsafeBufferPointer { source in
            withUnsafeMutableBufferPointer { target in
                for index in 0..<target.count { target[index] += scale * source[index] }
            }
        }
    }

    /// self *= factor.
    public mutating func scale(by factor: Float) {
        withUnsafeMutableBufferPointer { target in
            for index in 0..<target.count { target[index] *= factor }
        }
    }

    /// Sets every element to `value`.
    public mutating func fill(_ value: Float) {
        withUnsafeMutableBufferPointer { $0.update(repeating: value) }
    }

    /// Applies `transform` to every element, returning a new tensor.
    public func map(_ transform: (Float) -> Float) -> Tensor {
        var result = Tensor(uninitializedShape: shape)
        withUnsafeBufferPointer { source in
            result.withUnsafeMutableBufferPointer { target in
                for index in 0..<source.count { target[index] = transform(source[index]) }
            }
        }
        return result
    }

    /// Combines two tensors of the same shape element by element.
    public func zipMap(_ other: Tensor, _ combine: (Float, Float) -> Float) -> Tensor {
        precondition(shape == other.shape, "zipMap: \(shape) vs \(other.shape)")
        var result = Tensor(uninitializedShape: shape)
        withUnsafeBufferPointer { left in
            other.withUnsafeBufferPointer { right in
                result.withUnsafeMutableBufferPointer { target in
                    for index in 0..<left.count { target[index] = combine(left[index], right[index]) }
                }
            }
        }
        return result
    }

    public static func + (left: Tensor, right: Tensor) -> Tensor { left.zipMap(right, +) }
    public static func - (left: Tensor, right: Tensor) -> Tensor { left.zipMap(right, -) }
    public static func * (left: Tensor, right: Tensor) -> Tensor { left.zipMap(right, *) }
    public static func * (left: Tensor, right: Float) -> Tensor { left.map { $0 * right } }

    /// Sum of all elements, accumulated in Double.
    public func sum() -> Double {
        withUnsafeBufferPointer { values in
            var total = 0.0
            for value in values { total += Double(value) }
            return total
        }
    }

    /// Sum of element-wise products with `other`, accumulated in Double.
    public func dot(_ other: Tensor) -> Double {
        precondition(count == other.count, "dot: \(shape) vs \(other.shape)")
        return withUnsafeBufferPointer { left in
            other.withUnsafeBufferPointer { right in
                var total = 0.0
                for index in 0..<left.count { total += Double(left[index]) * Double(right[index]) }
                return total
            }
        }
    }

    /// Largest absolute element-wise difference (for tests).
    public func maximumAbsoluteDifference(_ other: Tensor) -> Float {
        precondition(count == other.count, "compare: \(shape) vs \(other.shape)")
        return withUnsafeBufferPointer { left in
            other.withUnsafeBufferPointer { right in
                var worst: Float = 0
                for index in 0..<left.count { worst = max(worst, abs(left[index] - right[index])) }
                return worst
            }
        }
    }

    /// A tensor of normally distributed values (mean 0, standard deviation `scale`).
    public static func randomNormal(shape: [Int], scale: Float = 1, random: inout SeededRandom) -> Tensor {
        var result = Tensor(uninitializedShape: shape)
        result.withUnsafeMutableBufferPointer { target in
            for index in 0..<target.count { target[index] = random.nextNormal() * scale }
        }
        return result
    }

    /// A tensor of uniformly distributed values in [low, high).
    public static func randomUniform(shape: [Int], low: Float = 0, high: Float = 1, random: inout SeededRandom) -> Tensor {
        var result = Tensor(uninitializedShape: shape)
        result.withUnsafeMutableBufferPointer { target in
            for index in 0..<target.count { target[index] = low + (high - low) * random.nextUniform() }
        }
        return result
    }
}

/// Element-wise sum of two tensors of the same shape: y = a + b; ∂y/∂a = ∂y/∂b = 1.
///
/// This file is the pattern for every op: kernels (here the `+` on `Tensor`) and the
/// differentiable wrapper on `ForwardContext` side by side.
extension ForwardContext {
    ///
    /// Without a tape (inference) the sum overwrites the storage of an operand that nothing else
    /// holds (a residual branch just computed, say), so the pass holds one tensor fewer.
    public func add(_ a: consuming Variable, _ b: consuming Variable) -> Variable {
        precondition(a.shape == b.shape, "add: \(a.shape) vs \(b.shape)")
        guard tape == nil else { return record(a.value + b.value, inputs: [a, b]) { gradient in [gradient, gradient] } }
        var left = (consume a).value, right = (consume b).value
        let sum: Tensor
        if right.hasUniqueStorage() {
            right.add(left)
            sum = right
        } else if left.hasUniqueStorage() {
            left.add(right)
            sum = left
        } else {
            sum = left + right
        }
        OperationProfile.markForward(#function)
        return Variable(sum)
    }

    /// Element-wise product: y = a ⊙ b; ∂L/∂a = g ⊙ b, ∂L/∂b = g ⊙ a.
    public func multiply(_ a: Variable, _ b: Variable) -> Variable {
        precondition(a.shape == b.shape, "multiply: \(a.shape) vs \(b.shape)")
        let left = a.value
        let right = b.value
        return record(left * right, inputs: [a, b]) { gradient in [gradient * right, gradient * left] }
    }

    /// y = s · a for a constant s.
    public func scale(_ a: Variable, by factor: Float) -> Variable {
        record(a.value * factor, inputs: [a]) { gradient in [gradient * factor] }
    }

    /// The same values under another shape with the same element count.
    public func reshape(_ a: Variable, to shape: [Int]) -> Variable {
        let original = a.shape
        return record(a.value.reshaped(shape), inputs: [a]) { gradient in [gradient.reshaped(original)] }
    }

    /// Sum of all elements as a 1-element tensor of shape [1].
    public func sum(_ a: Variable) -> Variable {
        let shape = a.shape
        return record(Tensor(shape: [1], values: [Float(a.value.sum())]), inputs: [a]) { gradient in
            [Tensor(shape: shape, repeating: gradient[flat: 0])]
        }
    }
}

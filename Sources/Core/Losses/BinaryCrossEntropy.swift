import Foundation

/// Binary cross-entropy computed from logits x (never from probabilities, which lose precision
/// near 0 and 1), mean over all M elements:
///
///     L = (1/M) Σ [max(x, 0) − x·g + log(1 + exp(−|x|))]
///
/// This is −g·log σ(x) − (1−g)·log(1−σ(x)) rewritten so that exp never overflows (the same
/// form as PyTorch's `binary_cross_entropy_with_logits`); it is finite for any finite x,
/// including |x| in the hundreds. Gradients: ∂L/∂x = (σ(x) − g)/M, ∂L/∂g = −x/M.
/// The target may be soft (values in [0, 1]). Shapes must match (`precondition`).
public enum BinaryCrossEntropy {
    /// σ(x) without overflow for either sign.
    @inline(__always)
    public static func sigmoid(_ x: Float) -> Float {
        if x >= 0 { return 1 / (1 + expf(-x)) }
        let e = expf(x)
        return e / (1 + e)
    }

    /// max(x, 0) − x·g + log(1 + exp(−|x|)) for one element.
    @inline(__always)
    static func elementLoss(logit x: Float, target g: Float) -> Double {
        Double(max(x, 0)) - Double(x) * Double(g) + Double(log1pf(expf(-abs(x))))
    }

    /// The mean loss over all elements, accumulated in Double.
    public static func loss(logits: Tensor, target: Tensor) -> Double {
        precondition(logits.shape == target.shape, "binary cross-entropy: logits \(logits.shape) vs target \(target.shape)")
        precondition(logits.count > 0, "binary cross-entropy: empty input")
        return logits.withUnsafeBufferPointer { x in
            target.withUnsafeBufferPointer { g in
                var total = 0.0
                for index in 0..<x.count { total += elementLoss(logit: x[index], target: g[index]) }
                return total / Double(x.count)
            }
        }
    }

    /// ∂L/∂x = (σ(x) − g)/M times `outputGradient`.
    static func logitGradient(logits: Tensor, target: Tensor, outputGradient: Float) -> Tensor {
        var result = Tensor(uninitializedShape: logits.shape)
        let factor = outputGradient / Float(logits.count)
        logits.withUnsafeBufferPointer { x in
            target.withUnsafeBufferPointer { g in
                result.withUnsafeMutableBufferPointer { dx in
                    for index in 0..<x.count { dx[index] = factor * (sigmoid(x[index]) - g[index]) }
                }
            }
        }
        return result
    }

    /// ∂L/∂g = −x/M times `outputGradient`.
    static func targetGradient(logits: Tensor, outputGradient: Float) -> Tensor {
        logits * (-outputGradient / Float(logits.count))
    }
}

extension ForwardContext {
    /// Mean binary cross-entropy of `logits` against `target` (same shape, any rank), as a
    /// shape-[1] variable. See `BinaryCrossEntropy` for the stable form and the gradients.
    public func binaryCrossEntropyWithLogits(logits: Variable, target: Variable) -> Variable {
        let x = logits.value, g = target.value
        let loss = BinaryCrossEntropy.loss(logits: x, target: g)
        let withTargetGradient = target.node != nil
        return record(Tensor(shape: [1], values: [Float(loss)]), inputs: [logits, target]) { gradient in
            let scale = gradient[flat: 0]
            return [BinaryCrossEntropy.logitGradient(logits: x, target: g, outputGradient: scale),
                    withTargetGradient ? BinaryCrossEntropy.targetGradient(logits: x, outputGradient: scale) : nil]
        }
    }
}

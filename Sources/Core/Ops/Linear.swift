/// Fully connected layer (the VAE branch's two linear maps) and flattening.
///
/// y = x·Wᵀ + b with x [N, in], W [out, in] (PyTorch `nn.Linear` layout, so imported weights need
/// no transpose), b [out]. Backward: ∂L/∂x = G·W, ∂L/∂W = Gᵀ·x, ∂L/∂b = Σ_n G — three GEMMs
/// through `BLAS.sgemm` (OpenBLAS's own threads; no engine threads here).
///
/// Failure modes: shape mismatches or zero-sized dimensions stop with a precondition failure.
public enum LinearKernels {
    /// y = x·Wᵀ (+ b).
    public static func linear(_ input: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        let (batch, inputs, outputs) = checkShapes(input, weight: weight, bias: bias)
        var output: Tensor
        if let bias {
            // Start from b in every row and accumulate the product (beta = 1).
            output = Tensor(uninitializedShape: [batch, outputs])
            bias.withUnsafeBufferPointer { b in
                output.withUnsafeMutableBufferPointer { y in
                    for row in 0..<batch { (y.baseAddress! + row * outputs).update(from: b.baseAddress!, count: outputs) }
                }
            }
        } else {
            output = Tensor(shape: [batch, outputs])
        }
        input.withUnsafeBufferPointer { x in
            weight.withUnsafeBufferPointer { w in
                output.withUnsafeMutableBufferPointer { y in
                    BLAS.sgemm(transposeA: false, transposeB: true, m: batch, n: outputs, k: inputs, alpha: 1,
                               a: x.baseAddress!, lda: inputs, b: w.baseAddress!, ldb: inputs,
                               beta: 1, c: y.baseAddress!, ldc: outputs)
                }
            }
        }
        return output
    }

    /// Gradients of `linear` given ∂L/∂y ([N, out]); the bias gradient is nil when there is no bias.
    public static func linearBackward(
        _ gradient: Tensor, input: Tensor, weight: Tensor, hasBias: Bool
    ) -> (input: Tensor, weight: Tensor, bias: Tensor?) {
        let batch = input.shape[0], inputs = input.shape[1], outputs = weight.shape[0]
        precondition(gradient.shape == [batch, outputs], "linear backward: gradient \(gradient.shape), expected [\(batch), \(outputs)]")
        var inputGradient = Tensor(uninitializedShape: [batch, inputs])
        var weightGradient = Tensor(uninitializedShape: [outputs, inputs])
        gradient.withUnsafeBufferPointer { g in
            weight.withUnsafeBufferPointer { w in
                inputGradient.withUnsafeMutableBufferPointer { dx in
                    // [N, in] = G [N, out] · W [out, in]
                    BLAS.sgemm(transposeA: false, transposeB: false, m: batch, n: inputs, k: outputs, alpha: 1,
                               a: g.baseAddress!, lda: outputs, b: w.baseAddress!, ldb: inputs,
                               beta: 0, c: dx.baseAddress!, ldc: inputs)
                }
            }
            input.withUnsafeBufferPointer { x in
                weightGradient.withUnsafeMutableBufferPointer { dw in
                    // [out, in] = Gᵀ [out, N] · x [N, in]
                    BLAS.sgemm(transposeA: true, transposeB: false, m: outputs, n: inputs, k: batch, alpha: 1,
                               a: g.baseAddress!, lda: outputs, b: x.baseAddress!, ldb: inputs,
                               beta: 0, c: dw.baseAddress!, ldc: inputs)
                }
            }
        }
        guard hasBias else { return (inputGradient, weightGradient, nil) }
        var biasGradient = Tensor(shape: [outputs])
        gradient.withUnsafeBufferPointer { g in
            biasGradient.withUnsafeMutableBufferPointer { db in
                for row in 0..<batch {
                    let gradientRow = g.baseAddress! + row * outputs
                    for column in 0..<outputs { db[column] += gradientRow[column] }
                }
            }
        }
        return (inputGradient, weightGradient, biasGradient)
    }

    private static func checkShapes(_ input: Tensor, weight: Tensor, bias: Tensor?) -> (Int, Int, Int) {
        precondition(input.shape.count == 2, "linear: input must be [N, in], got \(input.shape) (flatten first)")
        precondition(weight.shape.count == 2 && weight.shape[1] == input.shape[1],
                     "linear: weight \(weight.shape) does not match input \(input.shape); expected [out, \(input.shape[1])]")
        precondition(input.shape[0] > 0 && input.shape[1] > 0 && weight.shape[0] > 0, "linear: zero-sized \(input.shape) × \(weight.shape)")
        if let bias { precondition(bias.shape == [weight.shape[0]], "linear: bias \(bias.shape), expected [\(weight.shape[0])]") }
        return (input.shape[0], input.shape[1], weight.shape[0])
    }
}

extension ForwardContext {
    /// y = x·Wᵀ + b: x [N, in], W [out, in] (PyTorch layout), b [out] or nil.
    public func linear(_ x: Variable, weight: Variable, bias: Variable?) -> Variable {
        let input = x.value, weightValue = weight.value
        let output = LinearKernels.linear(input, weight: weightValue, bias: bias?.value)
        let hasBias = bias != nil
        let inputs = hasBias ? [x, weight, bias!] : [x, weight]
        return record(output, inputs: inputs) { gradient in
            let gradients = LinearKernels.linearBackward(gradient, input: input, weight: weightValue, hasBias: hasBias)
            return hasBias ? [gradients.input, gradients.weight, gradients.bias] : [gradients.input, gradients.weight]
        }
    }

    /// [N, d₁, d₂, …] → [N, d₁·d₂·…] (row-major, so no data moves).
    public func flatten(_ x: Variable) -> Variable {
        precondition(!x.shape.isEmpty, "flatten: scalar input")
        return reshape(x, to: [x.shape[0], x.shape.dropFirst().reduce(1, *)])
    }
}

import Core
import Testing
import TestSupport

@Suite("Tape and tensors")
struct TapeTests {
    @Test("gradients of a small expression match calculus and finite differences")
    func smallExpression() {
        // L = Σ (a ⊙ b + a) → ∂L/∂a = b + 1, ∂L/∂b = a
        let a = Parameter(name: "a", value: Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6]))
        let b = Parameter(name: "b", value: Tensor(shape: [2, 3], values: [-1, 0.5, 2, 0, 3, -2]))
        let tape = Tape()
        let context = ForwardContext(tape: tape)
        let va = context.variable(a)
        let loss = context.sum(context.add(context.multiply(va, context.variable(b)), va))
        #expect(loss.value.scalars == [30])  // Σ a⊙b = 9, Σ a = 21
        tape.backward(loss)
        #expect(a.gradient?.scalars == [0, 1.5, 3, 1, 4, -1])
        #expect(b.gradient?.scalars == [1, 2, 3, 4, 5, 6])

        var random = SeededRandom(seed: 3)
        let inputs = [Tensor.randomNormal(shape: [4, 5], random: &random), Tensor.randomNormal(shape: [4, 5], random: &random)]
        let comparisons = GradientCheck.compare(inputs: inputs) { context, x in
            context.scale(context.multiply(context.add(x[0], x[1]), x[0]), by: 0.5)
        }
        #expect(GradientCheck.mismatches(comparisons, absolute: 1e-3, relative: 1e-3).isEmpty)
    }

    @Test("a wrong backward is caught by the gradient check")
    func checkerCanFail() {
        var random = SeededRandom(seed: 4)
        let inputs = [Tensor.randomNormal(shape: [3, 3], random: &random)]
        let comparisons = GradientCheck.compare(inputs: inputs) { context, x in
            // forward 2x, backward claims 3x
            context.record(x[0].value * 2, inputs: [x[0]]) { [$0 * 3] }
        }
        #expect(GradientCheck.mismatches(comparisons).count == comparisons.count)
    }

    @Test("inference records nothing and copies share storage until written")
    func inferenceAndCopyOnWrite() {
        let context = ForwardContext.inference()
        let x = Variable(Tensor(shape: [2], values: [1, 2]))
        let y = context.add(x, x)
        #expect(y.node == nil)
        #expect(y.value.scalars == [2, 4])
        var copy = y.value
        copy[flat: 0] = 9
        #expect(y.value.scalars == [2, 4])
        #expect(copy.scalars == [9, 4])
    }

    @Test("seeded randomness is reproducible and roughly standard normal")
    func seededRandom() {
        var first = SeededRandom(seed: 42)
        var second = SeededRandom(seed: 42)
        let a = Tensor.randomNormal(shape: [10_000], random: &first)
        let b = Tensor.randomNormal(shape: [10_000], random: &second)
        #expect(a.scalars == b.scalars)
        let mean = a.sum() / 10_000
        let variance = a.dot(a) / 10_000 - mean * mean
        #expect(abs(mean) < 0.05)
        #expect(abs(variance - 1) < 0.05)
    }
}

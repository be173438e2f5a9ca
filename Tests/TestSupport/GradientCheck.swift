import Core

/// Finite-difference gradient checking (ggml-style, ~20 lines of logic).
///
/// The function's output y is projected on a fixed random tensor R, L = Σ y·R (accumulated in
/// Double), so that every output element contributes. The analytic gradient of L comes from
/// one tape backward seeded with R; the numeric one from central differences
/// (L(x+ε) − L(x−ε)) / 2ε on a sample of input elements. Randomness inside the function (dropout)
/// is reproduced exactly by re-seeding the context for every evaluation.
public enum GradientCheck {
    public struct Comparison: Sendable {
        /// Input index, flat element index, analytic and numeric derivative.
        public var input: Int
        public var element: Int
        public var analytic: Double
        public var numeric: Double
    }

    /// Compares analytic and numeric derivatives for `samplesPerInput` elements of each input
    /// (all elements when the input is smaller).
    public static func compare(
        inputs: [Tensor], epsilon: Float = 1e-2, samplesPerInput: Int = 48, seed: UInt64 = 7, isTraining: Bool = false,
        _ function: (ForwardContext, [Variable]) -> Variable
    ) -> [Comparison] {
        let parameters = inputs.enumerated().map { Parameter(name: "input\($0.offset)", value: $0.element) }
        let tape = Tape()
        let context = ForwardContext(tape: tape, isTraining: isTraining, random: SeededRandom(seed: seed))
        let output = function(context, parameters.map { context.variable($0) })
        var random = SeededRandom(seed: seed &+ 1000)
        let projection = Tensor.randomNormal(shape: output.shape, random: &random)
        tape.backward(output, gradient: projection)

        func loss(_ values: [Tensor]) -> Double {
            let evaluation = ForwardContext(tape: nil, isTraining: isTraining, random: SeededRandom(seed: seed))
            return function(evaluation, values.map { Variable($0) }).value.dot(projection)
        }

        var comparisons: [Comparison] = []
        for (inputIndex, input) in inputs.enumerated() {
            let analytic = parameters[inputIndex].gradient ?? Tensor.zeros(like: input)
            let elements: [Int] = input.count <= samplesPerInput
                ? Array(0..<input.count)
                : (0..<samplesPerInput).map { _ in Int(random.next() % UInt64(input.count)) }
            for element in elements {
                var plus = inputs
                var minus = inputs
                plus[inputIndex][flat: element] += epsilon
                minus[inputIndex][flat: element] -= epsilon
                let numeric = (loss(plus) - loss(minus)) / Double(2 * epsilon)
                comparisons.append(Comparison(input: inputIndex, element: element,
                                              analytic: Double(analytic[flat: element]), numeric: numeric))
            }
        }
        return comparisons
    }

    /// The comparisons that disagree by more than `absolute + relative × max(|a|, |n|)`.
    public static func mismatches(
        _ comparisons: [Comparison], absolute: Double = 1e-2, relative: Double = 1e-2
    ) -> [Comparison] {
        comparisons.filter { abs($0.analytic - $0.numeric) > absolute + relative * max(abs($0.analytic), abs($0.numeric)) }
    }
}

import Core
import Testing
import TestSupport

/// Runs an op on a PyTorch "ops" fixture (Tests/Fixtures/torch/make_ops_fixtures.py) and checks
/// its outputs and the gradients of L = Σ_k sum(output_k ⊙ projection_k) against the stored
/// ones. `inputs` are fixture tensor names fed as tape parameters (their gradients are compared
/// with `grad_<name>`); the function returns the outputs in fixture order (`output` for one,
/// `output0`, `output1`, … for several).
enum OpsFixtureCheck {
    static let group = "ops"

    /// Case names of the group starting with `prefix` (at least one must exist).
    static func cases(_ prefix: String) -> [String] {
        TorchFixture.cases(in: group).filter { $0.hasPrefix(prefix) }
    }

    /// Largest relative error (see `relativeError`) over every output and gradient, by tensor name.
    static func errors(
        _ fixture: TorchFixture, inputs: [String], _ function: (ForwardContext, [Variable]) -> [Variable]
    ) -> [String: Float] {
        let parameters = inputs.map { Parameter(name: $0, value: fixture[$0]) }
        let tape = Tape()
        let context = ForwardContext(tape: tape)
        let outputs = function(context, parameters.map { context.variable($0) })
        var errors: [String: Float] = [:]
        var loss: Variable?
        for (index, output) in outputs.enumerated() {
            let suffix = outputs.count == 1 ? "" : String(index)
            errors["output" + suffix] = relativeError(output.value, fixture["output" + suffix])
            let projected = context.sum(context.multiply(output, Variable(fixture["projection" + suffix])))
            loss = loss.map { context.add($0, projected) } ?? projected
        }
        if let loss { tape.backward(loss) }
        for parameter in parameters {
            let gradient = parameter.gradient ?? Tensor.zeros(like: parameter.value)
            errors["grad_" + parameter.name] = relativeError(gradient, fixture["grad_" + parameter.name])
        }
        return errors
    }

    /// Expects every error of `errors(...)` to be at most `tolerance`.
    static func expectMatch(
        _ name: String, inputs: [String], tolerance: Float = 1e-4,
        sourceLocation: SourceLocation = #_sourceLocation,
        _ function: (TorchFixture, ForwardContext, [Variable]) -> [Variable]
    ) throws {
        let fixture = try TorchFixture(group: group, name: name)
        let errors = errors(fixture, inputs: inputs) { context, variables in function(fixture, context, variables) }
        #expect(!errors.isEmpty, sourceLocation: sourceLocation)
        for (tensor, error) in errors.sorted(by: { $0.key < $1.key }) {
            #expect(error <= tolerance, "\(name): \(tensor) relative error \(error)", sourceLocation: sourceLocation)
        }
    }
}

extension Tensor {
    /// Random normal values pushed away from zero by `margin` (|v| ≥ margin), for finite
    /// differences across kinks such as ReLU's.
    static func randomAwayFromZero(shape: [Int], margin: Float, random: inout SeededRandom) -> Tensor {
        Tensor.randomNormal(shape: shape, random: &random).map { $0 >= 0 ? $0 + margin : $0 - margin }
    }
}

/// Expects a finite-difference gradient check to pass; returns nothing, reports mismatches.
func expectGradientsMatch(
    _ comparisons: [GradientCheck.Comparison], absolute: Double = 1e-2, relative: Double = 1e-2,
    _ label: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(!comparisons.isEmpty, "\(label): nothing compared", sourceLocation: sourceLocation)
    let mismatches = GradientCheck.mismatches(comparisons, absolute: absolute, relative: relative)
    #expect(mismatches.isEmpty, "\(label): \(mismatches.count) of \(comparisons.count) mismatch, first \(mismatches.prefix(3))",
            sourceLocation: sourceLocation)
}

/// Reverse-mode automatic differentiation by an explicit tape, used only in training.
///
/// Each differentiable op computes its forward result and, when any input is on the tape,
/// records a closure that maps the gradient of its output to the gradients of its inputs
/// (`record`). `backward` replays the closures in reverse order, summing gradients per node and
/// handing each parameter's total to `Parameter.accumulateGradient`. Closures capture only what
/// their backward needs; gradients of intermediate nodes are freed as soon as they are consumed.
///
/// A tape is single-use: build one per training step.
public final class Tape {
    private struct Record {
        let output: Int
        let inputs: [Int?]
        let backward: (Tensor) -> [Tensor?]
    }

    private var records: [Record] = []
    private var leaves: [Int: Parameter] = [:]
    private var parameterNodes: [ObjectIdentifier: Int] = [:]
    private var nextNode = 0

    public init() {}

    /// The parameter as a variable on this tape (one leaf node per parameter).
    public func variable(_ parameter: Parameter) -> Variable {
        let key = ObjectIdentifier(parameter)
        if let node = parameterNodes[key] { return Variable(value: parameter.value, node: node) }
        let node = newNode()
        parameterNodes[key] = node
        leaves[node] = parameter
        return Variable(value: parameter.value, node: node)
    }

    /// Records an op. `backward` receives the gradient of `value` and returns one gradient per
    /// input (same shape as that input), or nil for inputs that need none. Nothing is recorded
    /// when no input is on the tape.
    public func record(_ value: Tensor, inputs: [Variable], backward: @escaping (Tensor) -> [Tensor?]) -> Variable {
        guard inputs.contains(where: { $0.node != nil }) else { return Variable(value) }
        let node = newNode()
        records.append(Record(output: node, inputs: inputs.map(\.node), backward: backward))
        return Variable(value: value, node: node)
    }

    /// Back-propagates from `output`, seeding with `gradient` (default: ones, i.e. d(sum)/d·).
    /// Parameter gradients are added to what they already hold.
    public func backward(_ output: Variable, gradient: Tensor? = nil) {
        guard let start = output.node else { return }
        var pending: [Int: Tensor] = [start: gradient ?? Tensor(shape: output.value.shape, repeating: 1)]
        for record in records.reversed() {
            guard let outputGradient = pending.removeValue(forKey: record.output) else { continue }
            let inputGradients = record.backward(outputGradient)
            precondition(inputGradients.count == record.inputs.count, "backward returned \(inputGradients.count) gradients for \(record.inputs.count) inputs")
            for (node, contribution) in zip(record.inputs, inputGradients) {
                guard let node, let contribution else { continue }
                if var sum = pending[node] {
                    sum.add(contribution)
                    pending[node] = sum
                } else {
                    pending[node] = contribution
                }
            }
        }
        for (node, parameter) in leaves {
            if let total = pending[node] { parameter.accumulateGradient(total) }
        }
        records.removeAll()
    }

    private func newNode() -> Int {
        defer { nextNode += 1 }
        return nextNode
    }
}

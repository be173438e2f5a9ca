import Core

/// Tensors both brainseg's tests and the PyTorch fixture scripts can generate bit for bit
/// (`make_model_fixtures.py: deterministic`), so that parity fixtures need not store weights:
/// u_k = ((k · 2654435761 + stream · 1013904223) mod 2³²) / 2³² − ½ in Float64, then scaled
/// per kind and rounded once to Float32.
public enum DeterministicTensor {
    public enum Kind: Sendable {
        /// 1 + 0.4·u (normalisation scales).
        case scale
        /// 0.2·u (biases and normalisation shifts).
        case shift
        /// u·√(24 / fanIn): variance 2 / fanIn.
        case weight(fanIn: Int)
        /// u·√12: unit variance.
        case input
    }

    public static func make(shape: [Int], stream: Int, kind: Kind) -> Tensor {
        let count = shape.reduce(1, *)
        var values = [Float](repeating: 0, count: count)
        let offset = UInt64(stream) &* 1_013_904_223
        for k in 0..<count {
            let raw = (UInt64(k) &* 2_654_435_761 &+ offset) % (1 << 32)
            let u = Double(raw) / 4_294_967_296.0 - 0.5
            let value: Double
            switch kind {
            case .scale: value = 1 + 0.4 * u
            case .shift: value = 0.2 * u
            case .weight(let fanIn): value = u * (24.0 / Double(fanIn)).squareRoot()
            case .input: value = u * (12.0).squareRoot()
            }
            values[k] = Float(value)
        }
        return Tensor(shape: shape, values: values)
    }

    /// Fills every parameter the way `randomise` does in the fixture script: stream = 1 + index
    /// of the name among `allNames` sorted; rank-1 `*.weight` → scale, other rank-1 → shift,
    /// others → weight with fan-in = elements per output channel (dim 0).
    public static func fill(_ parameters: [Parameter], allNames: [String]) {
        let order = Dictionary(uniqueKeysWithValues: allNames.sorted().enumerated().map { ($1, $0 + 1) })
        for parameter in parameters {
            guard let stream = order[parameter.name] else { preconditionFailure("\(parameter.name) is not among the fixture's names") }
            let shape = parameter.shape
            let kind: Kind
            if shape.count == 1 {
                kind = parameter.name.hasSuffix(".weight") ? .scale : .shift
            } else {
                kind = .weight(fanIn: shape.dropFirst().reduce(1, *))
            }
            parameter.value = make(shape: shape, stream: stream, kind: kind)
        }
    }
}

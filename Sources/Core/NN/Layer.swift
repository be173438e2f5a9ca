/// A network building block in the style of MLXNN: a small class that owns its parameters and
/// sub-layers and is applied with `callAsFunction(_:_:)` (signatures differ by layer, so the
/// protocol asks only for the parameter listing).
///
/// Parameter names are given at construction as dotted paths (the containing network passes its
/// prefix down), so that they are stable, documented and equal to the safetensors keys.
public protocol Layer: AnyObject {
    /// Every parameter of this layer and its sub-layers, in a stable order.
    var parameters: [Parameter] { get }
}

extension Layer {
    /// Parameters by name.
    public var parametersByName: [String: Parameter] {
        Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, $0) })
    }

    /// Total number of scalars in all parameters.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }

    /// Clears every parameter's gradient.
    public func zeroGradients() { parameters.forEach { $0.zeroGradient() } }
}

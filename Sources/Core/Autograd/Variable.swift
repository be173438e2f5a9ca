/// A tensor flowing through a network, with its place on the tape when one is recording.
///
/// In inference `node` is nil and a `Variable` is just its value; the same layer code then runs
/// without any bookkeeping. In training every op that has a recorded input records itself.
public struct Variable: @unchecked Sendable {
    public var value: Tensor
    /// The tape node that produced this value, nil when nothing needs its gradient.
    public let node: Int?

    /// A value that needs no gradient (an input image, a constant).
    public init(_ value: Tensor) {
        self.value = value
        node = nil
    }

    init(value: Tensor, node: Int?) {
        self.value = value
        self.node = node
    }

    public var shape: [Int] { value.shape }
}

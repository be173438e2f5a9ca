/// Zero padding of N×C×D×H×W tensors so that each spatial size is a multiple of what a
/// network's down-sampling needs, and the inverse crop.
public enum Padding {
    /// The smallest multiple of `multiple` that is ≥ `size`.
    public static func roundedUp(_ size: Int, toMultipleOf multiple: Int) -> Int {
        (size + multiple - 1) / multiple * multiple
    }

    /// Pads at the far end of each spatial axis with `value` to (depth, height, width) ≥ the input's.
    public static func pad(_ input: Tensor, depth: Int, height: Int, width: Int, value: Float = 0) -> Tensor {
        let shape = input.volumeShape
        precondition(depth >= shape.depth && height >= shape.height && width >= shape.width, "padding cannot shrink \(shape)")
        if depth == shape.depth && height == shape.height && width == shape.width { return input }
        var output = Tensor(shape: [shape.batch, shape.channels, depth, height, width], repeating: value)
        copyBox(from: input, into: &output, sizes: [shape.depth, shape.height, shape.width])
        return output
    }

    /// The leading (depth, height, width) corner of a padded tensor.
    public static func crop(_ input: Tensor, depth: Int, height: Int, width: Int) -> Tensor {
        let shape = input.volumeShape
        if depth == shape.depth && height == shape.height && width == shape.width { return input }
        var output = Tensor(uninitializedShape: [shape.batch, shape.channels, depth, height, width])
        copyBox(from: input, into: &output, sizes: [depth, height, width])
        return output
    }

    private static func copyBox(from input: Tensor, into output: inout Tensor, sizes: [Int]) {
        let source = input.volumeShape, target = output.volumeShape
        input.withUnsafeBufferPointer { from in
            output.withUnsafeMutableBufferPointer { to in
                for plane in 0..<(source.batch * source.channels) {
                    for z in 0..<sizes[0] {
                        for y in 0..<sizes[1] {
                            let s = plane * source.spatialCount + (z * source.height + y) * source.width
                            let t = plane * target.spatialCount + (z * target.height + y) * target.width
                            (to.baseAddress! + t).update(from: from.baseAddress! + s, count: sizes[2])
                        }
                    }
                }
            }
        }
    }
}

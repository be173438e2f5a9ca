/// The sizes of one 3D convolution, checked once and shared by its forward and backward kernels.
///
/// Input N×Cin×D×H×W, weight Cout×(Cin/groups)×k×k×k (cubic kernel), stride s, symmetric zero
/// padding p on every spatial side. Output N×Cout×Do×Ho×Wo with
///   Do = ⌊(D + 2p − k) / s⌋ + 1 (same for H, W),
/// which is PyTorch's `Conv3d` (dilation 1). With `groups` = G, output channels
/// [g·Cout/G, (g+1)·Cout/G) see only input channels [g·Cin/G, (g+1)·Cin/G).
///
/// The im2col "column" matrix of one group has K = (Cin/G)·k³ rows, ordered like the weight's
/// trailing axes (channel, kz, ky, kx), and one column per output voxel.
///
/// Fails (precondition, printing the shapes) on a rank other than 5, a non-cubic kernel, channel
/// counts not divisible by `groups`, a weight whose input-channel axis is not Cin/G, a bias that
/// is not [Cout], stride or kernel < 1, negative padding, or an empty output.
public struct ConvolutionGeometry: Sendable, Equatable, CustomStringConvertible {
    public let batch: Int
    public let inputChannels: Int
    public let outputChannels: Int
    public let inputDepth: Int, inputHeight: Int, inputWidth: Int
    public let outputDepth: Int, outputHeight: Int, outputWidth: Int
    public let kernel: Int
    public let stride: Int
    public let padding: Int
    public let groups: Int

    /// Checks `input`, `weight` (and `bias` when present) against each other.
    public init(inputShape: [Int], weightShape: [Int], biasShape: [Int]?, stride: Int, padding: Int, groups: Int) {
        let context = "conv3d(input \(inputShape), weight \(weightShape), bias \(biasShape.map { "\($0)" } ?? "none"), stride \(stride), padding \(padding), groups \(groups))"
        precondition(inputShape.count == 5, "\(context): input must be N×C×D×H×W")
        precondition(weightShape.count == 5, "\(context): weight must be Cout×Cin/groups×k×k×k")
        precondition(groups >= 1 && stride >= 1 && padding >= 0, "\(context): need groups ≥ 1, stride ≥ 1, padding ≥ 0")
        let kernel = weightShape[2]
        precondition(kernel >= 1 && weightShape[3] == kernel && weightShape[4] == kernel, "\(context): kernel must be cubic")
        precondition(inputShape[1] % groups == 0 && weightShape[0] % groups == 0,
                     "\(context): input and output channels must be divisible by groups")
        precondition(weightShape[1] == inputShape[1] / groups, "\(context): weight axis 1 must be Cin/groups = \(inputShape[1] / groups)")
        if let biasShape { precondition(biasShape == [weightShape[0]], "\(context): bias must be [Cout] = [\(weightShape[0])]") }
        batch = inputShape[0]
        inputChannels = inputShape[1]
        outputChannels = weightShape[0]
        inputDepth = inputShape[2]
        inputHeight = inputShape[3]
        inputWidth = inputShape[4]
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.groups = groups
        func outputSize(_ size: Int) -> Int {
            let span = size + 2 * padding - kernel
            return span < 0 ? 0 : span / stride + 1
        }
        outputDepth = outputSize(inputDepth)
        outputHeight = outputSize(inputHeight)
        outputWidth = outputSize(inputWidth)
        precondition(batch >= 1 && outputDepth >= 1 && outputHeight >= 1 && outputWidth >= 1,
                     "\(context): empty output \(outputDepth)×\(outputHeight)×\(outputWidth)")
    }

    public var inputShape: [Int] { [batch, inputChannels, inputDepth, inputHeight, inputWidth] }
    public var outputShape: [Int] { [batch, outputChannels, outputDepth, outputHeight, outputWidth] }
    public var weightShape: [Int] { [outputChannels, inputChannels / groups, kernel, kernel, kernel] }

    /// Input channels per group (Cin/G).
    public var groupInputChannels: Int { inputChannels / groups }
    /// Output channels per group (Cout/G).
    public var groupOutputChannels: Int { outputChannels / groups }
    /// k³.
    public var kernelVolume: Int { kernel * kernel * kernel }
    /// Rows of a group's column matrix: (Cin/G)·k³ (the GEMM's inner dimension).
    public var columnRows: Int { groupInputChannels * kernelVolume }
    /// D·H·W.
    public var inputSpatialCount: Int { inputDepth * inputHeight * inputWidth }
    /// Do·Ho·Wo.
    public var outputSpatialCount: Int { outputDepth * outputHeight * outputWidth }

    /// True for the 1×1×1, stride 1, padding 0 case: the column matrix is the input itself.
    public var isPointwise: Bool { kernel == 1 && stride == 1 && padding == 0 }

    /// Multiply-adds of one forward pass: N·Cout·Do·Ho·Wo·(Cin/G)·k³.
    public var multiplyAdds: Int { batch * outputChannels * outputSpatialCount * columnRows }

    public var description: String {
        "conv3d \(inputShape) → \(outputShape), k \(kernel), stride \(stride), padding \(padding), groups \(groups)"
    }
}

import CWinograd

/// The stride-1, padding-1, 3×3×3 convolution by Winograd's minimal filtering F(2×2×2, 3×3×3)
/// (`Sources/CWinograd`), in float32 and with bfloat16 products: 8 multiplies per output voxel
/// and channel pair instead of 27, so it beats a direct convolution running at the machine's peak.
///
/// Method: the output is cut into 2×2×2 tiles; each 4×4×4 input tile and each 3×3×3 kernel are
/// transformed into 64 positions (additions only for the input; the kernels once per call), the
/// products are summed over input channels as 64 small matrix products per run of 32 tiles, and
/// each output tile is transformed back (additions only), bias added. Everything stays in the
/// engine's plain C×D×H×W layout: no reorders, and the scratch per worker is about
/// 64 × (32 × Cin + 256) floats (0.5 MiB at Cin = 64) plus the transformed weights.
///
/// Numerics: the transforms use ±1 and ½ only, so in float32 the result differs from a direct
/// convolution by rounding alone (tests: within 1e-5 relative of the engine's reference kernels).
/// In bfloat16 the transforms stay float32 and the transformed input and weights are rounded to
/// bfloat16 for the products (`vdpbf16ps`, float32 sums): within the 1 % relative stated for
/// every bfloat16 convolution (up to about 0.4 % on the tests' shapes).
///
/// Where it runs (`applies`): AVX-512 CPUs (AVX-512 BF16 for bfloat16), ungrouped stride-1
/// padding-1 3×3×3 convolutions (any output channel count: the kernel pads them to a multiple of
/// 8 with zero weights, which still beats oneDNN on the student's 16→3 head), at least
/// `minimumInputChannels` input channels, at most `maximumChannelProduct` channel pairs and at
/// least `minimumOutputVoxels` output voxels; the forward pass, and the input gradient (itself
/// such a convolution, of the output gradient with the kernel flipped and transposed), and in
/// float32 the weight gradient of the wider ones (`appliesToWeightGradient`: ∂L/∂g = Gᵀ[(Bᵀd) ⊙
/// (A ∂L/∂y)] per axis, exactly, summed over tiles as 64 matrix products). Every other shape
/// stays on oneDNN, and so do int8 layers (oneDNN's int8 kernels); a layer too narrow for int8
/// runs here in float32 when asked for int8.
public enum WinogradConvolution {
    /// Whether this CPU runs the kernel (AVX-512F).
    public static let isAvailable = cwino_available() != 0

    /// Whether this CPU runs its bfloat16 variant (AVX-512 BF16 and BW).
    public static let isAvailableInBFloat16 = cwino_available_bfloat16() != 0

    /// Below this many input channels the transforms outweigh the products it saves.
    public static let minimumInputChannels = 8

    /// Above this many input × output channels, the transformed weights (64 × Cin × Cout floats,
    /// 4 MiB at 128 × 128) and a segment's transformed input no longer stay in the 1 MiB L2, and
    /// oneDNN's direct kernel wins (unet layers at 128 and 256 channels: 4.3 against 5.8 ms, 3.1
    /// against 17 ms).
    public static let maximumChannelProduct = 128 * 64

    /// Below this many output voxels a call has too few tiles to pay for transforming the
    /// weights, and rows too short to fill the vectors (unet's 64-channel layers at 20×24×20:
    /// 7–14 against 9.3 ms).
    public static let minimumOutputVoxels = 16_384

    /// In bfloat16 only the products get cheaper (the transforms stay float32), and oneDNN's
    /// direct bfloat16 kernel is twice as fast as its float32 one, so Winograd needs more work per
    /// transformed value to win: at least this many input and output channels ...
    public static let minimumChannelsInBFloat16 = 32

    /// ... and this many output voxels. Measured (`brainseg bench`, 2 threads): 32→32 at 128³
    /// 0.22 against 0.32 s, 64→64 at 64³ 0.075 against 0.14 s, unet's training step at 96³ 1.19
    /// against 1.32 s; but the 64³ training steps of the student and ResUNet-VAE (16 channels at
    /// 64³, 32 at 32³) 0.50–0.55 against 0.46–0.49 s with every layer on it.
    public static let minimumOutputVoxelsInBFloat16 = 65_536

    /// Whether `geometry` (a forward convolution) runs here.
    public static func applies(to geometry: ConvolutionGeometry, precision: ComputePrecision) -> Bool {
        switch precision {
        case .float32:
            break
        case .bfloat16:
            guard isAvailableInBFloat16 && geometry.inputChannels >= minimumChannelsInBFloat16
                && geometry.outputChannels >= minimumChannelsInBFloat16
                && geometry.outputSpatialCount >= minimumOutputVoxelsInBFloat16 else { return false }
        case .int8:
            // Layers int8 does not apply to (too few channels: the student's 16→3 head) run in
            // float32, and then here like any float32 layer; the others run oneDNN's int8 kernels.
            guard !OneDNNConvolution.runsInInt8(geometry) else { return false }
        }
        return isAvailable && geometry.kernel == 3 && geometry.stride == 1 && geometry.padding == 1
            && geometry.groups == 1
            && geometry.inputChannels >= minimumInputChannels
            && geometry.inputChannels * geometry.outputChannels <= maximumChannelProduct
            && geometry.outputSpatialCount >= minimumOutputVoxels
            && geometry.outputDepth == geometry.inputDepth && geometry.outputHeight == geometry.inputHeight
            && geometry.outputWidth == geometry.inputWidth
    }

    /// The weight gradient's own limits: a multiple of 16 input channels, at least this many ...
    public static let minimumInputChannelsOfWeightGradient = 16

    /// ... and at least this many output voxels. Measured (`brainseg bench conv --mode
    /// weight-gradient`, 2 threads, against oneDNN): 64→64 at 64³ 0.155 against 0.326 s, 32→32 at
    /// 128³ 0.42 against 0.71 s, 16→16 at 80³ 31 against 44 ms, 16→32 at 64³ 30 against 47 ms;
    /// at 32³ 16→16 ties (2.7 ms) and 32→32 wins (13 against 19 ms); at 26³ both lose (1.7 against
    /// 1.2 ms, 8.9 against 7.8 ms).
    public static let minimumOutputVoxelsOfWeightGradient = 32_768

    /// Whether the weight gradient of `geometry` runs here: float32 only, the shapes of the forward
    /// pass with at least `minimumInputChannelsOfWeightGradient` input channels (a multiple of
    /// 16), a multiple of 4 output channels and `minimumOutputVoxelsOfWeightGradient` voxels.
    public static func appliesToWeightGradient(_ geometry: ConvolutionGeometry, precision: ComputePrecision) -> Bool {
        precision == .float32 && applies(to: geometry, precision: precision)
            && geometry.inputChannels >= minimumInputChannelsOfWeightGradient && geometry.inputChannels % 16 == 0
            && geometry.outputChannels % 4 == 0 && geometry.outputSpatialCount >= minimumOutputVoxelsOfWeightGradient
    }

    /// ∂L/∂w into `weightGradient` and, when given, ∂L/∂b into `biasGradient` (both overwritten);
    /// `appliesToWeightGradient(geometry, …)` must hold. Each worker sums its segments'
    /// transformed-domain products into its own accumulator (64 × Cin × Cout floats); the
    /// accumulators are added and transformed back once.
    static func weightGradient(
        geometry: ConvolutionGeometry, outputGradient: UnsafePointer<Float>, input: UnsafePointer<Float>,
        weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?, tuning: ConvolutionTuning
    ) {
        let shape = Self.shape(geometry, precision: .float32)
        let segments = Int(withUnsafePointer(to: shape) { cwino_segment_count($0) })
        let accumulatorCount = withUnsafePointer(to: shape) { cwino_weight_gradient_accumulator_count($0) }
        let scratchCount = withUnsafePointer(to: shape) { cwino_weight_gradient_scratch_count($0) }
        let channels = geometry.outputChannels
        let workers = max(1, min(tuning.maximumWorkers, geometry.batch * segments))
        // Per worker: its accumulator, then its bias sums.
        let partials = BufferPool.shared.scratch(workers * (accumulatorCount + channels))
        defer { BufferPool.shared.release(partials) }
        partials.update(repeating: 0, count: workers * (accumulatorCount + channels))
        let inputPointer = SendableConstPointer(input), gradientPointer = SendableConstPointer(outputGradient)
        let partialsPointer = SendablePointer(partials)
        let inputImage = geometry.inputChannels * geometry.inputSpatialCount
        let outputImage = geometry.outputChannels * geometry.outputSpatialCount
        tuning.run(geometry.batch * segments, workers: workers) { worker, range in
            let scratch = BufferPool.shared.scratch(scratchCount)
            defer { BufferPool.shared.release(scratch) }
            var shape = shape
            let accumulator = partialsPointer.pointer + worker * (accumulatorCount + channels)
            forEachImageRun(range, segments: segments) { image, first, end in
                cwino_weight_gradient(&shape, inputPointer.pointer + image * inputImage, gradientPointer.pointer + image * outputImage,
                                      first, end, scratch, accumulator, accumulator + accumulatorCount)
            }
        }
        for worker in 1..<workers {
            let source = partials + worker * (accumulatorCount + channels)
            for index in 0..<(accumulatorCount + channels) { partials[index] += source[index] }
        }
        withUnsafePointer(to: shape) { cwino_weight_gradient_finish($0, partials, weightGradient) }
        biasGradient?.update(from: partials + accumulatorCount, count: channels)
    }

    /// The kernel's description of `geometry`.
    private static func shape(_ geometry: ConvolutionGeometry, precision: ComputePrecision) -> cwino_shape {
        cwino_shape(input_channels: Int32(geometry.inputChannels), output_channels: Int32(geometry.outputChannels),
                    depth: Int32(geometry.inputDepth), height: Int32(geometry.inputHeight), width: Int32(geometry.inputWidth),
                    bfloat16: precision == .bfloat16 ? 1 : 0)
    }

    /// y = conv(x, w) + b into `output` (N×Cout×D×H×W); `applies(to: geometry, …)` must hold.
    static func forward(
        geometry: ConvolutionGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        output: UnsafeMutablePointer<Float>, tuning: ConvolutionTuning
    ) {
        let shape = Self.shape(geometry, precision: tuning.precision)
        let transformed = withUnsafePointer(to: shape) { BufferPool.shared.scratch(cwino_transformed_weight_count($0)) }
        defer { BufferPool.shared.release(transformed) }
        withUnsafePointer(to: shape) { cwino_transform_weights($0, weight, transformed) }
        let segments = Int(withUnsafePointer(to: shape) { cwino_segment_count($0) })
        let scratchCount = withUnsafePointer(to: shape) { cwino_scratch_count($0) }
        let inputPointer = SendableConstPointer(input), outputPointer = SendablePointer(output)
        let weightPointer = SendableConstPointer(UnsafePointer(transformed)), biasPointer = bias.map { SendableConstPointer($0) }
        let inputImage = geometry.inputChannels * geometry.inputSpatialCount
        let outputImage = geometry.outputChannels * geometry.outputSpatialCount
        // Work items: (image, segment); contiguous ranges keep a worker on neighbouring rows,
        // whose input it shares through the cache.
        tuning.run(geometry.batch * segments) { _, range in
            let scratch = BufferPool.shared.scratch(scratchCount)
            defer { BufferPool.shared.release(scratch) }
            var shape = shape
            forEachImageRun(range, segments: segments) { image, first, end in
                cwino_forward(&shape, inputPointer.pointer + image * inputImage, weightPointer.pointer, biasPointer?.pointer,
                              outputPointer.pointer + image * outputImage, first, end, scratch)
            }
        }
    }

    /// Splits a worker's range of work items (image × segments + segment) into runs of segments
    /// within one image: `body(image, first, end)` for segments [first, end) of that image.
    private static func forEachImageRun(_ range: Range<Int>, segments: Int, _ body: (Int, Int32, Int32) -> Void) {
        var item = range.lowerBound
        while item < range.upperBound {
            let image = item / segments, first = item % segments
            let end = min(segments, first + range.upperBound - item)
            body(image, Int32(first), Int32(end))
            item += end - first
        }
    }
}

import ArgumentParser
import Core
import Foundation

/// `brainseg bench …`: micro- and model benchmarks whose JSON the runner in `Benchmarks/` puts
/// side by side with PyTorch and ONNX Runtime. A command group so that `model` can join `conv`.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time engine kernels; prints one JSON object per run (see Benchmarks/README.md).",
        subcommands: [ConvBenchCommand.self, ModelBenchCommand.self]
    )
}

/// `brainseg bench conv`: one 3D convolution layer, forward or forward + backward, on random data.
///
/// Keys of the JSON object: median_s, min_s, max_s (seconds per repetition after warm-up),
/// peak_rss_mb (getrusage maxrss of the whole process), gflop (work of one repetition: forward =
/// 2·multiply-adds; train = forward + input gradient + weight gradient ≈ 3 × forward), gflops
/// (gflop / median), threads, openblas_core, implementation, mode, and the layer's shape.
struct ConvBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv",
        abstract: "Time one conv3d layer (forward, or forward + backward with --mode train)."
    )

    /// forward, train (forward + both gradients), or one backward kernel alone (for tuning).
    enum Mode: String, ExpressibleByArgument, CaseIterable {
        case forward, train
        case inputGradient = "input-gradient", weightGradient = "weight-gradient"
    }

    @Option(help: "Input channels.") var inChannels: Int
    @Option(help: "Output channels.") var outChannels: Int
    @Option(help: "Cubic spatial size of the input (S gives S×S×S).") var size: Int
    @Option(help: "Cubic kernel size.") var kernel: Int = 3
    @Option(help: "Stride.") var stride: Int = 1
    @Option(help: "Zero padding (default: kernel / 2).") var padding: Int?
    @Option(help: "Channel groups.") var groups: Int = 1
    @Option(help: "Batch size.") var batch: Int = 1
    @Option(help: "forward, train (forward + input and weight gradients), input-gradient or weight-gradient.") var mode: Mode = .forward
    @Option(help: "Timed repetitions.") var reps: Int = 3
    @Option(help: "Untimed warm-up repetitions.") var warmup: Int = 1
    @Option(help: "Threads (engine threads, or OpenBLAS threads with --threading blas).") var threads: Int = 2
    @Option(help: "Output voxels per im2col tile.") var tile: Int = ConvolutionTuning.default.tileVoxels
    @Option(help: "Output voxels per weight-gradient tile (default: 2 × --tile).") var weightTile: Int?
    @Option(help: "engine (engine threads over tiles, OpenBLAS 1 thread) or blas (OpenBLAS threads).")
    var threading: ConvolutionTuning.Threading = ConvolutionTuning.default.threading
    @Option(help: "Input-gradient method: automatic or col2im.")
    var inputGradient: ConvolutionTuning.InputGradientMethod = ConvolutionTuning.default.inputGradientMethod
    @Option(help: "Stride-1 forward method: im2col or shifted-slab.")
    var forwardMethod: ConvolutionTuning.ForwardMethod = ConvolutionTuning.default.forwardMethod
    @Option(help: "Convolution kernels: onednn or engine (the engine's own).")
    var backend: ConvolutionTuning.Backend = ConvolutionTuning.default.backend
    @Option(help: "Convolution arithmetic: fp32, bf16, or int8 (forward only); bf16 and int8 need --backend onednn.") var precision: ComputePrecision = .float32
    @Flag(inversion: .prefixedNo, help: "Winograd where it applies (float32, 3×3×3, stride 1, padding 1, ungrouped).")
    var winograd = true
    @Flag(help: "Print one JSON object (the only output format for now).") var json = false

    func validate() throws {
        guard mode == .forward || precision.isTrainable else { throw ValidationError("--precision \(precision.rawValue) is for the forward pass only") }
        guard inChannels > 0, outChannels > 0, size > 0, kernel > 0, stride > 0, batch > 0, reps > 0, warmup >= 0, threads > 0, tile > 0 else {
            throw ValidationError("sizes, counts and threads must be positive")
        }
        guard inChannels % groups == 0, outChannels % groups == 0 else {
            throw ValidationError("--in-channels and --out-channels must be divisible by --groups")
        }
    }

    func run() async throws {
        let padding = self.padding ?? kernel / 2
        Parallel.threadCount = threads
        let tuning = ConvolutionTuning(tileVoxels: tile, threading: threading, inputGradientMethod: inputGradient,
                                       forwardMethod: forwardMethod, weightTileVoxels: weightTile, backend: backend,
                                       precision: precision, winograd: winograd)
        var random = SeededRandom(seed: 1)
        let input = Tensor.randomUniform(shape: [batch, inChannels, size, size, size], low: -1, high: 1, random: &random)
        let fanIn = Float(inChannels / groups * kernel * kernel * kernel)
        let bound = 1 / fanIn.squareRoot()
        let weight = Tensor.randomUniform(shape: [outChannels, inChannels / groups, kernel, kernel, kernel], low: -bound, high: bound, random: &random)
        let bias = Tensor.randomUniform(shape: [outChannels], low: -bound, high: bound, random: &random)
        let geometry = ConvolutionGeometry(inputShape: input.shape, weightShape: weight.shape, biasShape: bias.shape,
                                           stride: stride, padding: padding, groups: groups)
        let outputGradient = mode == .forward
            ? nil : Tensor.randomUniform(shape: geometry.outputShape, low: -1, high: 1, random: &random)

        func once() {
            if mode == .forward || mode == .train {
                let output = Convolution3D.forward(input: input, weight: weight, bias: bias, stride: stride, padding: padding,
                                                   groups: groups, tuning: tuning)
                withExtendedLifetime(output) {}
            }
            guard let outputGradient else { return }
            if mode == .train || mode == .inputGradient {
                let inputGradient = Convolution3D.backwardInput(outputGradient: outputGradient, weight: weight, inputShape: input.shape,
                                                                stride: stride, padding: padding, groups: groups, tuning: tuning)
                withExtendedLifetime(inputGradient) {}
            }
            if mode == .train || mode == .weightGradient {
                let gradients = Convolution3D.backwardWeight(outputGradient: outputGradient, input: input, weightShape: weight.shape,
                                                             includeBias: true, stride: stride, padding: padding, groups: groups, tuning: tuning)
                withExtendedLifetime(gradients) {}
            }
        }

        let timing = BenchTiming.measure(reps: reps, warmup: warmup, once)
        let median = timing.median
        let forwardGigaflop = 2 * Double(geometry.multiplyAdds) / 1e9
        let gigaflop = mode == .train ? 3 * forwardGigaflop : forwardGigaflop
        var report = BenchReport(
            implementation: "brainseg", benchmark: "conv", mode: mode.rawValue, batch: batch, inChannels: inChannels,
            outChannels: outChannels, size: size, kernel: kernel, stride: stride, padding: padding, groups: groups,
            threads: threads, threading: tuning.threading.rawValue, tileVoxels: tuning.tileVoxels, weightTileVoxels: tuning.weightTileVoxels,
            inputGradient: tuning.inputGradientMethod.rawValue, forwardMethod: tuning.forwardMethod.rawValue, reps: reps, warmup: warmup,
            medianSeconds: median, minimumSeconds: timing.minimum, maximumSeconds: timing.maximum,
            peakResidentMegabytes: BenchReport.peakResidentMegabytes(), gigaflop: gigaflop, gigaflopPerSecond: gigaflop / median,
            openblasCore: BLAS.coreName)
        report.backend = backend.rawValue
        report.precision = precision.rawValue
        if backend == .oneDNN {
            report.onednnISA = OneDNNConvolution.instructionSet
            let oneDNN = OneDNNConvolution.implementation(of: geometry, precision: precision) ?? "refused: engine kernels"
            report.onednnImplementation = !tuning.usesWinograd || !WinogradConvolution.applies(to: geometry, precision: precision) ? oneDNN
                : WinogradConvolution.appliesToWeightGradient(geometry, precision: precision) ? "winograd F(2,3), every pass"
                : "winograd F(2,3); weight gradient on oneDNN \(oneDNN)"
        }
        print(try report.jsonLine())
    }
}

import ArgumentParser
import Core
import Foundation
import Plugins

/// `brainseg bench model`: one network forward (inference, no tape) or one training step
/// (forward with tape, loss, backward, Adam update) on random input, timed like `bench conv`.
///
/// JSON keys: implementation, model, profile, shape, mode, median_s, min_s, max_s, peak_rss_mb,
/// gflop (convolution work of one repetition: forward = 2·multiply-adds, train ≈ 3 × forward),
/// gflops, parameters, threads, openblas_core.
struct ModelBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Time one network: forward or a training step (see Benchmarks/run.sh)."
    )

    enum Mode: String, ExpressibleByArgument, CaseIterable { case forward, train }

    @Option(help: "unet, resunet-vae, cascade or student.") var model: String
    @Option(help: "Cubic input size S (S×S×S); overridden by --shape.") var size: Int = 96
    @Option(help: "Input size D,H,W.") var shape: String?
    @Option(name: .customLong("profile"), help: "Model profile (widths).") var modelProfile: ModelProfile = .cpu
    @Option(help: "forward or train.") var mode: Mode = .forward
    @Option(help: "Timed repetitions.") var reps: Int = 3
    @Option(help: "Untimed warm-up repetitions.") var warmup: Int = 1
    @Option(help: "Engine threads.") var threads: Int = 2
    @Option(help: "Convolution kernels: onednn or engine (the engine's own).")
    var backend: ConvolutionTuning.Backend = ConvolutionTuning.default.backend
    @Option(help: "Convolution arithmetic: fp32, bf16, or int8 (forward only); bf16 and int8 need --backend onednn.") var precision: ComputePrecision = .float32
    @Flag(inversion: .prefixedNo, help: "Winograd for the float32 3×3×3 stride-1 layers it applies to (WinogradConvolution).")
    var winograd = true
    @Flag(name: .customLong("operations"), help: "After timing, profile one more repetition per operation (`OperationProfile`): a table on standard error and \"profile\" in the JSON.")
    var operations = false
    @Flag(help: "Print one JSON object (the only output format).") var json = false

    func run() async throws {
        guard mode == .forward || precision.isTrainable else { throw ValidationError("--precision \(precision.rawValue) is for the forward pass only") }
        guard let network = ModelRegistry.make(model, profile: modelProfile) else { throw ModelRegistry.UnknownModel(name: model) }
        let sizes = try shape.map { text -> [Int] in
            let parts = text.split(separator: ",").compactMap { Int($0) }
            guard parts.count == 3 else { throw ValidationError("--shape takes D,H,W") }
            return parts
        } ?? [size, size, size]
        guard sizes.allSatisfy({ $0 % network.plan.sizeMultiple == 0 }) else {
            throw ValidationError("\(model) needs sizes divisible by \(network.plan.sizeMultiple)")
        }
        Parallel.threadCount = threads
        var random = SeededRandom(seed: 3)
        let input = Tensor.randomNormal(shape: [1, 4] + sizes, random: &random)
        let outputChannels = network.outputKind == .regionLogits ? 3 : 4
        let target = Tensor.randomUniform(shape: [1, outputChannels] + sizes, random: &random).map { $0 > 0.5 ? 1 : 0 }
        let optimizer = Adam(parameters: network.parameters, learningRate: 1e-4)
        let flopCounter = ConvolutionWork()
        let convolution = ConvolutionTuning(backend: backend, precision: precision, winograd: winograd)

        func once() {
            if mode == .forward {
                let output = network.forward(Variable(input), ForwardContext.inference(convolution: convolution))
                withExtendedLifetime(output) {}
                return
            }
            // As in `brainseg train`: the pool plans the step's tensors from its first repetition.
            BufferPool.shared.repeatingStep("bench training step") {
                let tape = Tape()
                let context = ForwardContext(tape: tape, isTraining: true, random: SeededRandom(seed: 5), convolution: convolution)
                let output = network.forward(Variable(input), context)
                let loss = network.outputKind == .regionLogits
                    ? context.regionLoss(logits: output, target: Variable(target))
                    : context.multiClassSoftDiceLoss(probabilities: output, oneHotTarget: Variable(target), classes: [1, 2, 3])
                optimizer.zeroGradients()
                tape.backward(loss)
                OperationProfile.measure("optimizer step") { optimizer.step() }
            }
        }

        let forwardGigaflop = flopCounter.gigaflop(network, inputShape: [1, 4] + sizes)
        let timing = BenchTiming.measure(reps: reps, warmup: warmup, once)
        let median = timing.median
        let gigaflop = mode == .train ? 3 * forwardGigaflop : forwardGigaflop
        var report: [String: Any] = [
            "implementation": "brainseg", "model": model, "profile": modelProfile.rawValue, "shape": sizes, "mode": mode.rawValue,
            "median_s": median, "min_s": timing.minimum, "max_s": timing.maximum,
            "peak_rss_mb": BenchReport.peakResidentMegabytes(), "gflop": gigaflop, "gflops": gigaflop / median,
            "parameters": network.parameterCount, "threads": threads, "openblas_core": BLAS.coreName,
            "backend": backend.rawValue, "precision": precision.rawValue,
            "onednn_isa": backend == .oneDNN ? OneDNNConvolution.instructionSet : "-",
        ]
        if operations {
            let started = Date()
            OperationProfile.start()
            once()
            let entries = OperationProfile.stop()
            let wall = Date().timeIntervalSince(started)
            report["profile"] = entries.map { ["operation": $0.operation, "seconds": $0.seconds, "calls": $0.calls] }
            report["profile_wall_s"] = wall
            printProfile(entries, wall: wall)
        }
        print(String(decoding: try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys]), as: UTF8.self))
    }
}

/// The convolution work of one forward pass, counted exactly by `ConvolutionCounter` during one
/// inference pass on zeros.
struct ConvolutionWork {
    func gigaflop(_ model: SegmentationModel, inputShape: [Int]) -> Double {
        ConvolutionCounter.reset()
        ConvolutionCounter.isCounting = true
        _ = model.forward(Variable(Tensor(shape: inputShape)), ForwardContext.inference())
        ConvolutionCounter.isCounting = false
        return Double(ConvolutionCounter.multiplyAdds) * 2 / 1e9
    }
}

/// The per-operation table on standard error: seconds, share of the step's wall time, calls.
private func printProfile(_ entries: [OperationProfile.Entry], wall: Double) {
    var lines = ["operation                                   seconds   share  calls"]
    for entry in entries {
        lines.append(entry.operation.padding(toLength: 42, withPad: " ", startingAt: 0)
            + String(format: "%9.4f  %5.1f %%  %5d", entry.seconds, 100 * entry.seconds / wall, entry.calls))
    }
    let covered = entries.reduce(0) { $0 + $1.seconds }
    lines.append("(not in any operation: tape sums, bookkeeping)".padding(toLength: 42, withPad: " ", startingAt: 0)
        + String(format: "%9.4f  %5.1f %%", wall - covered, 100 * (wall - covered) / wall))
    lines.append("wall".padding(toLength: 42, withPad: " ", startingAt: 0) + String(format: "%9.4f", wall))
    FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
}

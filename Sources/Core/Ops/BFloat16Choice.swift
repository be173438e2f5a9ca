import Foundation

/// Whether a convolution asked to run in bfloat16 (`ComputePrecision.bfloat16`) does so on this
/// machine, decided once per process.
///
/// Native AVX-512 BF16 does not make bfloat16 faster everywhere. On the Zen 4 machine the
/// shipped models were measured on, bf16 convolutions ran 1.5–1.8× faster than fp32
/// (Benchmarks/results/2026-12-02-cpu2.txt). On an Intel Xeon (family 6, model 207, AVX-512 BF16
/// without AMX) the same oneDNN 2.6 kernels ran 1.4–1.6× *slower* than fp32 (one 3×3×3 32→32
/// layer at 64³, one thread: 0.23–0.30 s against 0.11–0.16 s; 64→64: 56–61 against 81–88
/// GFLOP/s): there `vdpbf16ps` has the throughput of two fp32 FMAs, so bf16 saves no arithmetic
/// and its conversions cost extra. The masks are the same either way (the equivalence check,
/// Benchmarks/bf16-equivalence.py), so the choice is only about speed, and it is measured:
/// `current` times one representative layer both ways, interleaved, in CPU time on one thread
/// (so that a busy machine does not decide it, see `measure`), and keeps bfloat16 only when it
/// is at least `minimumSpeedUp` faster.
///
/// `BRAINSEG_BF16` overrides it: `auto` (the default: measure), `on` (bfloat16 wherever the CPU
/// has it natively, no probe), `off` (float32 always). Emulated bfloat16 is never used.
public enum BFloat16Choice {
    public enum Mode: String, Sendable, CaseIterable {
        case automatic = "auto", on, off
    }

    /// One probe: the best of a few interleaved runs of the same layer in each precision.
    public struct Probe: Sendable, Equatable {
        public var float32Seconds: Double
        public var bfloat16Seconds: Double
        public init(float32Seconds: Double, bfloat16Seconds: Double) {
            self.float32Seconds = float32Seconds
            self.bfloat16Seconds = bfloat16Seconds
        }
        public var speedUp: Double { float32Seconds / bfloat16Seconds }
    }

    public struct Decision: Sendable, Equatable {
        /// Convolutions asked for bfloat16 run in bfloat16 (else float32).
        public var usesBFloat16: Bool
        /// One line for the operator's log, with the measurement when there was one.
        public var reason: String
    }

    /// bfloat16 must be at least this much faster than float32 to be used.
    public static let minimumSpeedUp = 1.1
    public static let environmentVariable = "BRAINSEG_BF16"

    /// The pure decision. `probe` runs only in `auto` mode on a CPU with native bfloat16.
    public static func decide(mode: Mode, native: Bool, probe: () -> Probe?) -> Decision {
        guard native else { return Decision(usesBFloat16: false, reason: "bf16 off: this CPU has no native bfloat16 (oneDNN ISA \(OneDNNConvolution.instructionSet))") }
        switch mode {
        case .off: return Decision(usesBFloat16: false, reason: "bf16 off: \(environmentVariable)=off")
        case .on: return Decision(usesBFloat16: true, reason: "bf16 on: \(environmentVariable)=on")
        case .automatic:
            guard let measured = probe() else { return Decision(usesBFloat16: false, reason: "bf16 off: the probe convolution could not run") }
            let figures = String(format: "probe layer fp32 %.1f ms, bf16 %.1f ms, speed-up %.2f×", measured.float32Seconds * 1000,
                                 measured.bfloat16Seconds * 1000, measured.speedUp)
            return measured.speedUp >= minimumSpeedUp
                ? Decision(usesBFloat16: true, reason: "bf16 on: \(figures)")
                : Decision(usesBFloat16: false, reason: "bf16 off: not faster on this CPU (\(figures); needs ≥ \(minimumSpeedUp)×)")
        }
    }

    /// The mode `BRAINSEG_BF16` asks for; `auto` when unset or not understood.
    public static func mode(environment: [String: String] = ProcessInfo.processInfo.environment) -> Mode {
        environment[environmentVariable].flatMap { Mode(rawValue: $0.lowercased()) } ?? .automatic
    }

    /// This process's decision, made on first use (the probe takes about 0.25 s).
    public static let current: Decision = decide(mode: mode(), native: OneDNNConvolution.hasNativeBFloat16, probe: { measure() })

    /// The precision a convolution asked to run at `requested` runs at here: bfloat16 becomes
    /// float32 where `current` does not use it; float32 stays.
    public static func effective(_ requested: ComputePrecision) -> ComputePrecision {
        requested == .bfloat16 && !current.usesBFloat16 ? .float32 : requested
    }

    /// Times a 3×3×3 convolution 32→32 channels at 32³ (the size of the networks' middle
    /// layers): one warm-up each, then three interleaved pairs; the minimum of each precision.
    /// nil when oneDNN refuses it.
    ///
    /// It runs on one thread and counts that thread's CPU time, not the clock: a daemon often
    /// starts on a busy machine (a nightly retrain, a backup), and wall-clock timings of a
    /// 10 ms layer there measure the scheduler, not the arithmetic (a start beside two training
    /// runs measured 1.00× where a quiet start measures 1.9×, and served float32 until it
    /// restarted). One thread runs the convolution on the calling thread, so its CPU time is
    /// the convolution's whole cost, whoever else wants the cores.
    public static func measure() -> Probe? {
        let geometry = ConvolutionGeometry(inputShape: [1, 32, 32, 32, 32], weightShape: [32, 32, 3, 3, 3], biasShape: [32],
                                           stride: 1, padding: 1, groups: 1)
        var generator = SeededRandom(seed: 7)
        let input = (0..<(32 * 32 * 32 * 32)).map { _ in generator.nextUniform() - 0.5 }
        let weight = (0..<(32 * 32 * 27)).map { _ in (generator.nextUniform() - 0.5) * 0.1 }
        let bias = [Float](repeating: 0, count: 32)
        var output = [Float](repeating: 0, count: input.count)
        func run(_ precision: ComputePrecision) -> Double? {
            let start = threadCPUSeconds()
            let ran = output.withUnsafeMutableBufferPointer { output in
                OneDNNConvolution.forward(geometry: geometry, input: input, weight: weight, bias: bias,
                                          output: output.baseAddress!, precision: precision, threads: 1)
            }
            return ran ? threadCPUSeconds() - start : nil
        }
        guard run(.float32) != nil, run(.bfloat16) != nil else { return nil }
        var best = (float32: Double.infinity, bfloat16: Double.infinity)
        for _ in 0..<3 {
            guard let float32 = run(.float32), let bfloat16 = run(.bfloat16) else { return nil }
            best = (min(best.float32, float32), min(best.bfloat16, bfloat16))
        }
        return Probe(float32Seconds: best.float32, bfloat16Seconds: best.bfloat16)
    }

    /// CPU time consumed by the calling thread so far.
    static func threadCPUSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}

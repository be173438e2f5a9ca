import Core
import Logging

/// The start-up checks `brainseg serve` and `brainseg retrain` share: a warning when oneDNN
/// cannot build its convolution kernels here (`OneDNNConvolution.unavailableReason`), which
/// leaves every convolution on the engine's own, slower kernels; whether the Winograd kernel
/// runs; and whether the models configured for bfloat16 or int8 run in it on this CPU
/// (`ComputePrecision.onThisMachine`).
enum ConvolutionKernelCheck {
    /// Logs the warning, if any; `work` says what runs slower ("running", "training"), `unit`
    /// names the systemd unit whose MemoryDenyWriteExecute must be off.
    static func warnIfUnavailable(_ logger: Logger, work: String, unit: String) {
        guard let reason = OneDNNConvolution.unavailableReason() else { return }
        logger.warning("oneDNN cannot build its convolution kernels (\(reason)); \(work) on the engine's own, about 2.5× slower. Under systemd, MemoryDenyWriteExecute must be off (see systemd/\(unit)).")
    }

    /// Logs whether the wide 3×3×3 layers run on the engine's Winograd kernel here
    /// (`WinogradConvolution`: AVX-512F; its bfloat16 products need AVX-512 BF16). It is compiled
    /// ahead of time, so it runs even where oneDNN cannot build its kernels.
    static func reportWinograd(_ logger: Logger) {
        if WinogradConvolution.isAvailable {
            let products = WinogradConvolution.isAvailableInBFloat16 ? "fp32 and bf16" : "fp32 only (no AVX-512 BF16)"
            logger.info("winograd on: the wide 3×3×3 layers run on the engine's Winograd kernel (AVX-512; \(products))")
        } else {
            logger.info("winograd off: this CPU has no AVX-512; every convolution runs on oneDNN")
        }
    }

    /// Logs whether bfloat16 and int8 are used here when any of `precision`'s models asks for them.
    static func reportReducedPrecision(_ logger: Logger, precision: [String: ComputePrecision]) {
        let int8 = precision.filter { $0.value == .int8 }.keys.sorted()
        if !int8.isEmpty {
            let isa = OneDNNConvolution.instructionSet
            let line = OneDNNConvolution.hasInt8DotProduct
                ? "int8 on: this CPU has int8 dot products (oneDNN ISA \(isa))"
                : "int8 off: this CPU has no int8 dot products (oneDNN ISA \(isa)); these models run as bf16 would"
            logger.info("\(line) (asked for by \(int8.joined(separator: ", ")))")
        }
        // Every reduced precision that does not end as int8 went through the bf16 decision.
        let bfloat16 = precision.filter { $0.value != .float32 && $0.value.onThisMachine != .int8 }.keys.sorted()
        guard !bfloat16.isEmpty else { return }
        logger.info("\(BFloat16Choice.current.reason) (asked for by \(bfloat16.joined(separator: ", ")))")
    }
}

import Core
import Logging

/// The start-up checks `brainseg serve` and `brainseg retrain` share: a warning when oneDNN
/// cannot build its convolution kernels here (`OneDNNConvolution.unavailableReason`), which
/// leaves every convolution on the engine's own, slower kernels; and whether the models
/// configured for bfloat16 run in it on this CPU (`BFloat16Choice`).
enum ConvolutionKernelCheck {
    /// Logs the warning, if any; `work` says what runs slower ("running", "training"), `unit`
    /// names the systemd unit whose MemoryDenyWriteExecute must be off.
    static func warnIfUnavailable(_ logger: Logger, work: String, unit: String) {
        guard let reason = OneDNNConvolution.unavailableReason() else { return }
        logger.warning("oneDNN cannot build its convolution kernels (\(reason)); \(work) on the engine's own, about 2.5× slower. Under systemd, MemoryDenyWriteExecute must be off (see systemd/\(unit)).")
    }

    /// Logs whether bfloat16 is used here when any of `precision`'s models asks for it.
    static func reportBFloat16(_ logger: Logger, precision: [String: ComputePrecision]) {
        let asking = precision.filter { $0.value == .bfloat16 }.keys.sorted()
        guard !asking.isEmpty else { return }
        logger.info("\(BFloat16Choice.current.reason) (asked for by \(asking.joined(separator: ", ")))")
    }
}

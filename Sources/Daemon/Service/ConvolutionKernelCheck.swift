import Core
import Logging

/// The start-up check `brainseg serve` and `brainseg retrain` share: a warning when oneDNN
/// cannot build its convolution kernels here (`OneDNNConvolution.unavailableReason`), which
/// leaves every convolution on the engine's own, slower kernels.
enum ConvolutionKernelCheck {
    /// Logs the warning, if any; `work` says what runs slower ("running", "training"), `unit`
    /// names the systemd unit whose MemoryDenyWriteExecute must be off.
    static func warnIfUnavailable(_ logger: Logger, work: String, unit: String) {
        guard let reason = OneDNNConvolution.unavailableReason() else { return }
        logger.warning("oneDNN cannot build its convolution kernels (\(reason)); \(work) on the engine's own, about 2.5× slower. Under systemd, MemoryDenyWriteExecute must be off (see systemd/\(unit)).")
    }
}

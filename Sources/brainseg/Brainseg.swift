import ArgumentParser
import CPosix

/// The one executable: argument parsing and wiring only; the work lives in the libraries.
@main
struct Brainseg: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "brainseg",
        abstract: "Unattended brain-tumour segmentation (BraTS-style multimodal MRI).",
        version: BrainsegVersion.string,
        subcommands: [ServeCommand.self, StatusCommand.self, SegmentCommand.self, EvalCommand.self, TrainCommand.self, RetrainCommand.self,
                      ModelsCommand.self, PoolCommand.self, InspectCommand.self, BenchCommand.self]
    )

    /// Picks OpenBLAS's kernel family first (it may re-execute the process once, see
    /// `OpenBLASKernelSelection`) and keeps every thread on one malloc heap
    /// (`cposix_single_malloc_arena`), then parses and runs the command.
    static func main() async {
        OpenBLASKernelSelection.applyIfNeeded()
        _ = cposix_single_malloc_arena()
        await main(nil)
    }
}

enum BrainsegVersion {
    static let string = "0.1.0"
}

import ArgumentParser

/// The one executable: argument parsing and wiring only; the work lives in the libraries.
@main
struct Brainseg: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "brainseg",
        abstract: "Unattended brain-tumour segmentation (BraTS-style multimodal MRI).",
        version: BrainsegVersion.string,
        subcommands: [ServeCommand.self, InspectCommand.self]
    )
}

enum BrainsegVersion {
    static let string = "0.1.0"
}

import ArgumentParser
import Core
import Daemon
import Foundation
import Plugins

/// `brainseg segment CASE_DIR… --out DIR`: one-shot segmentation without the daemon.
struct SegmentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment",
        abstract: "Segment case folders (four modalities each) and write <case>_seg.nii.gz."
    )

    @Argument(help: "Case folders, each holding T1, T1ce, T2 and FLAIR NIfTI files.")
    var cases: [String]

    @Option(help: "Output folder (created if needed).")
    var out: String

    @Option(help: "Comma-separated ensemble members.")
    var models: String = ModelRegistry.defaultEnsembleNames.joined(separator: ",")

    @Option(help: "Model profile.")
    var profile: ModelProfile = .cpu

    @Option(help: "Folder holding <model>/<version>/ directories (see the README for the search order).")
    var modelsDir: String?

    @Flag(help: "Mirror test-time augmentation (4 flips per model).")
    var tta = false

    @Flag(help: "Run models that have no trained weights with random ones (meaningless masks; for trying the pipeline).")
    var allowUntrained = false

    @Option(help: "Label convention of the written mask: brats2018 (ET = 4) or brats2023 (ET = 3).")
    var labels: LabelConvention = .brats2018

    @Flag(help: "Also write the averaged region probabilities as <case>_prob_{WT,TC,ET}.nii.gz.")
    var probabilities = false

    @Option(help: "Convolution arithmetic: fp32, bf16, or per model (unet=bf16,student=fp32); unnamed models keep the daemon's default (brainseg.toml [models.precision]).")
    var precision: String?

    func run() async throws {
        let names = models.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !names.isEmpty else { throw ValidationError("--models lists no model") }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw ValidationError("--out \(out) is a file; it must be a folder (created when missing)")
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let members = try ModelLocator.load(names, profile: profile, explicit: modelsDir, allowUntrained: allowUntrained,
                                            warn: printToStandardError)
        var configuration = DaemonConfiguration()
        configuration.ensemble = names
        configuration.testTimeAugmentation = tta
        configuration.labels = labels
        configuration.studentAlongside = false
        configuration.pool.enabled = false
        if let precision { configuration.precision = try Self.precisions(precision, default: configuration.precision) }
        // The daemon's pipeline, with a publisher that writes flat files and no ledger.
        let processor = CaseProcessor(configuration: configuration, layout: RootLayout(root: out),
                                      models: .init(ensemble: members.map { .init(model: $0, version: "-", card: nil) }, student: nil),
                                      publisher: FlatFilePublisher(folder: out, probabilities: probabilities))
        var failures = 0
        for (index, directory) in cases.enumerated() {
            let started = Date()
            do {
                let files = try CaseFiles.find(in: directory)
                let claimed = try ClaimedCase.namedOnCommandLine(files, folder: directory)
                let result = try processor.run(claimed, pass: .ensemble, received: nil, progress: { stage in
                    printToStandardError("[\(index + 1)/\(cases.count)] \(files.identifier): \(stage)")
                }, shouldStop: { false })
                let volumes = BratsRegion.allCases.map { String(format: "%@ %.1f mL", $0.rawValue, result.report.volumesMillilitres[$0]) }
                print("\(out)/\(files.identifier)_seg.nii.gz  \(volumes.joined(separator: ", "))  \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
            } catch {
                failures += 1
                printToStandardError("brainseg: error: \(error)")
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }

    /// "bf16" (every model) or "unet=bf16,student=fp32" over `base`.
    static func precisions(_ text: String, default base: [String: ComputePrecision]) throws -> [String: ComputePrecision] {
        if let everywhere = ComputePrecision(rawValue: text) {
            return Dictionary(uniqueKeysWithValues: ModelRegistry.names.map { ($0, everywhere) })
        }
        var result = base
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "=").map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, ModelRegistry.names.contains(parts[0]), let value = ComputePrecision(rawValue: parts[1]) else {
                throw ValidationError("--precision takes fp32, bf16 or MODEL=fp32|bf16,…; not \"\(item)\"")
            }
            result[parts[0]] = value
        }
        return result
    }
}

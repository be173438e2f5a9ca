import ArgumentParser
import Core
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
    var models: String = ModelRegistry.teacherNames.joined(separator: ",")

    @Option(help: "Model profile.")
    var profile: ModelProfile = .cpu

    @Option(help: "Folder holding <model>/<version>/ directories (see the README for the search order).")
    var modelsDir: String?

    @Flag(help: "Mirror test-time augmentation (4 flips per model).")
    var tta = false

    @Option(help: "Label convention of the written mask: brats2018 (ET = 4) or brats2023 (ET = 3).")
    var labels: LabelConvention = .brats2018

    @Flag(help: "Also write the averaged region probabilities as <case>_prob_{WT,TC,ET}.nii.gz.")
    var probabilities = false

    func run() async throws {
        let convention = labels
        let names = models.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !names.isEmpty else { throw ValidationError("--models lists no model") }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let members = try ModelLocator.load(names, profile: profile, explicit: modelsDir, warn: printToStandardError)
        var options = SegmentationOptions()
        options.testTimeAugmentation = tta
        options.labels.convention = convention
        let segmenter = CaseSegmenter(members: members, options: options)
        var failures = 0
        for (index, directory) in cases.enumerated() {
            let started = Date()
            do {
                let files = try CaseFiles.find(in: directory)
                printToStandardError("[\(index + 1)/\(cases.count)] \(files.identifier): loading")
                let loaded = try MultimodalCase.load(files)
                let result = segmenter.segment(loaded) { stage in
                    printToStandardError("[\(index + 1)/\(cases.count)] \(files.identifier): \(stage)")
                }
                let output = "\(out)/\(files.identifier)_seg.nii.gz"
                try NiftiWriter.writeLabels(result.labels, geometry: loaded.geometry, to: output)
                if probabilities {
                    try writeProbabilities(result, geometry: loaded.geometry, identifier: files.identifier)
                }
                let millilitres = loaded.geometry.voxelVolumeMillilitres
                let volumes = BratsRegion.allCases.map { region in
                    String(format: "%@ %.1f mL", region.rawValue,
                           Double(convention.mask(of: region, in: result.labels).reduce(0) { $0 + Int($1) }) * millilitres)
                }
                print("\(output)  \(volumes.joined(separator: ", "))  \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
            } catch {
                failures += 1
                printToStandardError("brainseg: error: \(error)")
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }

    private func writeProbabilities(_ result: CaseSegmentation, geometry: VolumeGeometry, identifier: String) throws {
        let crop = result.box.voxelCount
        for region in BratsRegion.allCases {
            let values = result.ensembleProbabilities.withUnsafeBufferPointer { Array($0[(region.channel * crop)..<((region.channel + 1) * crop)]) }
            let full = result.box.paste(values, into: geometry.dims, background: Float(0))
            try NiftiWriter.write(Volume(geometry: geometry, voxels: full), to: "\(out)/\(identifier)_prob_\(region.rawValue).nii.gz",
                                  description: "brainseg \(region.rawValue) probability")
        }
    }
}

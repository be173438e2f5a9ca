import Core
import Foundation
import Plugins

/// Segments one claimed case folder and publishes its outputs (SPEC.md §3): the mask
/// `<case>_seg.nii.gz`, the report `<case>_report.json` and the QC picture `<case>_qc.png`,
/// written into a hidden staging folder and renamed to `output/<case>/` in one step, so a
/// reader never sees a partial set. Computes Dice/HD95 when an expert segmentation came along.
public final class CaseProcessor {
    /// The loaded models: ensemble members and, optionally, the student run alongside.
    public struct Models {
        public var ensemble: [ModelInstaller.Loaded]
        public var student: ModelInstaller.Loaded?
        public init(ensemble: [ModelInstaller.Loaded], student: ModelInstaller.Loaded?) {
            self.ensemble = ensemble
            self.student = student
        }
    }

    /// What a processed case produced.
    public struct Outcome {
        public var outputFolder: String
        public var report: CaseReport
        public var labels: [UInt8]
        public var segmentation: CaseSegmentation
    }

    /// Thrown when a stop was requested and the case is to be requeued.
    public struct Cancelled: Error {}

    let configuration: DaemonConfiguration
    let layout: RootLayout
    let models: Models

    public init(configuration: DaemonConfiguration, layout: RootLayout, models: Models) {
        self.configuration = configuration
        self.layout = layout
        self.models = models
    }

    var convention: LabelConvention { configuration.labels == .brats2023 ? .brats2023 : .brats2018 }

    /// Processes the case in `folder` (inside work/) published under `caseName`.
    /// `progress` receives stage names (for STATUS and the watchdog heartbeat); `shouldStop`
    /// is consulted between stages and a `Cancelled` error is thrown when it answers true.
    public func process(folder: String, caseName: String, received: Date?, progress: (String) -> Void,
                        shouldStop: () -> Bool) throws -> Outcome {
        var builder = CaseReportBuilder(caseIdentifier: caseName, received: received, convention: convention)
        progress("loading")
        let files = try CaseFiles.find(in: folder)
        try builder.addInputs(files)
        let loaded = try builder.time(.load) { try MultimodalCase.load(files) }
        if shouldStop() { throw Cancelled() }

        var options = SegmentationOptions()
        options.testTimeAugmentation = configuration.testTimeAugmentation
        options.memberWeights = configuration.ensembleWeights
        options.labels.convention = convention
        let segmenter = CaseSegmenter(members: models.ensemble.map(\.model), options: options)
        guard let segmentation = segmenter.segment(loaded, progress: progress, isCancelled: shouldStop) else { throw Cancelled() }
        builder.recordModels(segmentation.members)
        var agreementMembers = segmentation.members
        if let student = models.student {
            progress("student (alongside)")
            if shouldStop() { throw Cancelled() }
            let started = Date()
            let probabilities = segmenter.predictRegions(student.model, crops: loaded.modalities.map { segmentation.box.crop($0.voxels, dims: loaded.geometry.dims) },
                                                         box: segmentation.box, spacing: loaded.geometry.spacingInMillimetres)
            let member = MemberPrediction(model: student.model.name, regionProbabilities: probabilities, seconds: Date().timeIntervalSince(started))
            builder.recordModels([member])
            agreementMembers.append(member)
        }
        builder.agreement = EnsembleAgreement.measure(members: agreementMembers, ensemble: segmentation.ensembleProbabilities)
        builder.models = models.ensemble.map { CaseReport.ModelVersion(name: $0.model.name, version: $0.version, inEnsemble: true,
                                                                        ensembleWeight: configuration.ensembleWeights[$0.model.name]) }
            + (models.student.map { [CaseReport.ModelVersion(name: $0.model.name, version: $0.version, inEnsemble: false)] } ?? [])
        builder.describe(geometry: loaded.geometry, labels: segmentation.labels)
        if let truth = loaded.truth, let truthPath = files.segmentation {
            let metrics = builder.time(.evaluation) {
                RegionEvaluation.evaluate(prediction: segmentation.labels, truth: truth, dims: loaded.geometry.dims,
                                          spacing: loaded.geometry.spacingInMillimetres, convention: convention)
            }
            builder.evaluation = CaseReport.Evaluation(truthFile: URL(fileURLWithPath: truthPath).lastPathComponent, metrics: metrics)
        }
        progress("writing outputs")
        let (outputFolder, report) = try publish(caseName: caseName, loaded: loaded, labels: segmentation.labels, builder: builder)
        return Outcome(outputFolder: outputFolder, report: report, labels: segmentation.labels, segmentation: segmentation)
    }

    /// Writes mask and QC picture into a hidden staging folder, then swaps it in as output/<case>.
    private func publish(caseName: String, loaded: MultimodalCase, labels: [UInt8], builder: CaseReportBuilder) throws -> (String, CaseReport) {
        var builder = builder
        let writeStarted = Date()
        let names = CaseReport.OutputFiles(caseIdentifier: caseName)
        let staging = "\(layout.output)/.staging-\(caseName)-\(getpid())"
        try? FileManager.default.removeItem(atPath: staging)
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        try NiftiWriter.writeLabels(labels, geometry: loaded.geometry, to: "\(staging)/\(names.segmentation)",
                                    description: "brainseg \(caseName)")
        try QualityControlPicture.write(flair: loaded.modalities[Modality.flair.rawValue], t1ce: loaded.modalities[Modality.t1ce.rawValue],
                                        labels: labels, convention: convention, to: "\(staging)/\(names.qualityControlPicture)")
        builder.record(.write, milliseconds: Date().timeIntervalSince(writeStarted) * 1000)
        let report = try builder.build()
        try report.write(to: "\(staging)/\(names.report)")
        let final = "\(layout.output)/\(caseName)"
        if FileManager.default.fileExists(atPath: final) {
            // A re-dropped case with new content: keep the previous result beside the new one.
            _ = try CaseFolders.move(final, into: layout.output, name: "\(caseName)-previous-\(Int(Date().timeIntervalSince1970))")
        }
        guard rename(staging, final) == 0 else {
            throw CaseFolders.MoveError(description: "cannot publish \(final): \(String(cString: strerror(errno)))")
        }
        CaseFolders.syncDirectory(layout.output)
        return (final, report)
    }
}

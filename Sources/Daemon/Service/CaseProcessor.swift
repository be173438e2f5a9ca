import Core
import Foundation
import Plugins

/// Segments one claimed case and publishes its outputs (SPEC.md §3) through a `CasePublisher`:
/// in the daemon the mask `<case>_seg.nii.gz`, the report `<case>_report.json` and the QC
/// picture `<case>_qc.png` as one `output/<case>/` folder; for `brainseg segment` flat files.
/// The pass plan (`CasePass`) picks the models: the ensemble (with the student alongside, the
/// agreement and the pool decision), the student alone (student-first, not final), or the
/// ensemble replacing the student's mask (revision 2). Computes Dice/HD95 when an expert
/// segmentation came along.
public final class CaseProcessor: CasePipeline {
    /// The loaded models: ensemble members and, optionally, the student run alongside.
    public struct Models {
        public var ensemble: [ModelInstaller.Loaded]
        public var student: ModelInstaller.Loaded?
        public init(ensemble: [ModelInstaller.Loaded], student: ModelInstaller.Loaded?) {
            self.ensemble = ensemble
            self.student = student
        }
    }

    let configuration: DaemonConfiguration
    let layout: RootLayout
    let models: Models
    let publisher: CasePublisher

    /// - Parameter publisher: where outputs go; the daemon's `output/` folder by default.
    public init(configuration: DaemonConfiguration, layout: RootLayout, models: Models, publisher: CasePublisher? = nil) {
        self.configuration = configuration
        self.layout = layout
        self.models = models
        self.publisher = publisher ?? OutputFolderPublisher(output: layout.output)
    }

    var convention: LabelConvention { configuration.labels }

    /// Segments `claimed` with the models of `pass` and publishes the outputs (see the type's
    /// doc comment). Throws `PassCancelled` when `shouldStop` answers true between stages.
    public func run(_ claimed: ClaimedCase, pass: CasePass, received: Date?,
                    progress: (String) -> Void, shouldStop: () -> Bool) throws -> PassResult {
        if pass == .studentOnly, let student = models.student ?? models.ensemble.first(where: { $0.model.name == ModelRegistry.studentName }) {
            var segmented = try segment(claimed, members: [student], weights: [:], alongside: 0, received: received, progress: progress,
                                        shouldStop: shouldStop)
            segmented.builder.models = [CaseReport.ModelVersion(name: student.model.name, version: student.version, inEnsemble: true,
                                                                precision: precision(of: student.model.name))]
            segmented.builder.result = CaseReport.Provenance(producedBy: ModelRegistry.studentName, revision: 1, final: false)
            return try finish(segmented, replacing: false, pool: nil, progress: progress)
        }
        var segmented = try segment(claimed, members: models.ensemble, weights: configuration.ensembleWeights,
                                    alongside: models.student == nil ? 0 : 1, received: received, progress: progress, shouldStop: shouldStop)
        var agreementMembers = segmented.segmentation.members
        if let student = models.student {
            progress("student (alongside)")
            if shouldStop() { throw PassCancelled() }
            let member = predictAlongside(student, segmented)
            segmented.builder.recordModels([member])
            agreementMembers.append(member)
        }
        segmented.builder.agreement = EnsembleAgreement.measure(members: agreementMembers, ensemble: segmented.segmentation.ensembleProbabilities)
        var poolPlan: PoolPlan?
        if configuration.pool.enabled {
            poolPlan = planPoolAdmission(caseName: claimed.name, files: segmented.files, inputs: segmented.builder.inputs,
                                         loaded: segmented.loaded, segmentation: segmented.segmentation)
            segmented.builder.confidence = poolPlan!.reportConfidence
        }
        segmented.builder.models = models.ensemble.map { CaseReport.ModelVersion(name: $0.model.name, version: $0.version, inEnsemble: true,
                                                                                  ensembleWeight: configuration.ensembleWeights[$0.model.name],
                                                                                  precision: precision(of: $0.model.name)) }
            + (models.student.map { [CaseReport.ModelVersion(name: $0.model.name, version: $0.version, inEnsemble: false,
                                                             precision: precision(of: $0.model.name))] } ?? [])
        segmented.builder.result = pass == .teachersAfterStudent
            ? CaseReport.Provenance(producedBy: "ensemble", revision: 2, final: true, supersedes: previousResultDescription(claimed.name))
            : CaseReport.Provenance(producedBy: "ensemble", revision: 1, final: true)
        return try finish(segmented, replacing: pass == .teachersAfterStudent, pool: poolPlan, progress: progress)
    }

    /// A case loaded and segmented by one set of members, with its report in the making.
    struct SegmentedCase {
        var caseName: String
        var files: CaseFiles
        var loaded: MultimodalCase
        var segmentation: CaseSegmentation
        var builder: CaseReportBuilder
    }

    /// Load → check the memory it will take (`alongside`: predictions held beside the members'),
    /// → segment (the members averaged with `weights`) → the report's inputs, timings and
    /// per-model records.
    private func segment(_ claimed: ClaimedCase, members: [ModelInstaller.Loaded], weights: [String: Double], alongside: Int,
                         received: Date?, progress: (String) -> Void, shouldStop: () -> Bool) throws -> SegmentedCase {
        var builder = CaseReportBuilder(caseIdentifier: claimed.name, received: received, convention: convention)
        progress("loading")
        let files = try claimed.recognisedFiles()
        try builder.addInputs(files, known: claimed.digests)
        let loaded = try builder.time(.load) { try MultimodalCase.load(files) }
        if shouldStop() { throw PassCancelled() }
        let segmenter = segmenter(members, weights: weights)
        let box = CaseSegmenter.brainBox(of: loaded)
        try segmenter.checkMemory(loaded, extraModels: alongside, box: box)
        guard let segmentation = segmenter.segment(loaded, box: box, progress: progress, isCancelled: shouldStop) else {
            throw PassCancelled()
        }
        builder.recordModels(segmentation.members)
        builder.enhancementCheck = segmentation.enhancementCheck.map {
            CaseReport.EnhancementCheckRecord($0, voxelVolumeMillilitres: loaded.geometry.voxelVolumeMillilitres)
        }
        return SegmentedCase(caseName: claimed.name, files: files, loaded: loaded, segmentation: segmentation, builder: builder)
    }

    private func segmenter(_ members: [ModelInstaller.Loaded], weights: [String: Double]) -> CaseSegmenter {
        var options = segmentationOptions
        options.memberWeights = weights
        return CaseSegmenter(members: members.map(\.model), options: options)
    }

    /// Inference settings from the configuration (ensemble weights are set per pass).
    private var segmentationOptions: SegmentationOptions {
        var options = SegmentationOptions()
        options.testTimeAugmentation = configuration.testTimeAugmentation
        options.memberPrecision = configuration.precision
        options.labels.convention = convention
        options.memoryBudgetBytes = configuration.memoryBudgetBytes
        return options
    }

    /// The precision the model named `name` runs at (recorded in the report).
    private func precision(of name: String) -> String { segmentationOptions.precision(of: name).rawValue }

    /// The student's regions on the ensemble's crop (for agreement only, not in the mask).
    private func predictAlongside(_ student: ModelInstaller.Loaded, _ segmented: SegmentedCase) -> MemberPrediction {
        let started = Date()
        let (loaded, box) = (segmented.loaded, segmented.segmentation.box)
        let probabilities = segmenter([student], weights: [:]).predictRegions(
            student.model, crops: loaded.modalities.map { box.crop($0.voxels, dims: loaded.geometry.dims) },
            box: box, spacing: loaded.geometry.spacingInMillimetres)
        return MemberPrediction(model: student.model.name, regionProbabilities: probabilities, seconds: Date().timeIntervalSince(started))
    }

    /// Describe → evaluate against a shipped segmentation → publish → admit to the pool.
    private func finish(_ segmented: SegmentedCase, replacing: Bool, pool poolPlan: PoolPlan?, progress: (String) -> Void) throws -> PassResult {
        var builder = segmented.builder
        let (files, loaded, labels) = (segmented.files, segmented.loaded, segmented.segmentation.labels)
        builder.describe(geometry: loaded.geometry, labels: labels)
        if let truth = loaded.truth, let truthPath = files.segmentation {
            let metrics = builder.time(.evaluation) {
                RegionEvaluation.evaluate(prediction: labels, truth: truth, dims: loaded.geometry.dims,
                                          spacing: loaded.geometry.spacingInMillimetres, convention: convention)
            }
            builder.evaluation = CaseReport.Evaluation(truthFile: URL(fileURLWithPath: truthPath).lastPathComponent, metrics: metrics)
        }
        progress("writing outputs")
        let outputs = CaseOutputs(caseName: segmented.caseName, loaded: loaded, segmentation: segmented.segmentation, convention: convention)
        let (outputFolder, report): (String, CaseReport)
        do {
            (outputFolder, report) = try publisher.publish(outputs, builder: builder, replacing: replacing)
        } catch {
            throw ResultsStorageError(wrapping: error, folder: layout.output) ?? error
        }
        var poolOutcome: PoolOutcome?
        if let poolPlan {
            progress("pool")
            poolOutcome = try admit(poolPlan, files: files, loaded: loaded, segmentation: segmented.segmentation)
        }
        return PassResult(outputFolder: outputFolder, report: report, pool: poolOutcome)
    }

    // MARK: - Distillation pool

    /// The pool decision for a case, made before the report is written so the report carries it.
    struct PoolPlan {
        var assessment: ConfidenceAssessment
        var kind: PoolEntry.Kind
        var contentHash: String
        var inputHashes: [String: String]
        var decision: DistillationPool.Decision?
        /// Why the case stays out, when it does.
        var refusal: String?

        var reportConfidence: CaseReport.Confidence {
            CaseReport.Confidence(score: assessment.score, admittedToPool: refusal == nil,
                                  reasons: assessment.reasons + (refusal.map { [$0] } ?? []))
        }
    }

    var pool: DistillationPool { DistillationPool(directory: layout.pool, maximumEntries: configuration.pool.maximumEntries) }

    func planPoolAdmission(caseName: String, files: CaseFiles, inputs: [CaseReport.InputFile], loaded: MultimodalCase,
                           segmentation: CaseSegmentation) -> PoolPlan {
        let teacherAgreement = EnsembleAgreement.teachers(of: segmentation)
        let assessment = ConfidenceAssessment.assess(agreement: teacherAgreement, ensembleProbabilities: segmentation.ensembleProbabilities,
                                                     labels: segmentation.labels, geometry: loaded.geometry, convention: convention,
                                                     policy: configuration.pool)
        let labelled = files.segmentation != nil && configuration.pool.admitLabelled
        let modalityHashes = inputs.filter { $0.role != "segmentation" }.map(\.sha256)
        var plan = PoolPlan(assessment: assessment, kind: labelled ? .expertLabelled : .pseudoLabelled,
                            contentHash: modalityHashes.joined(separator: ":"),
                            inputHashes: Dictionary(inputs.map { ($0.name, $0.sha256) }, uniquingKeysWith: { first, _ in first }))
        guard labelled || assessment.passes else {
            plan.refusal = "not admitted: a confidence check failed"
            return plan
        }
        let decision = pool.decide(caseIdentifier: caseName, contentHash: plan.contentHash, kind: plan.kind, score: assessment.score)
        plan.decision = decision
        switch decision {
        case .admit: break
        case .duplicate(let name): plan.refusal = "not admitted: the same images are already in the pool as \(name)"
        case .full(let lowest): plan.refusal = String(format: "not admitted: the pool is full (%d entries) and its least confident entry scores %.3f ≥ %.3f",
                                                      configuration.pool.maximumEntries, lowest, assessment.score)
        }
        return plan
    }

    func admit(_ plan: PoolPlan, files: CaseFiles, loaded: MultimodalCase, segmentation: CaseSegmentation) throws -> PoolOutcome {
        guard case .admit(let evicting)? = plan.decision, plan.refusal == nil else {
            return .rejected(plan.assessment, reason: plan.refusal ?? "not admitted")
        }
        let caseName = files.identifier
        let dims = loaded.geometry.dims
        let probabilities = DistillationPool.probabilityBytes(segmentation.ensembleProbabilities, box: segmentation.box, dims: dims)
        // Pool labels always use BraTS 2018 values (ET = 4), whatever the output convention.
        var label = plan.kind == .expertLabelled ? loaded.truth! : segmentation.labels
        if convention == .brats2023 { label = label.map { $0 == 3 ? 4 : $0 } }
        let entry = PoolEntry(caseIdentifier: caseName, kind: plan.kind, admittedAt: Date(), contentHash: plan.contentHash,
                              inputHashes: plan.inputHashes, labelFile: "\(caseName)_seg.nii.gz",
                              probabilityFiles: Dictionary(uniqueKeysWithValues: BratsRegion.allCases.map { ($0.rawValue, "soft/prob_\($0.rawValue).nii.gz") }),
                              teachers: models.ensemble.map { PoolEntry.ModelVersion(name: $0.model.name, version: $0.version) },
                              confidence: plan.assessment)
        try pool.admit(entry, inputs: files.modalities, label: label, probabilities: probabilities, geometry: loaded.geometry, evicting: evicting)
        return .admitted(entry, evicted: evicting)
    }

    /// "student mask (student v3) written <date>" from the published report, for the superseding one.
    private func previousResultDescription(_ caseName: String) -> String? {
        guard let report = publisher.publishedReport(caseName: caseName) else { return nil }
        let models = report.models.map { "\($0.name) v\($0.version)" }
        let completed = ISO8601DateFormatter().string(from: report.times.completed)
        return "\(report.result?.producedBy ?? "earlier") mask (\(models.joined(separator: ", "))) written \(completed)"
    }

    /// Whether `output/<case>/` holds a provisional student mask (student-first, revision 1,
    /// `final: false`) whose teachers' pass has not run yet.
    public func awaitsTeachersPass(caseName: String) -> Bool {
        publisher.publishedReport(caseName: caseName)?.result.map { !$0.final } ?? false
    }
}

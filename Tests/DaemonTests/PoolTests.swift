import Core
import Daemon
import Foundation
import Plugins
import Testing
import TestSupport

@Suite("Distillation pool: confidence, admission, eviction")
struct PoolTests {
    /// Region probabilities 1×3×n³ from a WT/TC/ET ball of radius r (probability p inside).
    static func ball(size n: Int, radius: Double, p: Float = 0.95) -> Tensor {
        var values = [Float](repeating: 0.02, count: 3 * n * n * n)
        let c = Double(n - 1) / 2
        for z in 0..<n { for y in 0..<n { for x in 0..<n {
            let d = sqrt(pow(Double(x) - c, 2) + pow(Double(y) - c, 2) + pow(Double(z) - c, 2))
            let i = x + n * (y + n * z)
            if d <= radius { values[i] = p }
            if d <= radius * 0.6 { values[n * n * n + i] = p }
            if d <= radius * 0.3 { values[2 * n * n * n + i] = p }
        } } }
        return Tensor(shape: [1, 3, n, n, n], values: values)
    }

    static func labels(_ probabilities: Tensor, n: Int) -> [UInt8] {
        LabelMapBuilder.labels(fromRegionProbabilities: probabilities, dims: [n, n, n])
    }

    @Test("teachers that agree pass; teachers that disagree fail with the failing check named")
    func agreement() {
        let n = 24
        let geometry = VolumeGeometry(dims: [n, n, n])
        let a = Self.ball(size: n, radius: 7), b = Self.ball(size: n, radius: 7.3)
        var ensemble = a
        ensemble.withUnsafeMutableBufferPointer { e in b.withUnsafeBufferPointer { bb in for i in 0..<e.count { e[i] = (e[i] + bb[i]) / 2 } } }
        let agreeing = EnsembleAgreement.measure(members: [(model: "a", regionProbabilities: a), (model: "b", regionProbabilities: b)], ensemble: ensemble)
        var policy = PoolAdmissionPolicy()
        policy.wholeTumourMillilitres = 0...1000
        policy.minimumTeacherDice = [0.85, 0.75, 0.5]
        let good = ConfidenceAssessment.assess(agreement: agreeing, ensembleProbabilities: ensemble, labels: Self.labels(ensemble, n: n),
                                               geometry: geometry, convention: .brats2018, policy: policy)
        #expect(good.passes, "\(good.reasons)")
        #expect(good.score > 0.5 && good.score <= 1)
        #expect(good.dominantComponentFraction == 1)

        let far = Self.ball(size: n, radius: 3)
        let disagreeing = EnsembleAgreement.measure(members: [(model: "a", regionProbabilities: a), (model: "c", regionProbabilities: far)], ensemble: ensemble)
        let bad = ConfidenceAssessment.assess(agreement: disagreeing, ensembleProbabilities: ensemble, labels: Self.labels(ensemble, n: n),
                                              geometry: geometry, convention: .brats2018, policy: policy)
        #expect(!bad.passes)
        #expect(bad.reasons.contains { $0.hasPrefix("teacher WT Dice") && $0.contains("<") }, "\(bad.reasons)")
        #expect(bad.score < good.score)

        // A volume outside the plausible range fails and scores 0.
        policy.wholeTumourMillilitres = 5...300
        let tiny = ConfidenceAssessment.assess(agreement: agreeing, ensembleProbabilities: ensemble, labels: Self.labels(ensemble, n: n),
                                               geometry: geometry, convention: .brats2018, policy: policy)
        #expect(!tiny.passes && tiny.score == 0, "\(tiny.reasons)")
    }

    @Test("probabilities are stored as bytes clamped to [0, 1]; NaN and infinities do not trap")
    func probabilityBytes() {
        #expect(DistillationPool.probabilityByte(0) == 0)
        #expect(DistillationPool.probabilityByte(1) == 255)
        #expect(DistillationPool.probabilityByte(0.5) == 128)
        #expect(DistillationPool.probabilityByte(-3) == 0)
        #expect(DistillationPool.probabilityByte(7) == 255)
        #expect(DistillationPool.probabilityByte(.infinity) == 255)
        #expect(DistillationPool.probabilityByte(-.infinity) == 0)
        #expect(DistillationPool.probabilityByte(.nan) == 0)
        #expect(DistillationPool.probabilityByte(-.nan) == 0)
    }

    @Test("nesting violation counts TC outside WT and ET outside TC")
    func nesting() {
        // 4 voxels: WT only; TC without WT; ET with TC; ET without TC.
        let values: [Float] = [1, 0, 1, 1,   0, 1, 1, 0,   0, 0, 1, 1]
        let tensor = Tensor(shape: [1, 3, 1, 1, 4], values: values)
        let agreement = EnsembleAgreement.measure(members: [MemberPrediction](), ensemble: tensor)
        let assessment = ConfidenceAssessment.assess(agreement: agreement, ensembleProbabilities: tensor, labels: [2, 0, 4, 2],
                                                     geometry: VolumeGeometry(dims: [4, 1, 1]), convention: .brats2018, policy: .admitAll)
        // TC voxels: 1 (outside WT), 2 (inside); ET voxels: 2 (inside TC), 3 (outside): 2 of 4.
        #expect(abs(assessment.nestingViolation - 0.5) < 1e-12)
    }

    static func entry(_ name: String, kind: PoolEntry.Kind = .pseudoLabelled, score: Double, hash: String? = nil, at: Date = Date()) -> PoolEntry {
        let assessment = ConfidenceAssessment(teacherDice: nil, entropy: .init(wholeTumour: 0, tumourCore: 0, enhancingTumour: 0), nestingViolation: 0,
                                              wholeTumourMillilitres: 1, dominantComponentFraction: 1, score: score, passes: true, reasons: [])
        return PoolEntry(caseIdentifier: name, kind: kind, admittedAt: at, contentHash: hash ?? "hash-\(name)", inputHashes: [:],
                         labelFile: "\(name)_seg.nii.gz", probabilityFiles: [:], teachers: [], confidence: assessment)
    }

    static func admit(_ pool: DistillationPool, _ entry: PoolEntry, source: String) throws {
        let files = try CaseFiles.find(in: source)
        let geometry = try NiftiReader.read(from: files.modalities[0]).geometry
        try pool.admit(entry, inputs: files.modalities, label: [UInt8](repeating: 0, count: geometry.voxelCount), probabilities: [:],
                       geometry: geometry, evicting: [])
    }

    @Test("admission is atomic and round-trips; duplicates refused; a full pool evicts the least confident pseudo-label or refuses")
    func capAndEviction() throws {
        let scratch = try TemporaryDirectory()
        let source = try SyntheticCases.write(into: scratch.file("src"), count: 1, size: 8)[0]
        let pool = DistillationPool(directory: scratch.file("pool"), maximumEntries: 3)
        try Self.admit(pool, Self.entry("a", score: 0.9), source: source)
        try Self.admit(pool, Self.entry("b", score: 0.5), source: source)
        try Self.admit(pool, Self.entry("x", kind: .expertLabelled, score: 0, at: Date(timeIntervalSince1970: 0)), source: source)
        #expect(pool.entries().map(\.caseIdentifier) == ["a", "b", "x"])
        #expect(try pool.entry(named: "a") == Self.entry("a", score: 0.9).withDate(try pool.entry(named: "a").admittedAt))
        #expect(try CaseFiles.find(in: "\(pool.directory)/a").segmentation != nil, "an entry is a labelled case folder")
        #expect(try FileManager.default.contentsOfDirectory(atPath: pool.directory).allSatisfy { !$0.hasPrefix(".") })

        #expect(pool.decide(caseIdentifier: "c", contentHash: "hash-a", kind: .pseudoLabelled, score: 1) == .duplicate(of: "a"))
        #expect(pool.decide(caseIdentifier: "c", contentHash: "new", kind: .pseudoLabelled, score: 0.7) == .admit(evicting: ["b"]))
        #expect(pool.decide(caseIdentifier: "c", contentHash: "new", kind: .pseudoLabelled, score: 0.4) == .full(lowestScore: 0.5))
        #expect(pool.decide(caseIdentifier: "y", contentHash: "new", kind: .expertLabelled, score: 0) == .admit(evicting: ["b"]))
        #expect(pool.decide(caseIdentifier: "b", contentHash: "new", kind: .pseudoLabelled, score: 0.1) == .admit(evicting: ["b"]),
                "a re-dropped case with new content replaces its own entry")

        try pool.remove("b")
        #expect(pool.entries().map(\.caseIdentifier) == ["a", "x"])
        #expect(throws: DistillationPool.PoolError.self) { try pool.remove("../etc") }
    }
}

extension PoolEntry {
    func withDate(_ date: Date) -> PoolEntry {
        var copy = self
        copy.admittedAt = date
        return copy
    }
}

@Suite("Promotion gate")
struct PromotionGateTests {
    let gate = PromotionGate(epsilon: 0.005, delta: 0.02)
    static func dice(_ wt: Double, _ tc: Double, _ et: Double) -> ModelCard.Dice {
        ModelCard.Dice(wholeTumour: wt, tumourCore: tc, enhancingTumour: et)
    }

    @Test("equal or better is promoted; a mean loss beyond ε or a region drop beyond δ is rejected")
    func rule() {
        let current = Self.dice(0.80, 0.60, 0.60)
        #expect(gate.decide(current: current, candidate: current).promote)
        #expect(gate.decide(current: current, candidate: Self.dice(0.82, 0.61, 0.60)).promote)
        #expect(gate.decide(current: current, candidate: Self.dice(0.80, 0.60, 0.59)).promote, "mean −0.0033 ≤ ε, region −0.01 ≤ δ")
        let meanLoss = gate.decide(current: current, candidate: Self.dice(0.79, 0.59, 0.59))
        #expect(!meanLoss.promote && meanLoss.reasons[0].contains("<"))
        let regionDrop = gate.decide(current: current, candidate: Self.dice(0.90, 0.70, 0.55))
        #expect(!regionDrop.promote, "mean improves but ET drops 0.05 > δ")
        #expect(regionDrop.reasons.contains { $0.hasPrefix("ET drops") })
        #expect(!gate.decide(current: current, candidate: Self.dice(0, 0, 0)).promote)
    }

    @Test("a lesion-wise gate says so in its reasons; decisions recorded without a metric read as volume-wise")
    func metric() throws {
        let lesionGate = PromotionGate(epsilon: 0.005, delta: 0.02, metric: .lesion)
        let decision = lesionGate.decide(current: Self.dice(0.8, 0.6, 0.6), candidate: Self.dice(0.8, 0.6, 0.6))
        #expect(decision.reasons[0].hasPrefix("mean lesion-wise Dice (pq_dsc)"), "\(decision.reasons)")
        #expect(gate.decide(current: Self.dice(0.8, 0.6, 0.6), candidate: Self.dice(0.8, 0.6, 0.6)).reasons[0].hasPrefix("mean Dice"))
        let old = try JSONDecoder().decode(PromotionGate.self, from: Data(#"{"epsilon": 0.005, "delta": 0.02}"#.utf8))
        #expect(old == gate && old.metric == .volume)
        let roundTrip = try JSONDecoder().decode(PromotionGate.self, from: try JSONEncoder().encode(lesionGate))
        #expect(roundTrip == lesionGate)
    }
}

@Suite("Model versions: promote, rollback, prune")
struct ModelVersionsTests {
    @Test("promotion adds the next version and switches current; rollback goes back; pruning keeps the one in service")
    func lifecycle() throws {
        let scratch = try TemporaryDirectory()
        let layout = RootLayout(root: scratch.path)
        let model = ModelRegistry.make("student", profile: .cpu)!
        let card = ModelCard(name: "student", version: "1", profile: .cpu, role: .student, architecture: model.architecture,
                             parameterCount: model.parameterCount)
        try ModelStore.save(model, card: card, to: scratch.file("source"))
        try ModelInstaller.install(from: scratch.file("source"), name: "student", layout: layout)
        let versions = ModelVersions(name: "student", layout: layout)
        #expect(versions.current == "1")
        for _ in 0..<3 {
            try FileManager.default.copyItem(atPath: scratch.file("source"), toPath: scratch.file("candidate"))
            _ = try versions.promote(from: scratch.file("candidate"), notes: "test")
            try FileManager.default.removeItem(atPath: scratch.file("candidate"))
        }
        #expect(versions.numbers == [1, 2, 3, 4] && versions.current == "4")
        #expect(versions.list().last?.card?.version == "4" && versions.list().last?.card?.notes == "test")
        #expect(try versions.rollback(to: nil) == ("4", "3"))
        #expect(try versions.rollback(to: "1") == ("3", "1"))
        #expect(throws: ModelVersions.VersionError.self) { try versions.rollback(to: "9") }
        #expect(throws: ModelVersions.VersionError.self) { try versions.rollback(to: nil) }   // nothing older than 1
        #expect(versions.prune(keep: 2) == ["2", "3"])
        #expect(versions.numbers == [1, 4] && versions.current == "1")

        // A lost `current` (deleted, dangling, a loop) points back at the newest installed
        // version; the shipped model is not installed over the promoted ones.
        for damage in ["delete", "dangling", "loop"] {
            unlink(layout.models + "/student/current")
            if damage == "dangling" { #expect(symlink("9", layout.models + "/student/current") == 0) }
            if damage == "loop" { #expect(symlink("current", layout.models + "/student/current") == 0) }
            var warnings: [String] = []
            let loaded = try ModelInstaller.load(["student"], layout: layout, profile: .cpu, searchFolder: scratch.file("source"),
                                                 allowUntrained: false, warn: { warnings.append($0) })
            #expect(loaded["student"]?.version == "4", "\(damage)")
            #expect(versions.numbers == [1, 4] && versions.current == "4", "\(damage): \(versions.numbers)")
            #expect(warnings.count == 1 && warnings[0].contains("points at version 4"), "\(warnings)")
        }
        // Another model's folder put in service under this name is refused, not run as it.
        let unet = ModelRegistry.make("unet", profile: .cpu)!
        try ModelStore.save(unet, card: ModelCard(name: "unet", version: "1", profile: .cpu, role: .teacher, architecture: unet.architecture,
                                                  parameterCount: unet.parameterCount), to: layout.models + "/student/5")
        try ModelInstaller.switchCurrent(name: "student", to: "5", layout: layout)
        #expect {
            try ModelInstaller.load(["student"], layout: layout, profile: .cpu, searchFolder: nil, allowUntrained: false, warn: { _ in })
        } throws: { "\($0)".contains("holds a unet model, not student") }
    }
}

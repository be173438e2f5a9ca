import Core
import Daemon
import Foundation
import Plugins
import TestSupport
import Testing

@Suite("Case report")
struct CaseReportTests {
    static func sampleReport() throws -> CaseReport {
        var builder = CaseReportBuilder(caseIdentifier: "Brats18_demo", received: Date(timeIntervalSince1970: 1_790_000_000.125),
                                        started: Date(timeIntervalSince1970: 1_790_000_001.5), convention: .brats2018)
        builder.record(.load, milliseconds: 812.5)
        builder.recordModel("unet", milliseconds: 20_100)
        builder.recordModel("student", milliseconds: 7_000)
        builder.record(.write, milliseconds: 40)
        builder.record(.write, milliseconds: 2)
        // 2 mm voxels: 0.008 mL each. 10 edema, 5 core, 3 enhancing voxels.
        let geometry = VolumeGeometry(dims: [10, 10, 10], spacing: [2, 2, 2])
        var labels = [UInt8](repeating: 0, count: 1000)
        for index in 0..<10 { labels[index] = 2 }
        for index in 10..<15 { labels[index] = 1 }
        for index in 15..<18 { labels[index] = 4 }
        builder.describe(geometry: geometry, labels: labels)
        builder.models = [.init(name: "unet", version: "3", inEnsemble: true, ensembleWeight: 1),
                          .init(name: "student", version: "7", inEnsemble: false)]
        let map = Tensor(shape: [1, 3, 2, 2, 2], values: (0..<24).map { Float($0 % 2) })
        builder.agreement = EnsembleAgreement.measure(members: [("unet", map), ("student", map)], ensemble: map)
        // RegionMetrics has no public memberwise initialiser: decode one (an infinite HD95 tests the JSON encoding).
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let metrics = try decoder.decode(RegionMetrics.self, from: Data(#"{"dice": 0.91, "hausdorff95": "inf", "sensitivity": 0.9, "specificity": 1, "predictedVoxels": 18, "truthVoxels": 20}"#.utf8))
        builder.evaluation = CaseReport.Evaluation(truthFile: "Brats18_demo_seg.nii.gz",
                                                   metrics: [.wholeTumour: metrics, .tumourCore: metrics, .enhancingTumour: metrics])
        builder.inputs = [.init(role: "FLAIR", name: "Brats18_demo_flair.nii.gz", bytes: 3,
                                sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")]
        return try builder.build(completed: Date(timeIntervalSince1970: 1_790_000_031.25))
    }

    @Test func sha256IsStreamedAndCorrect() throws {
        let directory = try TemporaryDirectory()
        try Data("abc".utf8).write(to: URL(fileURLWithPath: directory.file("abc")))
        let small = try CaseReportBuilder.sha256(ofFileAt: directory.file("abc"))
        #expect(small.digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(small.bytes == 3)
        // Three 1 MiB blocks, the last partial (value from Python's hashlib).
        try Data(repeating: UInt8(ascii: "a"), count: 3_000_000).write(to: URL(fileURLWithPath: directory.file("big")))
        let big = try CaseReportBuilder.sha256(ofFileAt: directory.file("big"))
        #expect(big.digest == "2a152c894398719c0570f83fac34ac03a0f6e8e474b995c2403aa5434f7b9dd4" && big.bytes == 3_000_000)
        try Data().write(to: URL(fileURLWithPath: directory.file("empty")))
        #expect(try CaseReportBuilder.sha256(ofFileAt: directory.file("empty")).digest
                == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func specialAndMissingFilesAreRefusedWithoutHanging() throws {
        let directory = try TemporaryDirectory()
        let fifo = directory.file("pipe_flair.nii.gz")
        #expect(mkfifo(fifo, 0o600) == 0)
        let error = try #require(throws: CaseReportError.self) { try CaseReportBuilder.sha256(ofFileAt: fifo) }
        #expect(error.path == fifo && error.detail.contains("regular file"))
        #expect(throws: CaseReportError.self) { try CaseReportBuilder.sha256(ofFileAt: directory.file("absent")) }
        #expect(throws: CaseReportError.self) { try CaseReportBuilder.sha256(ofFileAt: directory.path) }
    }

    @Test func volumesAndTimings() throws {
        let report = try Self.sampleReport()
        #expect(abs(report.volumesMillilitres.wholeTumour - 18 * 0.008) < 1e-12)
        #expect(abs(report.volumesMillilitres.tumourCore - 8 * 0.008) < 1e-12)
        #expect(abs(report.volumesMillilitres.enhancingTumour - 3 * 0.008) < 1e-12)
        #expect(report.times.stagesMilliseconds.write == 42)
        #expect(report.times.stagesMilliseconds.models == ["unet": 20_100, "student": 7_000])
        #expect(report.times.stagesMilliseconds.total == 29_750)
        #expect(report.outputs.segmentation == "Brats18_demo_seg.nii.gz" && report.outputs.qualityControlPicture == "Brats18_demo_qc.png")
        #expect(report.geometry.orientation == "RAS" && report.schemaVersion == CaseReport.currentSchemaVersion)
        #expect(report.confidence == nil)
    }

    @Test("the report lists each region's predicted lesions (26-connected), largest first")
    func lesions() throws {
        var builder = CaseReportBuilder(caseIdentifier: "Brats18_demo", received: nil, started: Date(timeIntervalSince1970: 1_790_000_001.5),
                                        convention: .brats2018)
        // 2 mm voxels: 0.008 mL each. WT: an 18-voxel row with core and enhancing parts, and an
        // isolated edema voxel (one lesion of its own) at the far corner.
        var labels = [UInt8](repeating: 0, count: 1000)
        for index in 0..<10 { labels[index] = 2 }
        for index in 10..<15 { labels[index] = 1 }
        for index in 15..<18 { labels[index] = 4 }
        labels[999] = 2
        builder.describe(geometry: VolumeGeometry(dims: [10, 10, 10], spacing: [2, 2, 2]), labels: labels)
        let report = try builder.build(completed: Date(timeIntervalSince1970: 1_790_000_031.25))
        let lesions = try #require(report.lesions)
        #expect(lesions.wholeTumour.count == 2 && lesions.wholeTumour.voxels == [18, 1])
        #expect(lesions.wholeTumour.millilitres.map { ($0 * 1000).rounded() / 1000 } == [0.144, 0.008])
        #expect(lesions.tumourCore.voxels == [8] && lesions.enhancingTumour.voxels == [3])
        let text = String(decoding: try report.encoded(), as: UTF8.self)
        #expect(text.contains("\"lesions\""), "\(text)")
        #expect(try CaseReport.decode(try report.encoded()) == report)
    }

    @Test func encodesSortedAndDecodesToTheSameReport() throws {
        let report = try Self.sampleReport()
        let bytes = try report.encoded()
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains("\"sha256\" : \"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\""))
        #expect(text.contains("\"received\" : \"2026-09-21T"), "ISO 8601 dates")
        #expect(text.contains(".125Z\""), "milliseconds kept")
        #expect(text.contains("\"WT\" :") && text.contains("\"hausdorff95Millimetres\" : \"inf\""))
        #expect(!text.contains("confidence"), "unknown optional fields are omitted")
        let keys = ["agreement", "caseIdentifier", "evaluation", "geometry", "inputs", "labelConvention", "models",
                    "outputs", "schemaVersion", "times", "volumesMillilitres"]
        let positions = keys.map { text.range(of: "\n  \"\($0)\" :")?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil } && positions.map { $0! } == positions.map { $0! }.sorted(), "top-level keys sorted")
        let decoded = try CaseReport.decode(bytes)
        #expect(decoded == report)
        var withConfidence = report
        withConfidence.confidence = .init(score: 0.8, admittedToPool: true, reasons: ["teachers agree"])
        #expect(try CaseReport.decode(withConfidence.encoded()) == withConfidence)
        var withCheck = report
        var labels: [UInt8] = [0, 0, 4, 4]
        let outcome = EnhancementCheck.relabelNonEnhancing(&labels, t1: [1, 1, 1, 1], t1ce: [1, 1, 0.5, 0.5], enhancingLabel: 4,
                                                           minimumEnhancingVoxels: 0)
        withCheck.enhancementCheck = .init(outcome, voxelVolumeMillilitres: 0.5)
        #expect(withCheck.enhancementCheck?.relabelledVoxels == 2 && withCheck.enhancementCheck?.relabelledMillilitres == 1)
        #expect(try CaseReport.decode(withCheck.encoded()) == withCheck)
    }

    @Test func writesAtomicallyAndReadsBack() throws {
        let directory = try TemporaryDirectory()
        let report = try Self.sampleReport()
        let path = directory.file(report.outputs.report)
        try report.write(to: path)
        #expect(directory.contents() == ["Brats18_demo_report.json"])
        #expect(try CaseReport.read(from: path) == report)
        let missing = directory.file("gone/x_report.json")
        let error = try #require(throws: CaseReportError.self) { try report.write(to: missing) }
        #expect(error.path == missing)
        #expect(throws: CaseReportError.self) { try CaseReport.decode(Array("{}".utf8), path: "bad.json") }
    }

    @Test func buildingNeedsTheGeometry() {
        let builder = CaseReportBuilder(caseIdentifier: "c", received: nil, convention: .brats2023)
        #expect(throws: CaseReportError.self) { try builder.build() }
    }

    @Test func inputsOfARealCaseFolder() throws {
        let directory = try TemporaryDirectory()
        let folder = try SyntheticCases.write(into: directory.path, count: 1, size: 12)[0]
        let files = try CaseFiles.find(in: folder)
        var builder = CaseReportBuilder(caseIdentifier: files.identifier, received: nil, convention: .brats2018)
        try builder.addInputs(files)
        #expect(builder.inputs.map(\.role) == ["T1", "T1ce", "T2", "FLAIR", "segmentation"])
        #expect(builder.inputs.map(\.name) == ["case0_t1.nii.gz", "case0_t1ce.nii.gz", "case0_t2.nii.gz", "case0_flair.nii.gz", "case0_seg.nii.gz"])
        for input in builder.inputs {
            let size = try FileManager.default.attributesOfItem(atPath: "\(folder)/\(input.name)")[.size] as? Int
            #expect(Int64(size ?? -1) == input.bytes)
            #expect(input.sha256.count == 64 && input.sha256.allSatisfy { "0123456789abcdef".contains($0) })
        }
        #expect(Set(builder.inputs.map(\.sha256)).count == 5)
    }

    @Test("inputs the daemon already hashed are taken from its ContentHash, the others are hashed")
    func knownDigestsAreNotReadAgain() throws {
        let directory = try TemporaryDirectory()
        let folder = try SyntheticCases.write(into: directory.path, count: 1, size: 8)[0]
        let files = try CaseFiles.find(in: folder)
        let hash = try ContentHash.compute(files: files.modalities)
        var known = hash.files
        known[0].sha256 = "stands-for-a-digest-the-daemon-computed"
        var builder = CaseReportBuilder(caseIdentifier: "case0", received: nil, convention: .brats2018)
        try builder.addInputs(files, known: known)
        #expect(builder.inputs.map(\.role) == ["T1", "T1ce", "T2", "FLAIR", "segmentation"])
        #expect(builder.inputs.filter { $0.sha256 == "stands-for-a-digest-the-daemon-computed" }.count == 1)
        let segmentation = try CaseReportBuilder.sha256(ofFileAt: files.segmentation!)
        #expect(builder.inputs.last?.sha256 == segmentation.digest && builder.inputs.last?.bytes == segmentation.bytes)
        let byPath = Dictionary(uniqueKeysWithValues: known.map { ($0.path, $0.sha256) })
        #expect(builder.inputs.prefix(4).map(\.sha256) == files.modalities.map { byPath[$0] })
    }
}

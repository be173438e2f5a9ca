import Core
@testable import Daemon
import Foundation
import Logging
import Plugins
import Testing
import TestSupport

/// What a nightly retrain trains on: never the gate's hold-out, whatever name it comes under.
@Suite("Retrain manifest")
struct RetrainManifestTests {
    @Test("a hold-out case re-sent under another name is left out of training, from the pool and from the labelled folders")
    func holdoutByContent() throws {
        let scratch = try TemporaryDirectory()
        let (labelled, configuration, _, pool) = try Self.root(in: scratch)
        // The gate's case0, sent again as an accession number, admitted as expert-labelled.
        try PoolTests.admit(pool, PoolTests.entry("hx_case0", kind: .expertLabelled, score: 1,
                                                  hash: try Self.scanHashes(labelled[0])), source: labelled[0])
        try PoolTests.admit(pool, PoolTests.entry("other", score: 0.9, hash: try Self.scanHashes(labelled[1])), source: labelled[1])
        // And a copy of it in the labelled folder under another name.
        try FileManager.default.copyItem(atPath: labelled[0], toPath: scratch.file("root/labelled/renamed"))

        let manifest = try Self.retraining(configuration).freezeManifest(run: "run-test", startingVersion: "1")
        #expect(manifest.holdoutCases == [labelled[0]])
        #expect(manifest.excludedPoolEntries == ["hx_case0"])
        #expect(manifest.pool.map(\.caseIdentifier) == ["other"])
        #expect(manifest.labelledCases.map { URL(fileURLWithPath: $0).lastPathComponent }.sorted() == ["case1", "case2"])
    }

    @Test("a damaged pool entry is left out of the run with its reason, not a stop for the whole retrain")
    func damagedPoolEntry() throws {
        let scratch = try TemporaryDirectory()
        let (labelled, configuration, layout, pool) = try Self.root(in: scratch)
        try PoolTests.admit(pool, PoolTests.entry("good", score: 0.9, hash: "a"), source: labelled[1])
        try PoolTests.admit(pool, PoolTests.entry("broken", score: 0.9, hash: "b"), source: labelled[2])
        let scan = try CaseFiles.find(in: "\(layout.pool)/broken").modalities[1]
        try Data(try Data(contentsOf: URL(fileURLWithPath: scan)).prefix(100)).write(to: URL(fileURLWithPath: scan))

        let manifest = try Self.retraining(configuration).freezeManifest(run: "run-test", startingVersion: "1")
        #expect(manifest.pool.map(\.caseIdentifier) == ["good"])
        #expect(manifest.unusablePoolEntries?.keys.sorted() == ["broken"])
        #expect(manifest.unusablePoolEntries?["broken"]?.contains(URL(fileURLWithPath: scan).lastPathComponent) == true, "\(manifest.unusablePoolEntries ?? [:])")
    }

    @Test("a retrain that fails after it started is recorded as finished with its reason; the student stays")
    func failureIsRecorded() throws {
        let scratch = try TemporaryDirectory()
        try SyntheticCases.write(into: scratch.file("root/labelled"), count: 3)
        var configuration = DaemonConfiguration()
        configuration.root = scratch.file("root")
        configuration.retrain.holdout = ["case0"]
        let layout = RootLayout(root: configuration.root)
        try FileManager.default.createDirectory(atPath: "\(layout.models)/student/1", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: "\(layout.models)/student/current", withDestinationPath: "1")
        var options = StudentRetraining.Options()
        options.candidate = scratch.file("no-such-candidate")
        let retraining = Self.retraining(configuration, options: options)
        #expect(throws: (any Error).self) { try retraining.run() }
        let ledger = try Ledger(path: layout.ledger)
        let finished = try ledger.modelEvents(kind: .retrainFinished)
        #expect(finished.count == 1)
        #expect(finished.first?.detailJSON?.contains("\"failed\"") == true && finished.first?.detailJSON?.contains("no-such-candidate") == true,
                "\(finished.first?.detailJSON ?? "")")
        #expect(ModelVersions(name: "student", layout: layout).current == "1")
    }

    @Test("old runs keep their manifest and decision but not their weights; an unfinished run goes entirely")
    func tidiesRuns() throws {
        let scratch = try TemporaryDirectory()
        var configuration = DaemonConfiguration()
        configuration.root = scratch.path
        let retraining = Self.retraining(configuration)
        let runs = (1...12).map { String(format: "run-20261201T%02d0000Z-1", $0) }
        for run in runs + ["run-20261202T000000Z-9"] {
            try FileManager.default.createDirectory(atPath: "\(retraining.retrainFolder)/\(run)/training/final", withIntermediateDirectories: true)
            if run != "run-20261202T000000Z-9" { _ = FileManager.default.createFile(atPath: "\(retraining.retrainFolder)/\(run)/decision.json", contents: Data("{}".utf8)) }
        }
        retraining.removeUnfinishedRuns()
        let left = try FileManager.default.contentsOfDirectory(atPath: retraining.retrainFolder).sorted()
        #expect(left == runs, "the unfinished run is removed, every finished one stays")
        for (index, run) in runs.enumerated() {
            #expect(FileManager.default.fileExists(atPath: "\(retraining.retrainFolder)/\(run)/decision.json"))
            #expect(FileManager.default.fileExists(atPath: "\(retraining.retrainFolder)/\(run)/training") == (index >= 2), "\(run)")
        }
    }

    @Test("a promotion whose retrain was killed before recording it is recorded by the next retrain, once")
    func interruptedPromotion() throws {
        let scratch = try TemporaryDirectory()
        var configuration = DaemonConfiguration()
        configuration.root = scratch.path
        let layout = RootLayout(root: scratch.path)
        let student = ModelRegistry.make("student", profile: .cpu)!
        try ModelStore.save(student, card: ModelCard(name: "student", version: "2", profile: .cpu, role: .student, architecture: student.architecture,
                                                     parameterCount: student.parameterCount,
                                                     notes: "retrained by brainseg retrain run run-20261207T010000Z-42 from student v1 on 13 labelled + 2 pool cases"),
                           to: "\(layout.models)/student/2")
        try ModelInstaller.switchCurrent(name: "student", to: "2", layout: layout)
        let retraining = Self.retraining(configuration)
        try FileManager.default.createDirectory(atPath: "\(retraining.retrainFolder)/run-20261207T010000Z-42/training", withIntermediateDirectories: true)
        let ledger = try Ledger(path: layout.ledger)
        retraining.recordInterruptedPromotion(ledger)
        retraining.recordInterruptedPromotion(ledger)
        let promotions = try ledger.modelEvents(kind: .promoted)
        #expect(promotions.count == 1 && promotions.first?.version == "2")
        #expect(promotions.first?.detailJSON?.contains("run-20261207T010000Z-42") == true && promotions.first?.detailJSON?.contains("recovered") == true)
    }

    /// A root with three labelled synthetic cases (`case0` the gate's hold-out) and an empty pool.
    static func root(in scratch: TemporaryDirectory) throws -> ([String], DaemonConfiguration, RootLayout, DistillationPool) {
        let labelled = try SyntheticCases.write(into: scratch.file("root/labelled"), count: 3)
        var configuration = DaemonConfiguration()
        configuration.root = scratch.file("root")
        configuration.retrain.holdout = ["case0"]
        let layout = RootLayout(root: configuration.root)
        return (labelled, configuration, layout, DistillationPool(directory: layout.pool, maximumEntries: 10))
    }

    static func retraining(_ configuration: DaemonConfiguration, options: StudentRetraining.Options = .init()) -> StudentRetraining {
        StudentRetraining(configuration: configuration, options: options, logger: Logger(label: "test"), report: { _ in })
    }

    /// A pool entry's `contentHash`: the four scans' SHA-256, joined by ":".
    static func scanHashes(_ folder: String) throws -> String {
        try CaseFiles.find(in: folder).modalities.map { ContentHash.hex(try ContentHash.digestOfFile($0).0) }.joined(separator: ":")
    }
}

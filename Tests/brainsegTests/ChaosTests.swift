import Core
import Foundation
import Testing
import TestSupport

/// Chaos: cases dropped while the daemon is killed with SIGKILL at random moments, during
/// start-up and the first model install included, and restarted as systemd would. Afterwards
/// nothing may be lost (every case has its output and its inputs in archive/), nothing
/// processed twice (one output folder and at most one completion per case) and no output
/// partial (every published folder holds mask, report and QC picture, and the mask reads).
///
/// CI runs `BRAINSEG_CHAOS_CASES` (default 12) cases; `scripts/chaos.sh 60` is the long run.
@Suite("brainseg serve: chaos (random kill -9 while cases arrive)", .serialized)
struct ChaosTests {
    @Test("random kill -9 loses nothing, duplicates nothing, publishes nothing partial", .timeLimit(.minutes(60)))
    func randomKills() throws {
        let environment = ProcessInfo.processInfo.environment
        let caseCount = Int(environment["BRAINSEG_CHAOS_CASES"] ?? "") ?? 12
        var random = SeededRandom(seed: UInt64(environment["BRAINSEG_CHAOS_SEED"] ?? "") ?? 7)
        let scratch = try TemporaryDirectory()
        let sources = try SyntheticCases.write(into: scratch.file("sources"), count: caseCount, size: 20)
        let daemon = try DaemonHarness(root: scratch.file("root"), configuration: """
            [models]
            ensemble = ["student", "unet"]
            student_alongside = false
            [watch]
            quiescence_seconds = 1
            """)
        var dropped = 0
        var kills = 0
        var killsBeforeReady = 0
        while dropped < caseCount {
            let readyWithin = Double(random.nextUniform()) < 0.25 ? 0.05 + 0.5 * Double(random.nextUniform()) : 60
            let ready = try daemon.start(timeout: readyWithin)
            if ready == nil { killsBeforeReady += 1 }
            // A burst of one to four cases, by copy or by rename.
            let burst = min(caseCount - dropped, 1 + Int(random.next() % 4))
            for _ in 0..<burst {
                let name = "chaos\(dropped)"
                if random.next() % 2 == 0 {
                    try daemon.copyInPlace(sources[dropped], as: name)
                    FileManager.default.createFile(atPath: "\(daemon.incoming)/\(name)/READY", contents: Data())
                } else {
                    try daemon.renameIntoPlace(sources[dropped], as: name)
                }
                dropped += 1
            }
            Thread.sleep(forTimeInterval: 0.2 + 2.5 * Double(random.nextUniform()))
            #expect(daemon.stop(signal: SIGKILL, timeout: 10) != nil)
            kills += 1
        }
        // No more kills: everything must complete.
        try daemon.start()
        let names = (0..<caseCount).map { "chaos\($0)" }
        let archived = "\(daemon.root)/archive"
        #expect(DaemonHarness.wait(timeout: 60 + 10 * Double(caseCount)) {
            names.allSatisfy { FileManager.default.fileExists(atPath: "\(daemon.output($0))/\($0)_report.json") && FileManager.default.fileExists(atPath: "\(archived)/\($0)") }
        }, "not all cases completed: \(daemon.log)")
        #expect(daemon.stop() == 0)

        let outputs = try FileManager.default.contentsOfDirectory(atPath: "\(daemon.root)/output").sorted()
        #expect(outputs == names.sorted(), "output folders: \(outputs)")   // nothing twice, no staging left
        for name in names {
            let folder = daemon.output(name)
            let files = Set(try FileManager.default.contentsOfDirectory(atPath: folder))
            #expect(files == ["\(name)_seg.nii.gz", "\(name)_report.json", "\(name)_qc.png"], "\(name): \(files)")
            #expect(throws: Never.self) { _ = try NiftiReader.read(from: "\(folder)/\(name)_seg.nii.gz") }
            #expect(daemon.log.components(separatedBy: "case completed: \(name) ").count - 1 <= 1, "\(name) completed twice")
        }
        let archive = try FileManager.default.contentsOfDirectory(atPath: archived).sorted()
        #expect(archive == names.sorted(), "archive: \(archive)")
        for folder in ["incoming", "work", "failed"] {
            let left = try FileManager.default.contentsOfDirectory(atPath: "\(daemon.root)/\(folder)").filter { !$0.hasPrefix(".") }
            #expect(left.isEmpty, "\(folder)/ still holds \(left)")
        }
        print("chaos: \(caseCount) cases, \(kills) kills (\(killsBeforeReady) before READY=1), all completed exactly once")
    }
}

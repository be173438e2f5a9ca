import Foundation
import Testing
import TestSupport
@testable import Daemon

/// `StatusReport` on roots whose ledger is written with the Ledger API, and the real
/// `brainseg status` executable reading a ledger while this process writes it.
@Suite("Status report")
struct StatusReportTests {
    /// A root with one completed, one failed, one duplicate, one processing case and a retrain.
    private func makeRoot(_ root: String) throws -> Ledger {
        let layout = RootLayout(root: root)
        for folder in layout.folders { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        try FileManager.default.createDirectory(atPath: "\(layout.incoming)/waiting", withIntermediateDirectories: true)
        let ledger = try Ledger(path: layout.ledger)
        let done = try ledger.register(caseName: "Brats18_done", contentHash: "a", inputFiles: []).caseID
        try ledger.transition(done, to: .queued)
        try ledger.transition(done, to: .processing)
        try ledger.recordCompletion(done, results: CaseResults(
            modelVersions: ["student": "7"], timings: ["total": 83.4], volumes: ["WT": 61.25, "TC": 20.5, "ET": 8.75],
            dice: ["WT": 0.9, "TC": 0.8, "ET": 0.7]))
        let bad = try ledger.register(caseName: "Brats18_bad", contentHash: "b", inputFiles: []).caseID
        try ledger.transition(bad, to: .failed, detail: "Brats18_bad_t2.nii.gz: shape 240×240×150 differs from 240×240×155\nsecond line")
        _ = try ledger.register(caseName: "Brats18_again", contentHash: "a", inputFiles: [])
        let running = try ledger.register(caseName: "Brats18_running", contentHash: "c", inputFiles: []).caseID
        try ledger.transition(running, to: .processing)
        try ledger.recordModelEvent(name: "student", version: "8", kind: .retrainFinished, detailJSON: #"{"outcome":"promoted"}"#)
        return ledger
    }

    @Test("queue, recent cases, failures, counts and the last retrain come from the ledger")
    func fromLedger() throws {
        let scratch = try TemporaryDirectory()
        _ = try makeRoot(scratch.path)
        let report = try StatusReport.gather(layout: RootLayout(root: scratch.path))
        #expect(report.ledgerNote == nil)
        #expect(report.incoming == ["waiting"])
        #expect(report.queue.map(\.caseName) == ["Brats18_running"])
        #expect(report.recent.count == 4)
        #expect(report.failures.map(\.caseName) == ["Brats18_bad"])
        #expect(report.counts["completed"] == 1 && report.counts["duplicate"] == 1 && report.counts["processing"] == 1)
        #expect(report.lastRetrain?.version == "8")
        #expect(report.poolSize == 0)

        let text = report.text(timeZone: TimeZone(identifier: "UTC")!)
        for expected in ["ledger: 4 cases", "1 unfinished in the ledger (1 processing)", "Brats18_done", "1 min 23 s",
                         "61.2/20.5/8.8", "student 7", "Dice 0.90/0.80/0.70", "duplicate of #1",
                         "shape 240×240×150 differs from 240×240×155 second line", "Last retrain:", "student 8"] {
            #expect(text.contains(expected), "missing \(expected) in:\n\(text)")
        }
        #expect(!text.contains("never"))
    }

    @Test("an unreadable ledger is a note in the report, not a crash")
    func corruptLedger() throws {
        let scratch = try TemporaryDirectory()
        try Data(repeating: 0x42, count: 8192).write(to: URL(fileURLWithPath: scratch.file("ledger.sqlite")))
        let report = try StatusReport.gather(layout: RootLayout(root: scratch.path))
        #expect(report.ledgerNote?.contains(scratch.file("ledger.sqlite")) == true)
        #expect(report.recent.isEmpty)
    }

    @Test("brainseg status --json reads the ledger while this process keeps writing it")
    func executableWhileWriting() async throws {
        let scratch = try TemporaryDirectory()
        let ledger = try makeRoot(scratch.path)
        let writing = Task.detached {
            for index in 0..<300 {
                if Task.isCancelled { break }
                let id = try ledger.register(caseName: "busy\(index)", contentHash: "busy\(index)", inputFiles: []).caseID
                try ledger.transition(id, to: .processing)
                try ledger.recordCompletion(id, results: CaseResults(timings: ["total": 1]))
            }
        }
        var totals: [Int] = []
        for _ in 0..<3 {
            let result = try ExecutableRunner.run(["status", "--root", scratch.path, "--json", "--limit", "3"], timeout: 60)
            #expect(result.status == 0, "stderr: \(result.standardError)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
            #expect(object["ledgerNote"] == nil)
            #expect((object["recent"] as? [Any])?.count == 3)
            let counts = try #require(object["counts"] as? [String: Int])
            totals.append(counts.values.reduce(0, +))
        }
        writing.cancel()
        try await writing.value
        #expect(totals.allSatisfy { $0 >= 4 })
        #expect(totals == totals.sorted())
    }
}

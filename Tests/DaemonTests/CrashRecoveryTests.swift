import Daemon
import Foundation
import Testing
import TestSupport

/// The state a `kill -9` leaves behind, built directly: a case folder in work/ whose ledger
/// record says `processing`. The restarted daemon must finish it once, not fail it.
@Suite("Crash recovery", .serialized)
struct CrashRecoveryTests {
    @Test("a case interrupted in processing is resumed from work/ and completed exactly once")
    func resumesInterruptedCase() throws {
        let scratch = try TemporaryDirectory()
        let root = scratch.file("root")
        let layout = RootLayout(root: root)
        for folder in layout.folders { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        let source = try SyntheticCases.write(into: scratch.file("sources"), count: 1, size: 24)[0]
        let folder = "\(layout.work)/case0"
        try FileManager.default.copyItem(atPath: source, toPath: folder)
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).sorted().map { "\(folder)/\($0)" }
        let ledger = try Ledger(path: layout.ledger)
        guard case .new(let id) = try ledger.register(caseName: "case0", contentHash: try ContentHash.compute(files: files).description,
                                                      inputFiles: files) else {
            Issue.record("expected a new registration")
            return
        }
        try ledger.transition(id, to: .processing, detail: "attempt started")

        let daemon = try DaemonHarness(root: root, configuration: """
            [models]
            ensemble = ["student"]
            student_alongside = false
            [watch]
            quiescence_seconds = 1
            """)
        try daemon.start()
        #expect(DaemonHarness.wait(timeout: 300) {
            FileManager.default.fileExists(atPath: "\(layout.output)/case0/case0_report.json")
                && FileManager.default.fileExists(atPath: "\(layout.archive)/case0")
        }, "\(daemon.log)")
        #expect(daemon.stop() == 0)
        let record = try #require(try Ledger(path: layout.ledger, access: .readOnly).caseRecord(id))
        #expect(record.state == .completed, "state \(record.state): \(daemon.log)")
        #expect(!FileManager.default.fileExists(atPath: "\(layout.failed)/case0"))
        #expect(try Ledger(path: layout.ledger, access: .readOnly).transitions(of: id).map(\.to).suffix(3) == [.queued, .processing, .completed])
    }
}

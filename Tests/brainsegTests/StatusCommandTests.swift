import Foundation
import Testing
import TestSupport

/// `brainseg status`, driven through the real executable, on roots built from folders.
/// (Roots with ledger records are in DaemonTests/StatusReportTests.swift, which can use the
/// Ledger API to create them; this target depends on TestSupport only.)
@Suite("brainseg status (end to end)")
struct StatusCommandTests {
    /// A root with incoming cases, a pool and two installed models but no ledger.
    private func makeRoot(_ root: String) throws {
        let manager = FileManager.default
        for folder in ["incoming/caseA", "incoming/caseB", "incoming/.hidden", "incoming/upload.part",
                       "pool/p1", "pool/p2", "pool/p3", "models/student/1", "models/student/2", "models/unet/1"] {
            try manager.createDirectory(atPath: "\(root)/\(folder)", withIntermediateDirectories: true)
        }
        let card = #"{"name":"student","version":"2","date":"2026-11-30T02:00:00Z","validationDice":{"WT":0.88,"TC":0.79,"ET":0.71}}"#
        try Data(card.utf8).write(to: URL(fileURLWithPath: "\(root)/models/student/2/model.json"))
        try manager.createSymbolicLink(atPath: "\(root)/models/student/current", withDestinationPath: "2")
    }

    @Test("an empty root: a report that says there is no ledger yet, exit 0")
    func emptyRoot() throws {
        let scratch = try TemporaryDirectory()
        let result = try ExecutableRunner.run(["status", "--root", scratch.path])
        #expect(result.status == 0, "stderr: \(result.standardError)")
        for expected in ["no ledger yet", "Queue: 0 in incoming/", "Recent cases: none", "Failures: none",
                         "Models: none installed", "Pool: no pool folder", "Last retrain: never"] {
            #expect(result.standardOutput.contains(expected), "missing \(expected) in:\n\(result.standardOutput)")
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.file("ledger.sqlite")), "status must not create a ledger")
    }

    @Test("a missing root: one clear line naming it on stderr, exit 1")
    func missingRoot() throws {
        let scratch = try TemporaryDirectory()
        let root = scratch.file("nowhere")
        let result = try ExecutableRunner.run(["status", "--root", root])
        #expect(result.status == 1)
        #expect(result.standardError.contains("no brainseg root at \(root)"), "stderr: \(result.standardError)")
        #expect(result.standardError.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: root))
    }

    @Test("folders: incoming cases (temporary names excluded), pool size, model versions from current + model.json")
    func folders() throws {
        let scratch = try TemporaryDirectory()
        try makeRoot(scratch.path)
        let result = try ExecutableRunner.run(["status", "--root", scratch.path])
        #expect(result.status == 0, "stderr: \(result.standardError)")
        let text = result.standardOutput
        for expected in ["Queue: 2 in incoming/", "caseA, caseB", "Pool: 3 entries", "0.88/0.79/0.71", "2026-11-30",
                         "no 'current' link"] {
            #expect(text.contains(expected), "missing \(expected) in:\n\(text)")
        }
        #expect(!text.contains("upload.part"))
    }

    @Test("--json is one object with the same facts")
    func json() throws {
        let scratch = try TemporaryDirectory()
        try makeRoot(scratch.path)
        let result = try ExecutableRunner.run(["status", "--root", scratch.path, "--json"])
        #expect(result.status == 0, "stderr: \(result.standardError)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        #expect(object["incoming"] as? [String] == ["caseA", "caseB"])
        #expect(object["poolSize"] as? Int == 3)
        #expect(object["lastRetrain"] == nil)
        #expect((object["ledgerNote"] as? String)?.contains("no ledger yet") == true)
        let models = try #require(object["models"] as? [[String: Any]])
        #expect(models.map { $0["name"] as? String } == ["student", "unet"])
        #expect(models.first?["currentVersion"] as? String == "2")
        #expect((models.first?["validationDice"] as? [String: Double])?["WT"] == 0.88)
        #expect(models.last?["currentVersion"] == nil)
    }
}

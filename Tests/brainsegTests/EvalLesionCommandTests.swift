import Foundation
import Testing
import TestSupport

/// `brainseg eval --metrics lesion --json`, driven through the real executable, against the
/// official BraTS evaluator's figures (Fixtures/lesion, made by make_lesion_fixtures.sh).
@Suite("brainseg eval --metrics lesion (end to end)")
struct EvalLesionCommandTests {
    /// Case → region → figure → value, from eval's JSON (`cases[].lesion`).
    static func lesionFigures(_ output: String) throws -> [String: [String: [String: Any]]] {
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        let cases = try #require(parsed["cases"] as? [[String: Any]])
        var result: [String: [String: [String: Any]]] = [:]
        for entry in cases {
            let name = try #require(entry["case"] as? String)
            result[name] = try #require(entry["lesion"] as? [String: [String: Any]], "\(name) has no lesion figures")
        }
        return result
    }

    /// eval's number, or its strings "nan"/"inf" for non-finite values.
    static func number(_ value: Any?) -> Double? {
        if let number = value as? NSNumber { return number.doubleValue }
        switch value as? String {
        case "nan": return .nan
        case "inf": return .infinity
        default: return nil
        }
    }

    static func compare(_ output: String, with expected: LesionFixtures.Expected) throws {
        let actual = try lesionFigures(output)
        #expect(Set(actual.keys) == Set(expected.keys))
        for (name, regions) in expected {
            for (region, figures) in regions {
                for (figure, wanted) in figures {
                    let value = try #require(number(actual[name]?[region]?[figure]), "\(name) \(region) \(figure) missing from eval's JSON")
                    let problem = LesionFixtures.mismatch(figure, actual: value, wanted: wanted.number)
                    #expect(problem == nil, "\(name) \(region) \(problem ?? "")")
                }
            }
        }
    }

    @Test("synthetic edge cases: eval's figures are the evaluator's")
    func synthetic() throws {
        let expected = try LesionFixtures.expected("expected_synthetic.json")
        let scratch = try TemporaryDirectory()
        let manager = FileManager.default
        for folder in ["pred", "truth"] { try manager.createDirectory(atPath: scratch.file(folder), withIntermediateDirectories: true) }
        for pair in expected.keys {
            try manager.copyItem(atPath: LesionFixtures.syntheticPath(pair, "pred"), toPath: scratch.file("pred/\(pair)_seg.nii.gz"))
            try manager.copyItem(atPath: LesionFixtures.syntheticPath(pair, "truth"), toPath: scratch.file("truth/\(pair)_seg.nii.gz"))
        }
        let result = try ExecutableRunner.run(["eval", "--pred", scratch.file("pred"), "--truth", scratch.file("truth"), "--metrics", "lesion", "--json"])
        #expect(result.status == 0, "stderr: \(result.standardError)")
        try Self.compare(result.standardOutput, with: expected)
    }

    @Test("real cases: the shipped ensemble's masks against the expert labels",
          .enabled(if: RealData.isAvailable, "BRAINSEG_DATA is not set: real-data lesion-wise comparison skipped"))
    func real() throws {
        let expected = try LesionFixtures.expected("expected_real.json")
        let root = try #require(RealData.root)
        let scratch = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: scratch.file("pred"), withIntermediateDirectories: true)
        for name in expected.keys {
            try FileManager.default.copyItem(atPath: LesionFixtures.realPredictionPath(name), toPath: scratch.file("pred/\(name)_seg.nii.gz"))
        }
        let result = try ExecutableRunner.run(["eval", "--pred", scratch.file("pred"), "--truth", "\(root)/brats18/labelled",
                                               "--metrics", "lesion", "--json"], timeout: 600)
        #expect(result.status == 0, "stderr: \(result.standardError)")
        try Self.compare(result.standardOutput, with: expected)
    }

    @Test("--metrics both gives the volume and the lesion-wise figures; volume stays the default")
    func families() throws {
        let pair = "spurious_lesion"
        let scratch = try TemporaryDirectory()
        for folder in ["pred", "truth"] {
            try FileManager.default.createDirectory(atPath: scratch.file(folder), withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: LesionFixtures.syntheticPath(pair, folder), toPath: scratch.file("\(folder)/\(pair)_seg.nii.gz"))
        }
        let arguments = ["eval", "--pred", scratch.file("pred"), "--truth", scratch.file("truth"), "--json"]
        let both = try ExecutableRunner.run(arguments + ["--metrics", "both"])
        #expect(both.status == 0, "stderr: \(both.standardError)")
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(both.standardOutput.utf8)) as? [String: Any])
        let first = try #require((parsed["cases"] as? [[String: Any]])?.first)
        #expect(first["metrics"] != nil && first["lesion"] != nil)
        #expect(parsed["summary"] != nil && parsed["lesionSummary"] != nil)

        let plain = try ExecutableRunner.run(arguments)
        let volume = try #require(try JSONSerialization.jsonObject(with: Data(plain.standardOutput.utf8)) as? [String: Any])
        #expect((volume["cases"] as? [[String: Any]])?.first?["lesion"] == nil)
        #expect(volume["lesionSummary"] == nil)

        let table = try ExecutableRunner.run(["eval", "--pred", scratch.file("pred"), "--truth", scratch.file("truth"), "--metrics", "lesion"])
        #expect(table.standardOutput.contains("pq_dsc") && table.standardOutput.contains("373 mm"), "\(table.standardOutput)")

        let wrong = try ExecutableRunner.run(arguments + ["--metrics", "lesions"])
        #expect(wrong.status != 0)
        #expect(wrong.standardError.contains("--metrics must be volume, lesion or both"), "\(wrong.standardError)")
    }
}

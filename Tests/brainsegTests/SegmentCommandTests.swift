import Core
import Foundation
import Testing
import TestSupport

/// `brainseg segment` and `brainseg eval` through the real executable.
@Suite("brainseg segment and eval (end to end)")
struct SegmentCommandTests {
    @Test("a synthetic case: mask with the input's exact geometry, labels in {0,1,2,4}, inside the brain; eval prints the table")
    func syntheticCase() throws {
        let scratch = try TemporaryDirectory()
        let cases = try SyntheticCases.write(into: scratch.file("in"), count: 1, size: 32)
        // A copy of the executable outside the source tree does not find the shipped models/.
        let executable = scratch.file("brainseg")
        try FileManager.default.copyItem(atPath: ExecutableRunner.executablePath, toPath: executable)
        // Without trained weights the command refuses, saying where it looked and how to opt in.
        let refused = try ExecutableRunner.run(["segment", cases[0], "--out", scratch.file("refused"), "--models", "student,cascade",
                                                "--models-dir", scratch.file("no-models")], environment: ["BRAINSEG_MODELS": ""],
                                               timeout: 600, executable: executable)
        #expect(refused.status == 1)
        #expect(refused.standardError.contains("no trained weights for student") && refused.standardError.contains("--allow-untrained"),
                "stderr: \(refused.standardError)")
        #expect(!FileManager.default.fileExists(atPath: scratch.file("refused/case0_seg.nii.gz")))
        // Opted in: random weights, and a warning that says so.
        let result = try ExecutableRunner.run(["segment", cases[0], "--out", scratch.file("out"), "--models", "student,cascade",
                                               "--models-dir", scratch.file("no-models"), "--allow-untrained"],
                                              environment: ["BRAINSEG_MODELS": ""], timeout: 600, executable: executable)
        #expect(result.status == 0, "stderr: \(result.standardError)")
        #expect(result.standardError.contains("random weights"), "missing weights are never silent")
        let maskPath = scratch.file("out/case0_seg.nii.gz")
        let mask = try NiftiReader.read(from: maskPath)
        let source = try NiftiReader.read(from: "\(cases[0])/case0_t1.nii.gz")
        #expect(mask.geometry == source.geometry)
        #expect(mask.header.datatype == .uint8)
        #expect(Set(mask.voxels).isSubset(of: [0, 1, 2, 4]))
        for index in mask.voxels.indices where source.voxels[index] == 0 { #expect(mask.voxels[index] == 0) }

        let evaluation = try ExecutableRunner.run(["eval", "--pred", scratch.file("out"), "--truth", scratch.file("in"),
                                                   "--csv", scratch.file("metrics.csv")])
        #expect(evaluation.status == 0, "stderr: \(evaluation.standardError)")
        for text in ["Dice WT", "HD95 ET", "case0", "mean", "median", "std"] { #expect(evaluation.standardOutput.contains(text)) }
        let csv = try String(contentsOfFile: scratch.file("metrics.csv"), encoding: .utf8)
        #expect(csv.split(separator: "\n").count == 4)   // header + WT, TC, ET
        let json = try ExecutableRunner.run(["eval", "--pred", scratch.file("out"), "--truth", scratch.file("in"), "--json"])
        let parsed = try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any]
        #expect((parsed?["cases"] as? [Any])?.count == 1)
    }

    @Test("an incomplete case fails with a clear message and exit status 1")
    func incompleteCase() throws {
        let scratch = try TemporaryDirectory()
        let cases = try SyntheticCases.write(into: scratch.file("in"), count: 1, size: 16)
        try FileManager.default.removeItem(atPath: "\(cases[0])/case0_flair.nii.gz")
        let result = try ExecutableRunner.run(["segment", cases[0], "--out", scratch.file("out"), "--models", "student",
                                               "--models-dir", scratch.file("none")])
        #expect(result.status == 1)
        #expect(result.standardError.contains("missing FLAIR"))
    }

    @Test("a case folder of symbolic links (an operator's choice) is segmented like its targets; a dangling link is named")
    func linkedCase() throws {
        let scratch = try TemporaryDirectory()
        let original = try SyntheticCases.write(into: scratch.file("in"), count: 1, size: 16)[0]
        let linked = scratch.file("linked/case0")
        try FileManager.default.createDirectory(atPath: linked, withIntermediateDirectories: true)
        for file in try FileManager.default.contentsOfDirectory(atPath: original) {
            try FileManager.default.createSymbolicLink(atPath: "\(linked)/\(file)", withDestinationPath: "\(original)/\(file)")
        }
        for (folder, out) in [(original, "out-original"), (linked, "out-linked")] {
            let result = try ExecutableRunner.run(["segment", folder, "--out", scratch.file(out), "--models", "student", "--allow-untrained"],
                                                  timeout: 600)
            #expect(result.status == 0, "stderr: \(result.standardError)")
        }
        let masks = try ["out-original", "out-linked"].map { try NiftiReader.read(from: scratch.file("\($0)/case0_seg.nii.gz")).voxels }
        #expect(masks[0] == masks[1])

        try FileManager.default.removeItem(atPath: "\(original)/case0_t2.nii.gz")
        let dangling = try ExecutableRunner.run(["segment", linked, "--out", scratch.file("out-dangling"), "--models", "student",
                                                 "--allow-untrained"], timeout: 600)
        #expect(dangling.status == 1)
        #expect(dangling.standardError.contains("case0_t2.nii.gz"), "stderr: \(dangling.standardError)")
    }

    @Test("a file given as the case or as --out is named as such, not as a raw system error")
    func filesWhereFoldersBelong() throws {
        let scratch = try TemporaryDirectory()
        let cases = try SyntheticCases.write(into: scratch.file("in"), count: 1, size: 16)
        let file = "\(cases[0])/case0_t1.nii.gz"
        let asCase = try ExecutableRunner.run(["segment", file, "--out", scratch.file("out"), "--models", "student", "--allow-untrained"])
        #expect(asCase.status == 1)
        #expect(asCase.standardError.contains("this is a file, not a folder"), "stderr: \(asCase.standardError)")
        let asOutput = try ExecutableRunner.run(["segment", cases[0], "--out", file, "--models", "student", "--allow-untrained"])
        #expect(asOutput.status != 0)
        #expect(asOutput.standardError.contains("is a file; it must be a folder"), "stderr: \(asOutput.standardError)")
        #expect(!asOutput.standardError.contains("NSCocoaErrorDomain"), "stderr: \(asOutput.standardError)")
    }

    @Test("a real BraTS case: the mask has the input's exact geometry and eval reads it against the expert mask",
          .enabled(if: RealData.isAvailable, Comment(rawValue: RealData.skipReason)))
    func realCase() throws {
        let scratch = try TemporaryDirectory()
        let directory = "\(RealData.root!)/brats18/labelled/Brats18_2013_3_1"
        let result = try ExecutableRunner.run(["segment", directory, "--out", scratch.path, "--models", "student"], timeout: 900)
        #expect(result.status == 0, "stderr: \(result.standardError)")
        let mask = try NiftiReader.read(from: scratch.file("Brats18_2013_3_1_seg.nii.gz"))
        let source = try NiftiReader.read(from: "\(directory)/Brats18_2013_3_1_t1.nii.gz")
        #expect(mask.geometry == source.geometry)
        #expect(mask.header.dims == [240, 240, 155])
        let evaluation = try ExecutableRunner.run(["eval", "--pred", scratch.path, "--truth", "\(RealData.root!)/brats18/labelled"])
        #expect(evaluation.status == 0)
        #expect(evaluation.standardOutput.contains("Brats18_2013_3_1"))
    }
}

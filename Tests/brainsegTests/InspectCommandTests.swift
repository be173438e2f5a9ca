import Foundation
import Testing
import TestSupport

/// `brainseg inspect`, driven through the real executable.
@Suite("brainseg inspect (end to end)")
struct InspectCommandTests {
    @Test("prints dims, voxel size, datatype, scaling, orientation, codes and statistics")
    func describesFixture() throws {
        let result = try ExecutableRunner.run(["inspect", Fixtures.path("nifti/scaled_int16.nii")])
        #expect(result.status == 0, "stderr: \(result.standardError)")
        let text = result.standardOutput
        for expected in ["5 x 4 x 3", "1.5 x 1.25 x 3", "int16", "value × 0.5 + 10", "LPS",
                         "qform code    0", "sform code    2 (aligned)", "min/max/mean", "non-zero"] {
            #expect(text.contains(expected), "missing \(expected) in:\n\(text)")
        }
    }

    @Test("--json gives one parseable object per file")
    func json() throws {
        let files = [Fixtures.path("nifti/dtype_uint8.nii.gz"), Fixtures.path("nifti/fourd_int16.nii.gz")]
        let result = try ExecutableRunner.run(["inspect", "--json"] + files)
        #expect(result.status == 0, "stderr: \(result.standardError)")
        let parsed = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [[String: Any]]
        #expect(parsed?.count == 2)
        #expect(parsed?.first?["dims"] as? [Int] == [5, 4, 3])
        #expect(parsed?.first?["orientation"] as? String == "LPS")
        #expect(parsed?.first?["datatype"] as? String == "uint8")
        #expect(parsed?.last?["dims"] as? [Int] == [3, 3, 3, 2])
        let statistics = parsed?.first?["statistics"] as? [String: Any]
        #expect(statistics?["nonZeroVoxels"] as? Int == 59)  // the uint8 ramp has one zero
    }

    @Test("--json writes a non-finite scl_slope as \"inf\" instead of failing the whole call")
    func jsonWithInfiniteScaling() throws {
        let scratch = try TemporaryDirectory()
        var bytes = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("nifti/scaled_int16.nii")))
        withUnsafeBytes(of: Float.infinity.bitPattern.littleEndian) { bytes.replaceSubrange(112..<116, with: $0) }  // scl_slope
        let hostile = scratch.file("inf_slope.nii")
        try bytes.write(to: URL(fileURLWithPath: hostile))
        let result = try ExecutableRunner.run(["inspect", "--json", Fixtures.path("nifti/dtype_uint8.nii.gz"), hostile])
        #expect(result.status == 0, "stderr: \(result.standardError)")
        let parsed = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [[String: Any]]
        #expect(parsed?.count == 2)
        #expect((parsed?.last?["scaling"] as? [String: Any])?["slope"] as? String == "inf", "stdout: \(result.standardOutput)")
    }

    @Test("a truncated file gives a one-line error naming it and exit status 1; good files still print")
    func truncated() throws {
        let scratch = try TemporaryDirectory()
        let source = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("nifti/dtype_float64.nii.gz")))
        let broken = scratch.file("broken.nii.gz")
        try source.prefix(source.count / 2).write(to: URL(fileURLWithPath: broken))
        let result = try ExecutableRunner.run(["inspect", Fixtures.path("nifti/dtype_int8.nii.gz"), broken])
        #expect(result.status == 1)
        let lines = result.standardError.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(result.standardError)")
        #expect(lines.first?.contains(broken) == true)
        #expect(result.standardOutput.contains("dtype_int8.nii.gz"))
    }

    @Test("a real BraTS file: 240 x 240 x 155, LPS; its truncated copy: one line, exit 1",
          .enabled(if: RealData.isAvailable, Comment(rawValue: RealData.skipReason)))
    func realBratsFile() throws {
        let path = "\(RealData.root!)/brats18/labelled/Brats18_2013_3_1/Brats18_2013_3_1_t1.nii.gz"
        let result = try ExecutableRunner.run(["inspect", path])
        #expect(result.status == 0)
        #expect(result.standardOutput.contains("240 x 240 x 155"))
        #expect(result.standardOutput.contains("LPS"))
        let scratch = try TemporaryDirectory()
        let copy = scratch.file("Brats18_2013_3_1_t1.nii.gz")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count * 2 / 3).write(to: URL(fileURLWithPath: copy))
        let broken = try ExecutableRunner.run(["inspect", copy])
        #expect(broken.status == 1)
        #expect(broken.standardError.split(separator: "\n").count == 1)
        #expect(broken.standardError.contains(copy))
    }

    @Test("serve refuses a root that is not brainseg's, exit 1, and moves nothing out of it")
    func serveRefusesAForeignRoot() throws {
        let scratch = try TemporaryDirectory()
        // What an empty `root` once made of `/`: a work/ full of someone else's folders.
        try FileManager.default.createDirectory(atPath: scratch.file("root/work/project/src"), withIntermediateDirectories: true)
        let result = try ExecutableRunner.run(["serve", "--root", scratch.file("root")], environment: ["BRAINSEG_LOG_TARGET": "stderr"])
        #expect(result.status == 1)
        #expect(result.standardError.contains("not a brainseg root") && result.standardError.contains("project"), "stderr: \(result.standardError)")
        #expect(FileManager.default.fileExists(atPath: scratch.file("root/work/project/src")))
        #expect(!FileManager.default.fileExists(atPath: scratch.file("root/failed")) && !FileManager.default.fileExists(atPath: scratch.file("root/ledger.sqlite")))

        try "root = \"\"\n".write(toFile: scratch.file("empty-root.toml"), atomically: true, encoding: .utf8)
        let empty = try ExecutableRunner.run(["serve", "--config", scratch.file("empty-root.toml")], environment: ["BRAINSEG_LOG_TARGET": "stderr"])
        #expect(empty.status == 1)
        #expect(empty.standardError.contains("root must name a folder"), "stderr: \(empty.standardError)")
    }

    @Test("serve refuses a broken configuration with a message naming the key, exit 1")
    func serveRejectsBadConfiguration() throws {
        let scratch = try TemporaryDirectory()
        try "[watch]\nquiesence_seconds = 3\n".write(toFile: scratch.file("bad.toml"), atomically: true, encoding: .utf8)
        let result = try ExecutableRunner.run(["serve", "--config", scratch.file("bad.toml"), "--root", scratch.path],
                                              environment: ["BRAINSEG_LOG_TARGET": "stderr"])
        #expect(result.status == 1)
        #expect(result.standardError.contains("watch.quiesence_seconds"))
    }
}

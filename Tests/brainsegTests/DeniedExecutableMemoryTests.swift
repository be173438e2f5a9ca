import Core
import Foundation
import Testing
import TestSupport

/// oneDNN generates its kernels at run time. A process that may not make written memory
/// executable (systemd's MemoryDenyWriteExecute=yes; the kernel's prctl(PR_SET_MDWE), which
/// enforces the same rule) must still compute every convolution, on the engine's own kernels,
/// and say so — found when the shipped units still had MemoryDenyWriteExecute=yes.
@Suite("brainseg without write-then-execute memory (end to end)")
struct DeniedExecutableMemoryTests {
    static let python = "/usr/bin/python3"

    /// Execs `arguments` under prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN); exit 3 when the
    /// kernel lacks it (Linux < 6.3).
    static let wrapper = "import ctypes, os, sys; libc = ctypes.CDLL(None, use_errno=True); "
        + "sys.exit(3) if libc.prctl(65, 1, 0, 0, 0) != 0 else os.execv(sys.argv[1], sys.argv[1:])"

    static var kernelCanDeny: Bool {
        guard FileManager.default.isExecutableFile(atPath: python) else { return false }
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: python)
        probe.arguments = ["-c", wrapper, "/bin/true"]
        guard (try? probe.run()) != nil else { return false }
        probe.waitUntilExit()
        return probe.terminationStatus == 0
    }

    /// `brainseg bench conv` (a training pass of one layer, `channels` wide at `size`³) under the
    /// denial: its JSON report, after checking that it exited 0.
    static func benchUnderDenial(channels: Int, size: Int) throws -> [String: Any] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", wrapper, ExecutableRunner.executablePath, "bench", "conv", "--in-channels", "\(channels)",
                             "--out-channels", "\(channels)", "--size", "\(size)", "--mode", "train", "--reps", "1", "--warmup", "0",
                             "--threads", "1"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test("bench conv still runs, on the engine's kernels, and reports why",
          .enabled(if: kernelCanDeny, "needs /usr/bin/python3 and Linux ≥ 6.3 (prctl PR_SET_MDWE)"))
    func convolutionFallsBack() throws {
        let report = try Self.benchUnderDenial(channels: 8, size: 12)
        #expect(report["onednn_implementation"] as? String == "refused: engine kernels")
        #expect((report["median_s"] as? Double ?? 0) > 0)
    }

    /// The Winograd kernel is compiled ahead of time, so the denial does not touch it.
    @Test("a layer the Winograd kernel takes still runs on it",
          .enabled(if: kernelCanDeny && WinogradConvolution.isAvailable, "needs prctl PR_SET_MDWE (as above) and AVX-512"))
    func winogradRunsUnderDenial() throws {
        let report = try Self.benchUnderDenial(channels: 32, size: 40)
        #expect(report["onednn_implementation"] as? String == "winograd F(2,3), every pass")
        #expect((report["median_s"] as? Double ?? 0) > 0)
    }

    @Test("without the denial, oneDNN builds its kernels (the same command reports one)")
    func convolutionRunsOnOneDNN() throws {
        let result = try ExecutableRunner.run(["bench", "conv", "--in-channels", "8", "--out-channels", "8", "--size", "12",
                                               "--reps", "1", "--warmup", "0", "--threads", "1"])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        #expect((report["onednn_implementation"] as? String)?.hasPrefix("refused") == false)
    }
}

import Core
import Foundation
import Testing
import TestSupport

/// `brainseg bench conv` and the OpenBLAS kernel selection at start-up, driven through the real
/// executable (the selection re-executes the process, which only an end-to-end run can show).
@Suite("brainseg bench conv (end to end)")
struct BenchCommandTests {
    static let tinyConv = ["bench", "conv", "--in-channels", "4", "--out-channels", "4", "--size", "6", "--groups", "2",
                           "--reps", "1", "--warmup", "0", "--threads", "1", "--json"]

    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> [String: Any] {
        let result = try ExecutableRunner.run(arguments, environment: environment)
        #expect(result.status == 0, "stderr: \(result.standardError)")
        let object = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any]
        return try #require(object, "not one JSON object: \(result.standardOutput)")
    }

    static var cpuFlags: String {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        return info.split(separator: "\n").first { $0.hasPrefix("flags") }.map { String($0) + " " } ?? ""
    }

    /// Whether this CPU is one where the executable should switch OpenBLAS to Haswell.
    static var cpuWantsHaswell: Bool {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        return info.contains("AuthenticAMD") && cpuFlags.contains(" avx512f ")
    }

    /// The kernel family the executable should end up with: Haswell on AMD AVX-512; on a CPU
    /// OpenBLAS does not know (it loads the generic SSE3 "Prescott", as the test binary shows),
    /// the family matching the CPU's vector ISA; else OpenBLAS's own pick.
    static var expectedCore: String {
        if cpuWantsHaswell { return "Haswell" }
        guard BLAS.coreName == "Prescott" else { return BLAS.coreName }
        if cpuFlags.contains(" avx512f ") { return "SkylakeX" }
        if cpuFlags.contains(" avx2 ") && cpuFlags.contains(" fma ") { return "Haswell" }
        return "Prescott"
    }

    @Test("prints one JSON object with timings, RSS, work and the OpenBLAS core")
    func jsonKeys() throws {
        let report = try Self.run(Self.tinyConv + ["--mode", "train"])
        for key in ["median_s", "min_s", "max_s", "peak_rss_mb", "gflop", "gflops", "threads", "openblas_core", "mode",
                    "in_channels", "out_channels", "size", "kernel", "groups"] {
            #expect(report[key] != nil, "missing \(key)")
        }
        #expect(report["mode"] as? String == "train")
        // 2 · (4 out · 6³ voxels · 2 in-per-group · 27) · 3 (forward + two backward GEMMs)
        #expect(abs((report["gflop"] as? Double ?? 0) - 3 * 2 * 4 * 216 * 2 * 27 / 1e9) < 1e-12)
        #expect((report["peak_rss_mb"] as? Double ?? 0) > 1)
    }

    @Test("start-up picks Haswell on AMD AVX-512 CPUs and a vector kernel where OpenBLAS fell back to Prescott, unless the user decided",
          .enabled(if: ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil, "OPENBLAS_CORETYPE is set for the test run"))
    func kernelSelection() throws {
        let automatic = try Self.run(Self.tinyConv)["openblas_core"] as? String
        #expect(automatic == Self.expectedCore, "test binary's own pick: \(BLAS.coreName)")
        // The off switch and a user's own choice are respected.
        let disabled = try Self.run(Self.tinyConv, environment: ["BRAINSEG_OPENBLAS_AUTO": "0"])["openblas_core"] as? String
        #expect(disabled == BLAS.coreName)
        let chosen = try Self.run(Self.tinyConv, environment: ["OPENBLAS_CORETYPE": "Zen"])["openblas_core"] as? String
        #expect(chosen == "Zen")
        // Test binaries are not re-executed: they keep OpenBLAS's own pick.
        if Self.cpuWantsHaswell { #expect(BLAS.coreName != "Haswell") }
    }

    @Test("BRAINSEG_POOL_TRACE logs every buffer taken and returned, and each return names a buffer taken before")
    func poolTrace() throws {
        let result = try ExecutableRunner.run(["bench", "model", "--model", "unet", "--shape", "16,16,16", "--reps", "1", "--warmup", "0"],
                                              environment: ["BRAINSEG_POOL_TRACE": "1"])
        #expect(result.status == 0, "\(result.standardError)")
        var taken: Set<String> = []
        var returned = 0
        for line in result.standardError.split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 3, parts[0] == "T" || parts[0] == "R", Int(parts[2]) != nil else { continue }
            if parts[0] == "T" { taken.insert(String(parts[1])) } else {
                returned += 1
                #expect(taken.contains(String(parts[1])), "returned before taken: \(line)")
            }
        }
        #expect(taken.count > 10 && returned > 10, "taken \(taken.count), returned \(returned)")
        let quiet = try ExecutableRunner.run(["bench", "model", "--model", "unet", "--shape", "16,16,16", "--reps", "1", "--warmup", "0"])
        #expect(!quiet.standardError.contains("\nT "), "traced without the variable")
    }

    @Test("bad arguments fail with a message")
    func validation() throws {
        let result = try ExecutableRunner.run(["bench", "conv", "--in-channels", "3", "--out-channels", "4", "--size", "4", "--groups", "2"])
        #expect(result.status != 0)
        #expect(result.standardError.contains("divisible"))
    }
}

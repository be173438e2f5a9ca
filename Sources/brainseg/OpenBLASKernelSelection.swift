import Core
import Foundation
import Glibc

/// Gives every `brainseg` invocation OpenBLAS's fastest kernel family for this CPU without anyone
/// setting a variable.
///
/// OpenBLAS 0.3.21 (DYNAMIC_ARCH) picks its kernels when libopenblas loads, before `main`, from
/// `OPENBLAS_CORETYPE` or CPUID. On AMD CPUs with AVX-512 (Zen 4, e.g. the project machine's
/// "AMD EPYC" family 25 model 17) it does not know the CPU and picks "Cooperlake", whose SGEMM is
/// slower for the M = 16–64 GEMMs of these networks than the "Haswell" (AVX2) kernel: ENGINEERING.md
/// reports ~1.5× for plain GEMMs; measured here with `brainseg bench conv` (32→32 at 64³, 1 thread,
/// interleaved runs) Haswell was 13–15 % faster on the conv forward (0.181–0.189 s vs 0.208–0.218 s)
/// and 2–12 % on the weight gradient. The variable cannot be set
/// from inside the running process, so `applyIfNeeded()` re-executes `/proc/self/exe` once with
/// `OPENBLAS_CORETYPE` set when:
/// - `OPENBLAS_CORETYPE` is unset (a user's value is never overridden),
/// - `BRAINSEG_OPENBLAS_AUTO` is not `0` (the off switch),
/// - the marker `BRAINSEG_OPENBLAS_REEXEC` is unset (guards against loops), and
/// - /proc/cpuinfo says AuthenticAMD with the `avx512f` flag (the only family where Haswell was
///   measured faster than OpenBLAS's own AVX-512 pick), or
/// - OpenBLAS did not know the CPU and loaded its generic SSE3 "Prescott" kernels although the
///   CPU has AVX-512 (then "SkylakeX") or AVX2 with FMA (then "Haswell"). Seen on an Intel Xeon
///   family 6 model 207, which 0.3.21 predates: the engine's own 32→32 convolution at 64³
///   (`brainseg bench conv --backend engine`, 2 threads, quiet, two runs each) ran at 31–34
///   GFLOP/s on Prescott, 73–88 on Haswell, 103–108 on SkylakeX.
/// Other Intel CPUs keep OpenBLAS's own choice.
/// If the exec fails the process simply continues with the default kernel. Test binaries never
/// call this, so they keep OpenBLAS's default.
enum OpenBLASKernelSelection {
    static let coreTypeVariable = "OPENBLAS_CORETYPE"
    static let switchVariable = "BRAINSEG_OPENBLAS_AUTO"
    static let markerVariable = "BRAINSEG_OPENBLAS_REEXEC"
    static let preferredCore = "Haswell"
    /// What OpenBLAS 0.3.21 loads on an x86-64 CPU it does not know.
    static let genericCore = "Prescott"

    enum Decision: Equatable {
        case keep(reason: String)
        case reexecute(coreType: String)
    }

    /// The pure decision, from the environment, the text of /proc/cpuinfo and the kernel family
    /// OpenBLAS loaded (`BLAS.coreName`).
    static func decide(environment: [String: String], cpuInfo: String?, loadedCore: String) -> Decision {
        if let value = environment[coreTypeVariable], !value.isEmpty { return .keep(reason: "OPENBLAS_CORETYPE=\(value) set by the user") }
        if environment[switchVariable] == "0" { return .keep(reason: "\(switchVariable)=0") }
        if environment[markerVariable] != nil { return .keep(reason: "already re-executed") }
        guard let cpuInfo else { return .keep(reason: "/proc/cpuinfo unreadable") }
        var vendor = ""
        var flags: Set<Substring> = []
        for line in cpuInfo.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let key = parts[0].trimmingCharacters(in: .whitespaces)
            if key == "vendor_id", vendor.isEmpty { vendor = parts[1].trimmingCharacters(in: .whitespaces) }
            if key == "flags", flags.isEmpty { flags = Set(parts[1].split(separator: " ")) }
        }
        if vendor == "AuthenticAMD", flags.contains("avx512f") { return .reexecute(coreType: preferredCore) }
        if loadedCore == genericCore {
            if flags.contains("avx512f") { return .reexecute(coreType: "SkylakeX") }
            if flags.contains("avx2"), flags.contains("fma") { return .reexecute(coreType: "Haswell") }
        }
        return .keep(reason: "OpenBLAS's own \(loadedCore) kernels suit this \(vendor.isEmpty ? "unknown" : vendor) CPU")
    }

    /// Re-executes the process with the faster kernel when `decide` says so; returns otherwise.
    static func applyIfNeeded() {
        let cpuInfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        guard case .reexecute(let coreType) = decide(environment: ProcessInfo.processInfo.environment, cpuInfo: cpuInfo,
                                                    loadedCore: BLAS.coreName) else { return }
        setenv(coreTypeVariable, coreType, 1)
        setenv(markerVariable, "1", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // Only reached when exec failed: carry on with OpenBLAS's default kernel.
        unsetenv(coreTypeVariable)
    }
}

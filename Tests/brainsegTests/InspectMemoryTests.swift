import Foundation
import Glibc
import Testing
import TestSupport

/// A header that promises data far beyond the header (`vox_offset` 1e9) made `brainseg inspect`
/// allocate and read a gigabyte before it noticed anything (issue #13). The real executable's
/// peak resident set, measured for that one child, must stay small.
@Suite("brainseg inspect: a huge vox_offset costs no memory")
struct InspectMemoryTests {
    @Test("vox_offset 1e9 is refused with a one-line error and under 200 MB of peak RSS",
          .enabled(if: FileManager.default.isExecutableFile(atPath: python), "needs /usr/bin/python3 to measure a child's peak RSS"))
    func hugeOffsetUsesNoMemory() throws {
        let scratch = try TemporaryDirectory()
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("nifti/scaled_int16.nii"))))
        withUnsafeBytes(of: Float(1e9).bitPattern.littleEndian) { bytes.replaceSubrange(108..<112, with: $0) }
        let path = scratch.file("big-offset.nii")
        try Data(bytes).write(to: URL(fileURLWithPath: path))

        let (status, peakMegabytes) = try Self.runMeasured([ExecutableRunner.executablePath, "inspect", path])
        #expect(status == 1, "inspect must fail on the damaged header")
        #expect(peakMegabytes < 200, "peak RSS \(peakMegabytes) MB")
    }

    static let python = "/usr/bin/python3"

    /// Runs `arguments` under a small Python parent and returns the exit status and the child's
    /// own peak resident set in MB (`RUSAGE_CHILDREN` of that parent: its only child). Spawning
    /// straight from the test process would not do: Linux carries the spawning process's
    /// high-water mark into a vfork-spawned child's `ru_maxrss` across exec.
    static func runMeasured(_ arguments: [String]) throws -> (status: Int32, peakMegabytes: Int) {
        let script = "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True); "
            + "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script] + arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        process.waitUntilExit()
        let fields = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        try #require(fields.count == 2, "python printed \(fields)")
        return (Int32(fields[0]), fields[1])
    }
}

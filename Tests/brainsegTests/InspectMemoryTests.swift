import Foundation
import Glibc
import Testing
import TestSupport

/// A header that promises data far beyond the header (`vox_offset` 1e9) made `brainseg inspect`
/// allocate and read a gigabyte before it noticed anything (issue #13). The real executable's
/// peak resident set, measured exactly for that one child with `wait4`, must stay small.
@Suite("brainseg inspect: a huge vox_offset costs no memory")
struct InspectMemoryTests {
    @Test("vox_offset 1e9 is refused with a one-line error and under 200 MB of peak RSS")
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

    /// Spawns `arguments` (stdout and stderr to /dev/null), waits with `wait4`, and returns the
    /// exit status and that child's own peak resident set in MB.
    static func runMeasured(_ arguments: [String]) throws -> (status: Int32, peakMegabytes: Int) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, arguments[0], &actions, nil, argv, environ)
        try #require(spawned == 0, "cannot start \(arguments[0]): \(String(cString: strerror(spawned)))")
        var status: Int32 = 0
        var usage = rusage()
        try #require(wait4(pid, &status, 0, &usage) == pid)
        let exitStatus = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return (exitStatus, usage.ru_maxrss / 1024)
    }
}

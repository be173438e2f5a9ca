import Foundation
import Glibc
import Testing
import TestSupport
import Daemon

@Suite("Content hash")
struct ContentHashTests {
    private func write(_ text: String, _ path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    @Test("per-file digests are SHA-256; the case hash ignores folder, case name and argument order")
    func stableIdentity() throws {
        let scratch = try TemporaryDirectory()
        for (folder, name) in [("incoming/A", "A"), ("work/B", "B")] {
            try write("abc", scratch.file("\(folder)/\(name)_t1.nii.gz"))
            try write("flair bytes", scratch.file("\(folder)/\(name)_flair.nii.gz"))
        }
        let a = try ContentHash.compute(files: [scratch.file("incoming/A/A_t1.nii.gz"), scratch.file("incoming/A/A_flair.nii.gz")])
        let b = try ContentHash.compute(files: [scratch.file("work/B/B_flair.nii.gz"), scratch.file("work/B/B_t1.nii.gz")])
        #expect(a.hexDigest == b.hexDigest)
        #expect(a.hexDigest.count == 64)
        #expect(a.files.map { ($0.path as NSString).lastPathComponent } == ["A_flair.nii.gz", "A_t1.nii.gz"])
        // SHA-256("abc"), FIPS 180-2 test vector.
        #expect(a.files.last?.sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(a.files.last?.byteCount == 3)

        try write("abd", scratch.file("work/B/B_t1.nii.gz"))
        let changed = try ContentHash.compute(files: [scratch.file("work/B/B_flair.nii.gz"), scratch.file("work/B/B_t1.nii.gz")])
        #expect(changed.hexDigest != a.hexDigest)
    }

    @Test("a whole case: the marker, extras and the case name do not change the identity; scans in other roles do")
    func caseIdentityIsItsScansByRole() throws {
        let scratch = try TemporaryDirectory()
        func drop(_ name: String, marker: Bool = false, extra: Bool = false, swapT1AndT2: Bool = false) throws -> String {
            let folder = scratch.file(name)
            let roles = ["t1", "t1ce", "t2", "flair"]
            for role in roles {
                let content = swapT1AndT2 ? (role == "t1" ? "t2" : role == "t2" ? "t1" : role) : role
                try write("\(content) scan", "\(folder)/\(name)_\(role).nii.gz")
            }
            if marker { try write("", "\(folder)/READY") }
            if extra { try write("sent by PACS 3", "\(folder)/notes.txt") }
            let files = try FileManager.default.contentsOfDirectory(atPath: folder).map { "\(folder)/\($0)" }
            return try ContentHash.compute(files: files).hexDigest
        }
        let plain = try drop("Case")
        #expect(try drop("-rf", marker: true) == plain, "the marker, sorting before or after the scans by name")
        #expect(try drop("zz", marker: true, extra: true) == plain)
        #expect(try drop("other", swapT1AndT2: true) != plain, "the same files in other roles are another case")
    }

    @Test("a file larger than the 1 MiB block hashes like the whole file at once")
    func streamsLargeFiles() throws {
        let scratch = try TemporaryDirectory()
        let path = scratch.file("big_t1.nii")
        var bytes = [UInt8](repeating: 0, count: (1 << 20) * 2 + 12345)
        for index in bytes.indices { bytes[index] = UInt8(truncatingIfNeeded: index &* 2654435761 >> 7) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let streamed = try ContentHash.compute(files: [path])
        let sha = Process()
        sha.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        sha.arguments = [path]
        let pipe = Pipe()
        sha.standardOutput = pipe
        try sha.run()
        sha.waitUntilExit()
        let expected = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).prefix(64)
        #expect(streamed.files.first?.sha256 == String(expected))
        #expect(streamed.files.first?.byteCount == Int64(bytes.count))
    }

    @Test("symlinks, FIFOs, folders and missing files are refused with the path in the message, without blocking")
    func hostileFiles() throws {
        let scratch = try TemporaryDirectory()
        try write("secret", scratch.file("outside.txt"))
        try FileManager.default.createSymbolicLink(atPath: scratch.file("link_t1.nii.gz"), withDestinationPath: scratch.file("outside.txt"))
        #expect(mkfifo(scratch.file("fifo_t2.nii.gz"), 0o644) == 0)
        try FileManager.default.createDirectory(atPath: scratch.file("dir_flair.nii.gz"), withIntermediateDirectories: false)
        for name in ["link_t1.nii.gz", "fifo_t2.nii.gz", "dir_flair.nii.gz", "missing_t1ce.nii.gz"] {
            do {
                _ = try ContentHash.compute(files: [scratch.file(name)])
                Issue.record("\(name) was hashed")
            } catch let failure as ContentHash.Failure {
                #expect(failure.description.contains(scratch.file(name)))
            }
        }
        #expect(throws: ContentHash.Failure.self) { _ = try ContentHash.compute(files: []) }
    }
}

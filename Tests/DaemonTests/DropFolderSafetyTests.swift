import Daemon
import Foundation
import Glibc
import Testing
import TestSupport

/// The hostile-drop-folder checks, on real directories with real symlinks and FIFOs. Every
/// test that could hang if a FIFO were opened has a time limit, and checks its own duration.
@Suite("Drop folder safety")
struct DropFolderSafetyTests {
    final class Drop {
        let directory: TemporaryDirectory
        let incoming: String

        init() throws {
            directory = try TemporaryDirectory(prefix: "brainseg-safety")
            incoming = directory.file("incoming")
            try FileManager.default.createDirectory(atPath: incoming, withIntermediateDirectories: true)
        }

        /// A case with the four modalities (small regular files); returns its directory.
        @discardableResult
        func makeCase(_ name: String, bytes: Int = 10) throws -> String {
            let path = "\(incoming)/\(name)"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            for modality in ["t1", "t1ce", "t2", "flair"] {
                FileManager.default.createFile(atPath: "\(path)/\(name)_\(modality).nii.gz", contents: Data(repeating: 1, count: bytes))
            }
            return path
        }

        func inspect(_ path: String, limits: DropFolderSafety.Limits = .init()) -> Result<[String], CaseRefusal> {
            DropFolderSafety.inspect(caseDirectory: path, allowedRoot: incoming, limits: limits)
        }
    }

    static func refusal(_ result: Result<[String], CaseRefusal>) -> CaseRefusal? {
        if case .failure(let refusal) = result { return refusal } else { return nil }
    }

    @Test func aCleanCaseListsItsFiles() throws {
        let drop = try Drop()
        let path = try drop.makeCase("good")
        FileManager.default.createFile(atPath: "\(path)/READY", contents: Data())
        #expect(try drop.inspect(path).get() == ["READY", "good_flair.nii.gz", "good_t1.nii.gz", "good_t1ce.nii.gz", "good_t2.nii.gz"])
    }

    @Test(.timeLimit(.minutes(30)))
    func symlinkToEtcPasswdIsRefusedAndNotFollowed() throws {
        let drop = try Drop()
        let path = try drop.makeCase("evil")
        try FileManager.default.removeItem(atPath: "\(path)/evil_t1.nii.gz")
        #expect(symlink("/etc/passwd", "\(path)/evil_t1.nii.gz") == 0)
        let refusal = try #require(Self.refusal(drop.inspect(path)))
        #expect(refusal.code == .symlinkOutsideRoot)
        #expect(refusal.reason.contains("evil_t1.nii.gz") && refusal.reason.contains("/etc/passwd"))
        #expect(!refusal.reason.contains("\n"))
    }

    @Test func relativeSymlinkClimbingOutOfTheRootIsRefused() throws {
        let drop = try Drop()
        let path = try drop.makeCase("climb")
        FileManager.default.createFile(atPath: drop.directory.file("secret.nii.gz"), contents: Data([1, 2, 3]))
        #expect(symlink("../../secret.nii.gz", "\(path)/extra.nii.gz") == 0)
        #expect(Self.refusal(drop.inspect(path))?.code == .symlinkOutsideRoot)
    }

    @Test func symlinkToAFileInsideTheRootIsAccepted() throws {
        let drop = try Drop()
        let path = try drop.makeCase("linked")
        #expect(symlink("linked_t1.nii.gz", "\(path)/copy_of_t1.txt") == 0)
        #expect(try drop.inspect(path).get().contains("copy_of_t1.txt"))
        #expect(symlink("does-not-exist", "\(path)/dangling") == 0)
        #expect(Self.refusal(drop.inspect(path))?.code == .brokenSymlink)
    }

    @Test(.timeLimit(.minutes(30)))
    func fifoIsRefusedWithoutHanging() throws {
        let drop = try Drop()
        let path = try drop.makeCase("piped")
        #expect(mkfifo("\(path)/piped_seg.nii.gz", 0o600) == 0)
        let clock = ContinuousClock()
        var result: Result<[String], CaseRefusal>?
        let elapsed = clock.measure { result = drop.inspect(path) }
        let refusal = try #require(result.flatMap(Self.refusal))
        #expect(refusal.code == .specialFile)
        #expect(refusal.reason.contains("FIFO") && refusal.reason.contains("piped_seg.nii.gz"))
        #expect(elapsed < .seconds(2))

        // A symlink inside the root pointing at a FIFO is refused too (and not opened).
        let other = try drop.makeCase("piped2")
        #expect(mkfifo("\(drop.incoming)/.fifo", 0o600) == 0)
        #expect(symlink("../.fifo", "\(other)/piped2_seg.nii.gz") == 0)
        #expect(Self.refusal(drop.inspect(other))?.code == .symlinkToNonFile)
        // And so is a FIFO in place of the case directory itself.
        #expect(mkfifo("\(drop.incoming)/fifo-case", 0o600) == 0)
        #expect(Self.refusal(drop.inspect("\(drop.incoming)/fifo-case"))?.code == .notADirectory)
    }

    @Test func controlCharactersInNamesAreRefused() throws {
        let drop = try Drop()
        let path = try drop.makeCase("names")
        FileManager.default.createFile(atPath: "\(path)/bad\u{1B}[31mname.nii.gz", contents: Data())
        let refusal = try #require(Self.refusal(drop.inspect(path)))
        #expect(refusal.code == .unsafeEntryName)
        #expect(refusal.reason.contains("\\u{1B}"), "the name is shown escaped")
        #expect(!refusal.reason.unicodeScalars.contains { $0.value < 0x20 })

        let badCase = try drop.makeCase("case\nwith newline")
        #expect(Self.refusal(drop.inspect(badCase))?.code == .unsafeCaseName)

        // 241 bytes: a legal file name, but the staging folder derived from it would not be.
        let long = try #require(Self.refusal(drop.inspect(try drop.makeCase(String(repeating: "L", count: 241)))))
        #expect(long.code == .unsafeCaseName && long.reason.contains("longer than 200 bytes"), "\(long.reason)")
    }

    @Test func subdirectoriesAndSymlinkedCaseFoldersAreRefused() throws {
        let drop = try Drop()
        let path = try drop.makeCase("nested")
        try FileManager.default.createDirectory(atPath: "\(path)/more", withIntermediateDirectories: false)
        let refusal = try #require(Self.refusal(drop.inspect(path)))
        #expect(refusal.code == .subdirectory && refusal.reason.contains("more"))

        #expect(symlink("/etc", "\(drop.incoming)/etc-case") == 0)
        #expect(Self.refusal(drop.inspect("\(drop.incoming)/etc-case"))?.code == .notADirectory)
    }

    @Test func casesOutsideTheAllowedRootAreRefused() throws {
        let drop = try Drop()
        let elsewhere = drop.directory.file("elsewhere")
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: false)
        #expect(Self.refusal(drop.inspect("\(drop.incoming)/../elsewhere"))?.code == .outsideRoot)
        #expect(Self.refusal(drop.inspect("\(drop.incoming)/.."))?.code == .unsafeCaseName)
        // The same case passes in one root and not in another (the check after the claim).
        let path = try drop.makeCase("moved")
        #expect(Self.refusal(DropFolderSafety.inspect(caseDirectory: path, allowedRoot: elsewhere))?.code == .outsideRoot)
    }

    @Test func sizeAndFileCountAreCapped() throws {
        let drop = try Drop()
        let path = try drop.makeCase("big", bytes: 1000)
        #expect(Self.refusal(drop.inspect(path, limits: .init(maximumTotalBytes: 3999)))?.code == .tooLarge)
        #expect((try? drop.inspect(path, limits: .init(maximumTotalBytes: 4000)).get())?.count == 4)
        #expect(Self.refusal(drop.inspect(path, limits: .init(maximumFileCount: 3)))?.code == .tooManyFiles)
        #expect(DropFolderSafety.Limits().maximumTotalBytes == 4 << 30)
    }
}

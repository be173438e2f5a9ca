import Core
import Daemon
import Foundation
import Glibc
import Testing
import TestSupport

@Suite("Case readiness")
struct CaseReadinessTests {
    static let start = ContinuousClock.now
    static let completeNames = ["c_t1.nii.gz", "c_t1ce.nii.gz", "c_t2.nii.gz", "c_flair.nii.gz"]

    static func snapshot(_ names: [String], size: Int64 = 100, time: Int64 = 1) -> CaseSnapshot {
        CaseSnapshot(entries: names.map { CaseSnapshot.Entry(name: $0, kind: .regularFile, size: size, modificationTime: time) })
    }

    static func isReady(_ state: CaseReadiness.State?) -> Bool {
        if case .ready = state { return true } else { return false }
    }

    @Test func quietCompleteCaseBecomesReadyAfterTheQuiescencePeriod() {
        var readiness = CaseReadiness(settings: .init(quiescencePeriod: .seconds(30)))
        readiness.observe(caseName: "c", snapshot: Self.snapshot(Self.completeNames), at: Self.start)
        #expect(readiness.state(of: "c", at: Self.start + .seconds(29)) == .settling(readyAt: Self.start + .seconds(30)))
        #expect(readiness.readyCases(at: Self.start + .seconds(29)) == [])
        // The same snapshot again does not restart the period.
        readiness.observe(caseName: "c", snapshot: Self.snapshot(Self.completeNames), at: Self.start + .seconds(20))
        #expect(readiness.state(of: "c", at: Self.start + .seconds(30)) == .ready(.quiescent))
        #expect(readiness.readyCases(at: Self.start + .seconds(30)) == ["c"])
    }

    @Test func anyChangeRestartsTheQuiescencePeriod() {
        var readiness = CaseReadiness(settings: .init(quiescencePeriod: .seconds(30)))
        readiness.observe(caseName: "c", snapshot: Self.snapshot(Self.completeNames, size: 100), at: Self.start)
        readiness.observe(caseName: "c", snapshot: Self.snapshot(Self.completeNames, size: 200), at: Self.start + .seconds(25))
        #expect(readiness.readyCases(at: Self.start + .seconds(40)) == [], "size changed at 25 s")
        readiness.observe(caseName: "c", snapshot: Self.snapshot(Self.completeNames, size: 200, time: 2), at: Self.start + .seconds(50))
        #expect(readiness.readyCases(at: Self.start + .seconds(79)) == [], "mtime changed at 50 s")
        readiness.observe(caseName: "c", snapshot: Self.snapshot(Self.completeNames + ["notes.txt"], size: 200, time: 2),
                          at: Self.start + .seconds(60))
        #expect(readiness.readyCases(at: Self.start + .seconds(89)) == [], "a new name at 60 s")
        #expect(readiness.readyCases(at: Self.start + .seconds(90)) == ["c"])
    }

    @Test func markerMakesACompleteCaseReadyAtOnceButNotAnIncompleteOne() {
        var readiness = CaseReadiness(settings: .init(markerFileName: "DONE", quiescencePeriod: .seconds(30)))
        readiness.observe(caseName: "complete", snapshot: Self.snapshot(Self.completeNames + ["DONE"]), at: Self.start)
        readiness.observe(caseName: "partial", snapshot: Self.snapshot(["c_t1.nii.gz", "c_flair.nii.gz", "DONE"]), at: Self.start)
        readiness.observe(caseName: "default-marker", snapshot: Self.snapshot(Self.completeNames + ["READY"]), at: Self.start)
        #expect(readiness.state(of: "complete", at: Self.start) == .ready(.marker))
        #expect(readiness.state(of: "partial", at: Self.start + .seconds(3600))
                == .incomplete(missing: [.t1ce, .t2], since: Self.start))
        #expect(readiness.readyCases(at: Self.start) == ["complete"], "READY is not the configured marker here")
    }

    @Test func temporaryFilesDoNotCountAsModalities() {
        var readiness = CaseReadiness()
        readiness.observe(caseName: "c", snapshot: Self.snapshot(["c_t1.nii.gz", "c_t1ce.nii.gz", "c_t2.nii.gz",
                                                                 ".c_flair.nii.gz.tmp", "c_flair.nii.gz.part", "READY"]),
                          at: Self.start)
        #expect(readiness.state(of: "c", at: Self.start + .seconds(3600)) == .incomplete(missing: [.flair], since: Self.start))
    }

    @Test func aCompleteButAmbiguousCaseIsReadySoThatItFailsWithAReason() {
        var readiness = CaseReadiness()
        readiness.observe(caseName: "c", snapshot: Self.snapshot(Self.completeNames + ["d_t1.nii.gz", "READY"]), at: Self.start)
        #expect(readiness.readyCases(at: Self.start) == ["c"])
    }

    @Test func nonDirectoriesBecomeReadyForRefusalAfterTheQuietPeriod() {
        var readiness = CaseReadiness(settings: .init(quiescencePeriod: .seconds(5)))
        let stray = CaseSnapshot(kind: .symbolicLink, entries: [])
        readiness.observe(caseName: "link", snapshot: stray, at: Self.start)
        #expect(readiness.readyCases(at: Self.start + .seconds(4)) == [])
        #expect(readiness.state(of: "link", at: Self.start + .seconds(5)) == .ready(.notADirectory))
    }

    @Test("a folder with more entries than a snapshot reads is ready for refusal once quiet, not 'incomplete' until the timeout")
    func tooManyEntriesBecomeReadyForRefusal() {
        var readiness = CaseReadiness(settings: .init(quiescencePeriod: .seconds(5)))
        // The snapshot stopped reading before T1ce and T2 (adversarial run: 20,000 files).
        let crowded = CaseSnapshot(entries: Self.snapshot(["c_flair.nii.gz", "c_t1.nii.gz"] + (0..<50).map { "x\($0)" }).entries,
                                   isTruncated: true)
        readiness.observe(caseName: "crowded", snapshot: crowded, at: Self.start)
        #expect(readiness.state(of: "crowded", at: Self.start + .seconds(4)) == .settling(readyAt: Self.start + .seconds(5)))
        #expect(readiness.state(of: "crowded", at: Self.start + .seconds(5)) == .ready(.tooManyEntries))
    }

    @Test func vanishedAndForgottenCasesAreNoLongerTracked() {
        var readiness = CaseReadiness()
        readiness.observe(caseName: "a", snapshot: Self.snapshot(Self.completeNames + ["READY"]), at: Self.start)
        readiness.observe(caseName: "b", snapshot: Self.snapshot(Self.completeNames + ["READY"]), at: Self.start + .seconds(1))
        #expect(readiness.readyCases(at: Self.start + .seconds(1)) == ["a", "b"], "oldest first")
        readiness.observe(caseName: "a", snapshot: nil, at: Self.start + .seconds(2))
        readiness.forget("b")
        #expect(readiness.trackedCases == [])
        #expect(readiness.nextRefresh(at: Self.start) == nil)
    }

    @Test func nextRefreshIsWithinTheRecheckIntervalOrAtTheEndOfAQuietPeriod() {
        var readiness = CaseReadiness(settings: .init(quiescencePeriod: .seconds(3), recheckInterval: .seconds(1)))
        readiness.observe(caseName: "c", snapshot: Self.snapshot(Self.completeNames), at: Self.start)
        #expect(readiness.nextRefresh(at: Self.start) == Self.start + .seconds(1))
        #expect(readiness.nextRefresh(at: Self.start + .milliseconds(2500)) == Self.start + .seconds(3))
    }

    /// Real files: one modality keeps growing (appended to without being closed in between,
    /// so no inotify event arrives) while the service refreshes; the case must stay not ready
    /// until the growth has stopped for the whole quiescence period.
    @Test(.timeLimit(.minutes(30)))
    func growingFileIsNotDeclaredReadyEarly() throws {
        let directory = try TemporaryDirectory(prefix: "brainseg-ready")
        let incoming = directory.file("incoming")
        let caseDirectory = "\(incoming)/slow"
        try FileManager.default.createDirectory(atPath: caseDirectory, withIntermediateDirectories: true)
        for name in ["slow_t1.nii.gz", "slow_t1ce.nii.gz", "slow_t2.nii.gz"] {
            FileManager.default.createFile(atPath: "\(caseDirectory)/\(name)", contents: Data(repeating: 1, count: 100))
        }
        let growing = open("\(caseDirectory)/slow_flair.nii.gz", O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        #expect(growing >= 0)

        let quiet = Duration.milliseconds(800)
        var readiness = CaseReadiness(settings: .init(quiescencePeriod: quiet))
        let clock = ContinuousClock()
        let writingUntil = clock.now + .milliseconds(2000)
        var events: [DropFolderEvent] = [.fullRescan]
        var readyWhileWriting = false
        var lastWrite = clock.now
        while clock.now < writingUntil {
            var chunk = [UInt8](repeating: 2, count: 512)
            _ = write(growing, &chunk, chunk.count)
            lastWrite = clock.now
            if !readiness.refresh(incoming: incoming, events: events, at: clock.now).isEmpty { readyWhileWriting = true }
            events = []
            usleep(100_000)
        }
        close(growing)
        #expect(!readyWhileWriting, "a file that keeps growing keeps the case unready")

        var readyAt: ContinuousClock.Instant?
        while readyAt == nil && clock.now < lastWrite + .seconds(10) {
            if readiness.refresh(incoming: incoming, events: [], at: clock.now) == ["slow"] { readyAt = clock.now }
            usleep(50_000)
        }
        let waited = try #require(readyAt) - lastWrite
        #expect(waited >= quiet, "not before the quiet period after the last write")
        #expect(waited < quiet + .seconds(3))
    }

    @Test func refreshWithAFullRescanTracksWhatIsThereAndForgetsWhatIsGone() throws {
        let directory = try TemporaryDirectory(prefix: "brainseg-ready")
        let incoming = directory.path
        for name in ["kept", "removed"] {
            try FileManager.default.createDirectory(atPath: "\(incoming)/\(name)", withIntermediateDirectories: true)
            for file in Self.completeNames + ["READY"] {
                FileManager.default.createFile(atPath: "\(incoming)/\(name)/\(file)", contents: Data())
            }
        }
        try FileManager.default.createDirectory(atPath: "\(incoming)/.hidden", withIntermediateDirectories: true)
        var readiness = CaseReadiness()
        #expect(readiness.refresh(incoming: incoming, events: [.fullRescan], at: Self.start) == ["kept", "removed"])
        try FileManager.default.removeItem(atPath: "\(incoming)/removed")
        #expect(readiness.refresh(incoming: incoming, events: [.fullRescan], at: Self.start) == ["kept"])
        #expect(readiness.trackedCases == ["kept"])
        // Names that would leave incoming/ are never snapshotted.
        _ = readiness.refresh(incoming: incoming, events: [.caseChanged(".."), .caseChanged("a/b")], at: Self.start)
        #expect(readiness.trackedCases == ["kept"])
    }

    @Test func snapshotDoesNotFollowASymlinkedCaseDirectory() throws {
        let directory = try TemporaryDirectory(prefix: "brainseg-ready")
        #expect(symlink("/etc", directory.file("etc-link")) == 0)
        let snapshot = try #require(CaseSnapshot.take(path: directory.file("etc-link")))
        #expect(snapshot.kind == .symbolicLink)
        #expect(CaseSnapshot.take(path: directory.file("missing")) == nil)
    }

    @Test func aFileStillOpenForWritingHoldsACaseBackEvenWithTheMarker() {
        var readiness = CaseReadiness(settings: .init(quiescencePeriod: .seconds(30)))
        var writing = Self.snapshot(Self.completeNames + ["READY"])
        writing.entries[writing.entries.firstIndex { $0.name == "c_flair.nii.gz" }!].isOpenForWriting = true
        readiness.observe(caseName: "c", snapshot: writing, at: Self.start)
        #expect(readiness.state(of: "c", at: Self.start + .seconds(3600)) == .beingWritten(files: ["c_flair.nii.gz"], since: Self.start))
        #expect(readiness.readyCases(at: Self.start + .seconds(3600)) == [])
        // Closed: the marker makes it ready at once.
        readiness.observe(caseName: "c", snapshot: Self.snapshot(Self.completeNames + ["READY"]), at: Self.start + .seconds(3600))
        #expect(readiness.state(of: "c", at: Self.start + .seconds(3600)) == .ready(.marker))
    }

    @Test(.enabled(if: WriterProbeSupport.unavailableReason == nil, "the write probe needs file leases on a local file system (WriterProbeSupport)"))
    func snapshotSeesAFileThatIsStillOpenForWriting() throws {
        let directory = try TemporaryDirectory(prefix: "brainseg-ready")
        let folder = directory.file("c")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for file in Self.completeNames { FileManager.default.createFile(atPath: "\(folder)/\(file)", contents: Data([1, 2, 3])) }
        #expect(mkfifo("\(folder)/pipe", 0o600) == 0)
        #expect(try #require(CaseSnapshot.take(path: folder)).filesOpenForWriting == [], "closed files and a FIFO (never opened)")

        let writer = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(folder)/c_t2.nii.gz"))
        try writer.write(contentsOf: Data([4]))
        #expect(try #require(CaseSnapshot.take(path: folder)).filesOpenForWriting == ["c_t2.nii.gz"])
        // Open for reading only: not a writer.
        let reader = try FileHandle(forReadingFrom: URL(fileURLWithPath: "\(folder)/c_t1.nii.gz"))
        #expect(try #require(CaseSnapshot.take(path: folder)).filesOpenForWriting == ["c_t2.nii.gz"])
        try writer.close()
        try reader.close()
        #expect(try #require(CaseSnapshot.take(path: folder)).filesOpenForWriting == [])
    }
}

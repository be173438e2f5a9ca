import Daemon
import Foundation
import Glibc
import Testing
import TestSupport

/// The drop folder watcher against real directories and real inotify (and polling).
/// Each test uses its own temporary folder and watcher; every wait is bounded.
@Suite("Drop folder watcher")
struct WatcherTests {
    /// A fresh `incoming/` plus a staging folder on the same file system (for renames).
    final class DropFolder {
        let directory: TemporaryDirectory
        let incoming: String
        let staging: String

        init() throws {
            directory = try TemporaryDirectory(prefix: "brainseg-watch")
            incoming = directory.file("incoming")
            staging = directory.file("staging")
            try FileManager.default.createDirectory(atPath: incoming, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        }

        func path(_ relative: String) -> String { "\(incoming)/\(relative)" }

        func makeDirectory(_ path: String) throws {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        }
    }

    /// Writes `bytes` bytes to `path` with open/write/close (an in-place copy).
    static func writeFile(_ path: String, bytes: Int = 64) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        precondition(descriptor >= 0, "cannot create \(path)")
        let data = [UInt8](repeating: 7, count: bytes)
        _ = data.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
    }

    static let modalityNames = ["t1", "t1ce", "t2", "flair"]

    /// Collects events until `satisfied` holds for everything collected so far, or `limit`
    /// passes. Returns all events collected.
    static func collect(_ watcher: DropFolderWatcher, limit: Duration = .seconds(10),
                        until satisfied: ([DropFolderEvent]) -> Bool) -> [DropFolderEvent] {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        var all: [DropFolderEvent] = []
        while clock.now < deadline {
            all += watcher.nextEvents(timeout: .milliseconds(200))
            if satisfied(all) { break }
        }
        return all
    }

    /// Discards the start-up `.fullRescan` (and checks it is there).
    static func drainStartup(_ watcher: DropFolderWatcher) {
        let first = watcher.nextEvents(timeout: .seconds(1))
        #expect(first == [.fullRescan], "the first call reports the start-up rescan")
    }

    static func names(_ events: [DropFolderEvent]) -> Set<String> {
        Set(events.compactMap { if case .caseChanged(let name) = $0 { return name } else { return nil } })
    }

    @Test func localFolderUsesInotifyAndStartsWithAFullRescan() throws {
        let folder = try DropFolder()
        let watcher = try DropFolderWatcher(incoming: folder.incoming)
        #expect(watcher.effectiveMode == .inotify)
        #expect(watcher.nextEvents(timeout: .zero) == [.fullRescan])
        #expect(watcher.nextEvents(timeout: .milliseconds(50)) == [])
        #expect(DropFolderListing.fileSystemType(path: folder.incoming) != nil)
        #expect(DropFolderListing.networkFileSystemName(path: folder.incoming) == nil)
        // statfs is reached through dlsym: check it reads f_type (procfs is always 0x9FA0).
        #expect(DropFolderListing.fileSystemType(path: "/proc") == 0x9FA0)
        #expect(DropFolderListing.networkFileSystems[0x6969] == "NFS")
    }

    /// Makes the directory `incoming/<prefix><bytes>` whose name is not valid UTF-8.
    static func makeUndecodable(_ incoming: String, prefix: String, bytes: [UInt8]) -> Bool {
        let path = Array("\(incoming)/\(prefix)".utf8) + bytes + [0]
        return path.withUnsafeBufferPointer { $0.baseAddress!.withMemoryRebound(to: CChar.self, capacity: path.count) { mkdir($0, 0o755) } } == 0
    }

    @Test("a folder whose name is not valid UTF-8 is renamed to its escaped name and reported, not ignored")
    func undecodableNamesAreRenamed() throws {
        #expect(DropFolderListing.escapedName(Array("a%b\u{7}c é".utf8)) == "a%25b%07c %C3%A9")
        let folder = try DropFolder()
        #expect(Self.makeUndecodable(folder.incoming, prefix: "h_latin1_", bytes: [0xE9, 0xFF]))
        #expect(DropFolderListing.entryNames(incoming: folder.incoming) == ["h_latin1_%E9%FF"])
        #expect(DropFolderListing.isDirectory(folder.path("h_latin1_%E9%FF")))
        // A hidden or temporary one (a sender still writing it) keeps its name and stays unlisted.
        #expect(Self.makeUndecodable(folder.incoming, prefix: ".staging_", bytes: [0xFF]))
        #expect(DropFolderListing.entryNames(incoming: folder.incoming) == ["h_latin1_%E9%FF"])
        #expect(!DropFolderListing.isDirectory(folder.path(".staging_%FF")))
                // A second one with the same escaped name does not replace the first.
        #expect(Self.makeUndecodable(folder.incoming, prefix: "h_latin1_", bytes: [0xE9, 0xFF]))
        #expect(DropFolderListing.entryNames(incoming: folder.incoming) == ["h_latin1_%E9%FF", "h_latin1_%E9%FF-2"])
        // While watched: the new entry is renamed and reported under its escaped name.
        let watcher = try DropFolderWatcher(incoming: folder.incoming)
        Self.drainStartup(watcher)
        #expect(Self.makeUndecodable(folder.incoming, prefix: "late_", bytes: [0xFF]))
        // (The test lists nothing itself here: the watcher's own rescan renames it.)
        let events = Self.collect(watcher) { $0.contains(.fullRescan) || Self.names($0).contains("late_%FF") }
        #expect(!events.isEmpty)
        #expect(DropFolderListing.isDirectory(folder.path("late_%FF")))
    }

    @Test func missingFolderIsAnErrorThatNamesIt() throws {
        let folder = try DropFolder()
        let missing = folder.path("nope")
        #expect {
            _ = try DropFolderWatcher(incoming: missing)
        } throws: { error in
            "\(error)".contains(missing)
        }
    }

    @Test func caseCopiedInPlaceIsReportedOnCloseNotOnCreate() throws {
        let folder = try DropFolder()
        try folder.makeDirectory(folder.path("caseA"))
        let watcher = try DropFolderWatcher(incoming: folder.incoming)
        Self.drainStartup(watcher)
        #expect(watcher.watchedCaseCount == 1, "an existing case directory is watched from start-up")

        // A file still open for writing produces nothing yet...
        let descriptor = open(folder.path("caseA/caseA_t1.nii.gz"), O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        #expect(descriptor >= 0)
        var byte: UInt8 = 1
        _ = write(descriptor, &byte, 1)
        #expect(watcher.nextEvents(timeout: .milliseconds(300)) == [])
        // ...and closing it does.
        close(descriptor)
        #expect(watcher.nextEvents(timeout: .seconds(5)) == [.caseChanged("caseA")])

        for modality in Self.modalityNames.dropFirst() { Self.writeFile(folder.path("caseA/caseA_\(modality).nii.gz")) }
        let events = Self.collect(watcher) { Self.names($0).contains("caseA") }
        #expect(Set(events) == [.caseChanged("caseA")], "several closes in one case name only that case")
    }

    @Test func renamedIntoPlaceFilesAndTemporaryNames() throws {
        let folder = try DropFolder()
        try folder.makeDirectory(folder.path("caseB"))
        let watcher = try DropFolderWatcher(incoming: folder.incoming)
        Self.drainStartup(watcher)

        // Temporary names (rsync style, .part, .tmp) produce nothing.
        Self.writeFile(folder.path("caseB/.caseB_t1.nii.gz.XXXX"))
        Self.writeFile(folder.path("caseB/caseB_t2.nii.gz.part"))
        Self.writeFile(folder.path("caseB/caseB_flair.tmp"))
        #expect(watcher.nextEvents(timeout: .milliseconds(300)) == [])

        // The rename to the final name (only IN_MOVED_TO) is reported.
        #expect(rename(folder.path("caseB/.caseB_t1.nii.gz.XXXX"), folder.path("caseB/caseB_t1.nii.gz")) == 0)
        #expect(watcher.nextEvents(timeout: .seconds(5)) == [.caseChanged("caseB")])

        // A file renamed in from outside incoming/ too.
        Self.writeFile("\(folder.staging)/caseB_t1ce.nii.gz")
        #expect(rename("\(folder.staging)/caseB_t1ce.nii.gz", folder.path("caseB/caseB_t1ce.nii.gz")) == 0)
        #expect(watcher.nextEvents(timeout: .seconds(5)) == [.caseChanged("caseB")])
    }

    @Test func wholeCaseDirectoryRenamedIntoIncomingIsWatchedAfterwards() throws {
        let folder = try DropFolder()
        let watcher = try DropFolderWatcher(incoming: folder.incoming)
        Self.drainStartup(watcher)

        // Built in a hidden temporary directory inside incoming/ (ignored), then renamed.
        let hidden = folder.path(".caseC.incoming")
        try folder.makeDirectory(hidden)
        for modality in Self.modalityNames { Self.writeFile("\(hidden)/caseC_\(modality).nii.gz") }
        #expect(watcher.nextEvents(timeout: .milliseconds(300)) == [], "a hidden directory is ignored")
        #expect(rename(hidden, folder.path("caseC")) == 0)
        #expect(watcher.nextEvents(timeout: .seconds(5)) == [.caseChanged("caseC")])

        // Built outside incoming/ and renamed in.
        let staged = "\(folder.staging)/caseE"
        try folder.makeDirectory(staged)
        for modality in Self.modalityNames { Self.writeFile("\(staged)/caseE_\(modality).nii.gz") }
        #expect(rename(staged, folder.path("caseE")) == 0)
        #expect(watcher.nextEvents(timeout: .seconds(5)) == [.caseChanged("caseE")])
        #expect(watcher.watchedCaseCount == 2)

        // The renamed-in directories have watches: a later marker file is reported.
        Self.writeFile(folder.path("caseE/READY"), bytes: 0)
        #expect(watcher.nextEvents(timeout: .seconds(5)) == [.caseChanged("caseE")])
    }

    @Test func newDirectoryWithImmediateWritesIsNotMissed() throws {
        let folder = try DropFolder()
        let watcher = try DropFolderWatcher(incoming: folder.incoming)
        Self.drainStartup(watcher)

        // mkdir and write at once, before the watcher had any chance to add a watch.
        try folder.makeDirectory(folder.path("caseD"))
        for modality in Self.modalityNames { Self.writeFile(folder.path("caseD/caseD_\(modality).nii.gz")) }
        let events = Self.collect(watcher) { Self.names($0).contains("caseD") }
        #expect(Self.names(events) == ["caseD"])

        // A snapshot taken after the event (what the service does) sees every file.
        var readiness = CaseReadiness(settings: .init(quiescencePeriod: .seconds(60)))
        _ = readiness.refresh(incoming: folder.incoming, events: events, at: .now)
        #expect(readiness.state(of: "caseD", at: .now).map { if case .settling = $0 { true } else { false } } == true,
                "all four modalities written before the watch existed are seen")

        // And the directory is watched from now on.
        Self.writeFile(folder.path("caseD/READY"), bytes: 0)
        #expect(watcher.nextEvents(timeout: .seconds(5)) == [.caseChanged("caseD")])
    }

    @Test func deletedAndClaimedCasesAreReportedAndNoLongerFollowed() throws {
        let folder = try DropFolder()
        let work = folder.directory.file("work")
        try folder.makeDirectory(work)
        try folder.makeDirectory(folder.path("gone"))
        try folder.makeDirectory(folder.path("claimed"))
        let watcher = try DropFolderWatcher(incoming: folder.incoming)
        Self.drainStartup(watcher)
        #expect(watcher.watchedCaseCount == 2)

        try FileManager.default.removeItem(atPath: folder.path("gone"))
        #expect(rename(folder.path("claimed"), "\(work)/claimed") == 0)
        let events = Self.collect(watcher) { Self.names($0) == ["gone", "claimed"] }
        #expect(Self.names(events) == ["gone", "claimed"])
        #expect(watcher.watchedCaseCount == 0)

        // The claimed case is processed in work/: that must not look like drop-folder activity.
        Self.writeFile("\(work)/claimed/output.nii.gz")
        let later = watcher.nextEvents(timeout: .milliseconds(300))
        #expect(!later.contains(.caseChanged("claimed")))
    }

    @Test func strayTopLevelEntriesAreReportedSoTheyCanBeRefused() throws {
        let folder = try DropFolder()
        let watcher = try DropFolderWatcher(incoming: folder.incoming)
        Self.drainStartup(watcher)
        #expect(symlink("/etc", folder.path("linked")) == 0)
        #expect(mkfifo(folder.path("pipe"), 0o600) == 0)
        let events = Self.collect(watcher) { Self.names($0) == ["linked", "pipe"] }
        #expect(Self.names(events) == ["linked", "pipe"])
        #expect(watcher.watchedCaseCount == 0, "no watch is placed through a symlink")
    }

    @Test(.timeLimit(.minutes(30)))
    func hundredEmptyDirectoriesAndABurstDoNotWedgeTheWatcher() throws {
        let folder = try DropFolder()
        try folder.makeDirectory(folder.path("flood"))
        let watcher = try DropFolderWatcher(incoming: folder.incoming)
        Self.drainStartup(watcher)

        var expected: Set<String> = ["flood"]
        for index in 0..<100 {
            try folder.makeDirectory(folder.path("empty\(index)"))
            expected.insert("empty\(index)")
        }
        for index in 0..<20 {
            let name = "burst\(index)"
            try folder.makeDirectory(folder.path(name))
            for modality in Self.modalityNames { Self.writeFile(folder.path("\(name)/\(name)_\(modality).nii.gz")) }
            expected.insert(name)
        }
        // Overflow the kernel queue (16384 events): 9000 files give 18000 CREATE + CLOSE_WRITE.
        let flood = folder.path("flood")
        for index in 0..<9000 { Self.writeFile("\(flood)/f\(index).txt", bytes: 0) }

        var seen = Set<String>()
        var sawRescan = false
        _ = Self.collect(watcher, limit: .seconds(30)) { events in
            for event in events {
                switch event {
                case .caseChanged(let name): seen.insert(name)
                case .fullRescan:
                    sawRescan = true
                    seen.formUnion(DropFolderListing.entryNames(incoming: folder.incoming) ?? [])
                }
            }
            return seen.isSuperset(of: expected)
        }
        #expect(seen.isSuperset(of: expected), "every case is seen through events or a rescan")
        #expect(sawRescan, "the queue overflow is reported as a full rescan")
        #expect(watcher.watchedCaseCount == 121)

        // Still alive afterwards (after draining what is left, for at most a minute).
        let drainDeadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < drainDeadline, !watcher.nextEvents(timeout: .milliseconds(200)).isEmpty {}
        try folder.makeDirectory(folder.path("after"))
        #expect(Self.names(Self.collect(watcher) { Self.names($0).contains("after") }).contains("after"))
    }

    @Test func tooManyPendingNamesCollapseIntoOneRescan() throws {
        let folder = try DropFolder()
        let watcher = try DropFolderWatcher(incoming: folder.incoming, pendingLimit: 10)
        Self.drainStartup(watcher)
        for index in 0..<50 { try folder.makeDirectory(folder.path("case\(index)")) }
        usleep(100_000)
        #expect(watcher.nextEvents(timeout: .seconds(5)) == [.fullRescan])
        #expect(watcher.watchedCaseCount == 50, "every new directory got its watch")
    }

    @Test(.timeLimit(.minutes(30)))
    func wakeInterruptsAWaitPromptly() throws {
        let folder = try DropFolder()
        let watcher = try DropFolderWatcher(incoming: folder.incoming)
        Self.drainStartup(watcher)

        // Woken before the call: returns at once.
        watcher.wake()
        let clock = ContinuousClock()
        var elapsed = clock.measure { #expect(watcher.nextEvents(timeout: .seconds(30)) == []) }
        #expect(elapsed < .seconds(2))

        // Woken from another thread during a long wait.
        let waker = Thread(block: { usleep(200_000); watcher.wake() })
        waker.start()
        elapsed = clock.measure { #expect(watcher.nextEvents(timeout: .seconds(30)) == []) }
        #expect(elapsed >= .milliseconds(150) && elapsed < .seconds(5))

        // A plain timeout is honoured, and nothing works after close().
        elapsed = clock.measure { _ = watcher.nextEvents(timeout: .milliseconds(200)) }
        #expect(elapsed >= .milliseconds(190) && elapsed < .seconds(5))
        watcher.close()
        watcher.close()
        watcher.wake()
        #expect(watcher.nextEvents(timeout: .seconds(30)) == [])
    }

    @Test func pollingModeFindsTheSameCases() throws {
        let folder = try DropFolder()
        try folder.makeDirectory(folder.path("before"))
        let watcher = try DropFolderWatcher(incoming: folder.incoming, mode: .polling(interval: .milliseconds(100)))
        #expect(watcher.effectiveMode == .polling(interval: .milliseconds(100), reason: "polling was requested in the configuration"))
        Self.drainStartup(watcher)

        // Copied in place.
        try folder.makeDirectory(folder.path("copied"))
        for modality in Self.modalityNames { Self.writeFile(folder.path("copied/copied_\(modality).nii.gz")) }
        // Renamed in as a whole directory.
        let staged = "\(folder.staging)/renamed"
        try folder.makeDirectory(staged)
        for modality in Self.modalityNames { Self.writeFile("\(staged)/renamed_\(modality).nii.gz") }
        #expect(rename(staged, folder.path("renamed")) == 0)
        // A temporary directory is not a case.
        try folder.makeDirectory(folder.path(".partial"))

        let events = Self.collect(watcher) { Self.names($0).isSuperset(of: ["copied", "renamed"]) }
        #expect(Self.names(events) == ["copied", "renamed"])

        // A file growing in an existing case is noticed; a removed case is reported.
        Self.writeFile(folder.path("before/before_t1.nii.gz"))
        try FileManager.default.removeItem(atPath: folder.path("copied"))
        let more = Self.collect(watcher) { Self.names($0).isSuperset(of: ["before", "copied"]) }
        #expect(Self.names(more) == ["before", "copied"])
        #expect(watcher.nextEvents(timeout: .milliseconds(300)) == [], "an unchanged folder produces nothing")
    }
}

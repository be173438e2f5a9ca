import Core
import Daemon
import Foundation
import Testing
import TestSupport

/// `brainseg serve` driven the way a hospital and systemd would: real executable, temporary
/// root, a test-bound NOTIFY_SOCKET, cases dropped by copy and by rename, signals.
@Suite("brainseg serve (end to end)", .serialized)
struct DaemonEndToEndTests {
    /// Slower members, so that a signal lands while a case is being segmented.
    static let slowConfiguration = """
        [models]
        ensemble = ["cascade", "unet", "student"]
        student_alongside = false
        [watch]
        quiescence_seconds = 1
        """

    /// Small and fast: two light members, 1 s quiescence.
    static let configuration = """
        [models]
        ensemble = ["student", "unet"]
        student_alongside = false
        [watch]
        quiescence_seconds = 1
        """

    static func sources(_ scratch: TemporaryDirectory, count: Int, size: Int = 24) throws -> [String] {
        try SyntheticCases.write(into: scratch.file("sources"), count: count, size: size)
    }

    static func completed(_ daemon: DaemonHarness, _ name: String) -> Bool {
        FileManager.default.fileExists(atPath: "\(daemon.output(name))/\(name)_report.json")
    }

    @Test("READY and STATUS; a copied and a renamed case are each processed once with the input's geometry; WATCHDOG pings")
    func processesDroppedCases() throws {
        let scratch = try TemporaryDirectory()
        let sources = try Self.sources(scratch, count: 2)
        let daemon = try DaemonHarness(root: scratch.file("root"), configuration: Self.configuration,
                                       environment: ["WATCHDOG_USEC": "2000000"])
        let ready = try daemon.start()
        #expect(ready?.contains("STATUS=idle") == true, "READY message: \(ready ?? "none")\n\(daemon.log)")
        try daemon.copyInPlace(sources[0], as: "copied")
        try daemon.renameIntoPlace(sources[1], as: "renamed")
        #expect(DaemonHarness.wait(timeout: 300) { Self.completed(daemon, "copied") && Self.completed(daemon, "renamed") }, "\(daemon.log)")
        for (name, source) in zip(["copied", "renamed"], sources) {
            let mask = try NiftiReader.read(from: "\(daemon.output(name))/\(name)_seg.nii.gz")
            let input = try NiftiReader.read(from: "\(source)/\(URL(fileURLWithPath: source).lastPathComponent)_t1.nii.gz")
            #expect(mask.geometry == input.geometry)
            #expect(FileManager.default.fileExists(atPath: "\(daemon.output(name))/\(name)_qc.png"))
            let report = try String(contentsOfFile: "\(daemon.output(name))/\(name)_report.json", encoding: .utf8)
            #expect(report.contains("\"sha256\""))
            #expect(report.contains("\"evaluation\""), "synthetic cases carry a _seg: Dice is reported")
            #expect(report.contains("\"enhancementCheck\"") && report.contains("\"relabelledVoxels\""),
                    "the report says what the enhancement check changed")
            // Every model records the arithmetic it ran in: the default asks for int8 (models that
            // passed its check) or bf16; int8 runs where the CPU has VNNI, bf16 only where it is
            // native and measured faster (the daemon logs which at start).
            let parsed = try #require(try JSONSerialization.jsonObject(with: Data(report.utf8)) as? [String: Any])
            let models = try #require(parsed["models"] as? [[String: Any]])
            let usesBFloat16 = daemon.log.contains("bf16 on:")
            #expect(usesBFloat16 || daemon.log.contains("bf16 off:"), "the start-up log says whether bf16 is used: \(daemon.log)")
            #expect(!usesBFloat16 || OneDNNConvolution.hasNativeBFloat16)
            #expect(DaemonConfiguration.int8Checked.isEmpty || daemon.log.contains(OneDNNConvolution.hasInt8DotProduct ? "int8 on:" : "int8 off:"))
            #expect(daemon.log.contains(WinogradConvolution.isAvailable ? "winograd on:" : "winograd off:"), "\(daemon.log)")
            for model in models {
                let name = try #require(model["name"] as? String)
                let asksInt8 = DaemonConfiguration().precision[name] == .int8
                let expected = asksInt8 && OneDNNConvolution.hasInt8DotProduct ? "int8" : usesBFloat16 ? "bf16" : "fp32"
                #expect(model["precision"] as? String == expected, "\(name): \(models)")
            }
            #expect(!models.isEmpty)
        }
        #expect(daemon.waitForNotification(linePrefix: "WATCHDOG=1", timeout: 10) != nil, "no WATCHDOG ping in \(daemon.notifications)")
        #expect(DaemonHarness.wait(timeout: 30) {
            FileManager.default.fileExists(atPath: "\(daemon.root)/archive/copied") && FileManager.default.fileExists(atPath: "\(daemon.root)/archive/renamed")
        }, "inputs are archived")
        #expect(daemon.stop() == 0)
        // Exactly once: one completed record each, and a restart processes nothing again.
        try daemon.start()
        Thread.sleep(forTimeInterval: 3)
        #expect(daemon.stop() == 0)
        let status = try ExecutableRunner.run(["status", "--root", daemon.root, "--json"])
        let parsed = try JSONSerialization.jsonObject(with: Data(status.standardOutput.utf8)) as? [String: Any]
        let text = status.standardOutput
        #expect(parsed != nil, "status --json: \(text)")
        #expect(text.components(separatedBy: "\"completed\"").count - 1 >= 2)
        // The log spans both runs: each case was started exactly once.
        for name in ["copied", "renamed"] {
            #expect(daemon.log.components(separatedBy: "case started: \(name) ").count == 2, "\(daemon.log)")
        }
    }

    @Test("without trained weights the daemon does not start, and says which model and where it looked")
    func refusesUntrainedModels() throws {
        let scratch = try TemporaryDirectory()
        // A copy of the executable outside the source tree does not find the shipped models/.
        let executable = scratch.file("brainseg")
        try FileManager.default.copyItem(atPath: ExecutableRunner.executablePath, toPath: executable)
        try """
            root = "\(scratch.file("root"))"
            [models]
            directory = "\(scratch.file("no-models"))"
            ensemble = ["student"]
            """.write(toFile: scratch.file("brainseg.toml"), atomically: true, encoding: .utf8)
        let result = try ExecutableRunner.run(["serve", "--config", scratch.file("brainseg.toml")],
                                              environment: ["BRAINSEG_MODELS": "", "BRAINSEG_LOG_TARGET": "stderr"],
                                              timeout: 120, executable: executable)
        #expect(result.status != 0)
        #expect(result.standardError.contains("no trained weights for student") && result.standardError.contains("allow_untrained"),
                "stderr: \(result.standardError)")
        #expect(!FileManager.default.fileExists(atPath: scratch.file("root/models/student")), "nothing untrained is installed")
    }

    @Test("the same scans dropped again under a new name get the earlier result under that name, a copy that says so; nothing runs again")
    func duplicateUnderANewName() throws {
        let scratch = try TemporaryDirectory()
        let source = try Self.sources(scratch, count: 1)[0]
        let daemon = try DaemonHarness(root: scratch.file("root"), configuration: Self.configuration)
        try daemon.start()
        try daemon.copyInPlace(source, as: "first")
        #expect(DaemonHarness.wait(timeout: 300) { Self.completed(daemon, "first") }, "\(daemon.log)")
        try daemon.renameIntoPlace(source, as: "resent")
        #expect(DaemonHarness.wait(timeout: 120) { Self.completed(daemon, "resent") }, "\(daemon.log)")
        let first = daemon.output("first"), resent = daemon.output("resent")
        #expect(FileManager.default.contentsEqual(atPath: "\(first)/first_seg.nii.gz", andPath: "\(resent)/resent_seg.nii.gz"))
        #expect(FileManager.default.contentsEqual(atPath: "\(first)/first_qc.png", andPath: "\(resent)/resent_qc.png"))
        let report = try CaseReport.read(from: "\(resent)/resent_report.json")
        #expect(report.caseIdentifier == "resent")
        #expect(report.outputs == CaseReport.OutputFiles(caseIdentifier: "resent"))
        #expect(report.result?.copyOf?.contains("(first)") == true, "\(String(describing: report.result))")
        #expect(daemon.log.contains("resent: same content as case #") && daemon.log.contains("a copy of"), "\(daemon.log)")
        #expect(FileManager.default.fileExists(atPath: "\(daemon.root)/archive/resent"))
        #expect(daemon.stop() == 0)
    }

    @Test("a sender that writes READY first and then copies the scans is waited for; READY with a scan missing, quiet, fails saying which")
    func markerFirst() throws {
        let scratch = try TemporaryDirectory()
        let source = try Self.sources(scratch, count: 1)[0]
        let daemon = try DaemonHarness(root: scratch.file("root"), configuration: Self.configuration)
        try daemon.start()
        for name in ["marker-first", "marker-incomplete"] {
            try FileManager.default.createDirectory(atPath: "\(daemon.incoming)/\(name)", withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: "\(daemon.incoming)/\(name)/READY", contents: Data())
        }
        Thread.sleep(forTimeInterval: 0.5)
        for file in try FileManager.default.contentsOfDirectory(atPath: source).sorted() {
            try FileManager.default.copyItem(atPath: "\(source)/\(file)", toPath: "\(daemon.incoming)/marker-first/\(file)")
            if !file.contains("flair") {
                try FileManager.default.copyItem(atPath: "\(source)/\(file)", toPath: "\(daemon.incoming)/marker-incomplete/\(file)")
            }
        }
        let failedReason = "\(daemon.root)/failed/marker-incomplete/error.txt"
        #expect(DaemonHarness.wait(timeout: 300) { Self.completed(daemon, "marker-first") && FileManager.default.fileExists(atPath: failedReason) }, "\(daemon.log)")
        #expect(!FileManager.default.fileExists(atPath: "\(daemon.root)/failed/marker-first"), "failed before its scans arrived")
        #expect((try? String(contentsOfFile: failedReason, encoding: .utf8))?.contains("FLAIR is missing") == true)
        #expect(daemon.stop() == 0)
    }

    @Test("a slow writer is not processed early")
    func slowWriter() throws {
        let scratch = try TemporaryDirectory()
        let source = try Self.sources(scratch, count: 1)[0]
        let daemon = try DaemonHarness(root: scratch.file("root"), configuration: Self.configuration)
        try daemon.start()
        let target = "\(daemon.incoming)/slow"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        let files = try FileManager.default.contentsOfDirectory(atPath: source).sorted()
        // Write every file in small appends over ~4 s; quiescence is 1 s, appends come every 0.25 s.
        var handles: [(FileHandle, Data)] = []
        for file in files {
            let path = "\(target)/\(file.replacingOccurrences(of: "case0", with: "slow"))"
            FileManager.default.createFile(atPath: path, contents: nil)
            handles.append((try FileHandle(forWritingTo: URL(fileURLWithPath: path)), try Data(contentsOf: URL(fileURLWithPath: "\(source)/\(file)"))))
        }
        for step in 0..<16 {
            for (handle, data) in handles {
                let start = data.count * step / 16, end = data.count * (step + 1) / 16
                try handle.write(contentsOf: data[start..<end])
            }
            Thread.sleep(forTimeInterval: 0.25)
            #expect(FileManager.default.fileExists(atPath: target), "claimed at step \(step) while still being written")
        }
        handles.forEach { try? $0.0.close() }
        #expect(DaemonHarness.wait(timeout: 300) { Self.completed(daemon, "slow") }, "\(daemon.log)")
        #expect(daemon.stop() == 0)
    }

    @Test("a sender that stalls mid-file, longer than the quiescence and after writing READY, is waited for; the case completes",
          .enabled(if: WriterProbeSupport.unavailableReason == nil, "the write probe needs file leases on a local file system (WriterProbeSupport)"))
    func stalledWriter() throws {
        let scratch = try TemporaryDirectory()
        let source = try Self.sources(scratch, count: 1)[0]
        let daemon = try DaemonHarness(root: scratch.file("root"), configuration: Self.configuration)
        try daemon.start()
        let target = "\(daemon.incoming)/stalled"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        let files = try FileManager.default.contentsOfDirectory(atPath: source).sorted()
        // Every file but FLAIR complete and closed; FLAIR half written and held open; READY written.
        let flair = try #require(files.first { $0.contains("flair") })
        for file in files where file != flair {
            try FileManager.default.copyItem(atPath: "\(source)/\(file)", toPath: "\(target)/\(file.replacingOccurrences(of: "case0", with: "stalled"))")
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(source)/\(flair)"))
        let flairPath = "\(target)/\(flair.replacingOccurrences(of: "case0", with: "stalled"))"
        FileManager.default.createFile(atPath: flairPath, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: flairPath))
        try handle.write(contentsOf: data[..<(data.count / 2)])
        FileManager.default.createFile(atPath: "\(target)/READY", contents: Data())
        // Four quiescence periods of silence with the file open: not claimed.
        Thread.sleep(forTimeInterval: 4)
        #expect(FileManager.default.fileExists(atPath: flairPath), "claimed while FLAIR was still open for writing")
        try handle.write(contentsOf: data[(data.count / 2)...])
        try handle.close()
        let failed = "\(daemon.root)/failed/stalled"
        _ = DaemonHarness.wait(timeout: 300) { Self.completed(daemon, "stalled") || FileManager.default.fileExists(atPath: failed) }
        #expect(Self.completed(daemon, "stalled"), "\(daemon.log)")
        #expect(!FileManager.default.fileExists(atPath: failed), "failed as if truncated")
        #expect(daemon.stop() == 0)
    }

    @Test("missing modality, corrupt file, mismatched shapes, symlink out of the root and a FIFO go to failed/ with reasons; a good case still succeeds")
    func badCasesFail() throws {
        let scratch = try TemporaryDirectory()
        let sources = try Self.sources(scratch, count: 1)
        let daemon = try DaemonHarness(root: scratch.file("root"), configuration: Self.configuration)
        try daemon.start()
        let staging = scratch.file("staging")
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        func prepare(_ name: String, _ change: (String) throws -> Void) throws {
            let folder = "\(staging)/\(name)"
            try FileManager.default.copyItem(atPath: sources[0], toPath: folder)
            for file in try FileManager.default.contentsOfDirectory(atPath: folder) {
                try FileManager.default.moveItem(atPath: "\(folder)/\(file)", toPath: "\(folder)/\(file.replacingOccurrences(of: "case0", with: name))")
            }
            try change(folder)
        }
        try prepare("missing") { folder in
            try FileManager.default.removeItem(atPath: "\(folder)/missing_flair.nii.gz")
            FileManager.default.createFile(atPath: "\(folder)/READY", contents: Data())
        }
        try prepare("corrupt") { folder in
            let path = "\(folder)/corrupt_t2.nii.gz"
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: path))
        }
        try prepare("mismatched") { folder in
            try NiftiWriter.write(Volume(geometry: VolumeGeometry(dims: [20, 24, 24]), voxels: [Float](repeating: 1, count: 20 * 24 * 24)),
                                  to: "\(folder)/mismatched_t1ce.nii.gz")
        }
        try prepare("symlinked") { folder in
            try FileManager.default.removeItem(atPath: "\(folder)/symlinked_t1.nii.gz")
            try FileManager.default.createSymbolicLink(atPath: "\(folder)/symlinked_t1.nii.gz", withDestinationPath: "/etc/passwd")
        }
        try prepare("fifo") { folder in
            #expect(mkfifo("\(folder)/fifo_extra.nii.gz", 0o600) == 0)
        }
        try prepare("good") { _ in }
        for name in ["missing", "corrupt", "mismatched", "symlinked", "fifo", "good"] {
            try FileManager.default.moveItem(atPath: "\(staging)/\(name)", toPath: "\(daemon.incoming)/\(name)")
        }
        let expectations = ["missing": "FLAIR", "corrupt": "corrupt_t2.nii.gz", "mismatched": "shape",
                            "symlinked": "symlink", "fifo": "FIFO"]
        #expect(DaemonHarness.wait(timeout: 300) {
            Self.completed(daemon, "good") && expectations.keys.allSatisfy { FileManager.default.fileExists(atPath: "\(daemon.failed($0))/error.txt") }
        }, "\(daemon.log)")
        for (name, word) in expectations {
            let reason = (try? String(contentsOfFile: "\(daemon.failed(name))/error.txt", encoding: .utf8)) ?? ""
            #expect(reason.contains(word), "\(name): \(reason)")
        }
        // Nothing is lost: the failed cases keep their inputs.
        #expect(FileManager.default.fileExists(atPath: "\(daemon.failed("corrupt"))/corrupt_t1.nii.gz"))
        #expect(daemon.stop() == 0)
    }

    @Test("100 empty directories and a burst of temporary files do not wedge the watcher")
    func burst() throws {
        let scratch = try TemporaryDirectory()
        let sources = try Self.sources(scratch, count: 1)
        let daemon = try DaemonHarness(root: scratch.file("root"), configuration: Self.configuration)
        try daemon.start()
        for index in 0..<100 { try FileManager.default.createDirectory(atPath: "\(daemon.incoming)/empty\(index)", withIntermediateDirectories: true) }
        for index in 0..<2000 { FileManager.default.createFile(atPath: "\(daemon.incoming)/empty\(index % 100)/.junk\(index).tmp", contents: Data([1])) }
        try daemon.copyInPlace(sources[0], as: "after-burst")
        #expect(DaemonHarness.wait(timeout: 300) { Self.completed(daemon, "after-burst") }, "\(daemon.log)")
        #expect(daemon.stop() == 0)
    }

    @Test("SIGTERM during a case exits 0 and the case completes after restart; SIGHUP reloads")
    func sigtermAndReload() throws {
        let scratch = try TemporaryDirectory()
        let sources = try Self.sources(scratch, count: 1, size: 48)
        let daemon = try DaemonHarness(root: scratch.file("root"),
                                       configuration: Self.slowConfiguration + "\n[processing]\nstop_timeout_seconds = 0\n")
        try daemon.start()
        let before = daemon.notifications.count
        daemon.signal(SIGHUP)
        #expect(daemon.waitForNotification(linePrefix: "RELOADING=1", skipping: before, timeout: 30) != nil, "\(daemon.log)")
        #expect(daemon.waitForNotification(linePrefix: "MONOTONIC_USEC=", skipping: before, timeout: 30) != nil)
        #expect(daemon.waitForNotification(linePrefix: "READY=1", skipping: before, timeout: 30) != nil)
        try daemon.copyInPlace(sources[0], as: "interrupted")
        #expect(daemon.waitForNotification(linePrefix: "STATUS=segmenting interrupted", timeout: 120) != nil, "\(daemon.log)")
        #expect(daemon.stop(signal: SIGTERM) == 0, "\(daemon.log)")
        #expect(!FileManager.default.fileExists(atPath: daemon.incoming + "/interrupted"))
        try daemon.start()
        #expect(DaemonHarness.wait(timeout: 300) { Self.completed(daemon, "interrupted") }, "\(daemon.log)")
        #expect(daemon.stop() == 0)
    }

    @Test("SIGHUP applies the drop folder's marker and quiescence to the cases that follow")
    func reloadAppliesWatchSettings() throws {
        let scratch = try TemporaryDirectory()
        let source = try Self.sources(scratch, count: 1)[0]
        let daemon = try DaemonHarness(root: scratch.file("root"), configuration: Self.configuration)
        try daemon.start()
        let configuration = Self.configuration.replacingOccurrences(of: "quiescence_seconds = 1", with: "quiescence_seconds = 3600\nmarker = \"DONE\"")
        try "root = \"\(daemon.root)\"\n\(configuration)\n".write(toFile: "\(daemon.root)/brainseg.toml", atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        #expect(DaemonHarness.wait(timeout: 60) { daemon.log.contains("configuration and models reloaded") }, "\(daemon.log)")
        try daemon.renameIntoPlace(source, as: "waits")
        // Quiet for far longer than the old 1 s, no DONE: not taken.
        Thread.sleep(forTimeInterval: 5)
        #expect(FileManager.default.fileExists(atPath: "\(daemon.incoming)/waits"), "\(daemon.log)")
        FileManager.default.createFile(atPath: "\(daemon.incoming)/waits/DONE", contents: Data())
        #expect(DaemonHarness.wait(timeout: 300) { Self.completed(daemon, "waits") }, "\(daemon.log)")
        #expect(daemon.stop() == 0)
    }

    @Test("kill -9 during a case, restart: completed exactly once and no partial output is ever visible")
    func killDuringCase() throws {
        let scratch = try TemporaryDirectory()
        let sources = try Self.sources(scratch, count: 1, size: 48)
        let daemon = try DaemonHarness(root: scratch.file("root"), configuration: Self.slowConfiguration)
        try daemon.start()
        try daemon.copyInPlace(sources[0], as: "killed")
        #expect(daemon.waitForNotification(linePrefix: "STATUS=segmenting killed", timeout: 120) != nil, "\(daemon.log)")
        #expect(daemon.stop(signal: SIGKILL) != nil)
        let partial = daemon.output("killed")
        #expect(!FileManager.default.fileExists(atPath: partial) || Self.completed(daemon, "killed"), "a partial output folder is visible")
        try daemon.start()
        var sawPartial = false
        let done = DaemonHarness.wait(timeout: 300) {
            if FileManager.default.fileExists(atPath: partial) {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: partial)) ?? []
                if names.count < 3 { sawPartial = true }
            }
            return Self.completed(daemon, "killed")
        }
        #expect(done, "\(daemon.log)")
        #expect(!sawPartial)
        #expect(daemon.stop() == 0)
        let outputs = (try? FileManager.default.contentsOfDirectory(atPath: "\(daemon.root)/output")) ?? []
        #expect(outputs.filter { $0.hasPrefix("killed") } == ["killed"], "processed more than once: \(outputs)")
    }

    @Test("journald receives the events with their fields (root only)", .enabled(if: TestJournald.unavailableReason == nil))
    func journald() throws {
        let journal = TestJournald()
        try journal.start()
        defer { journal.stop() }
        let scratch = try TemporaryDirectory()
        let name = "journal-\(UInt32.random(in: 0...UInt32.max))"
        try SyntheticCases.write(into: scratch.file("sources"), count: 1, size: 24)
        let daemon = try DaemonHarness(root: scratch.file("root"), configuration: Self.configuration,
                                       environment: ["BRAINSEG_LOG_TARGET": "journal"])
        try daemon.start()
        try daemon.copyInPlace(scratch.file("sources/case0"), as: name)
        #expect(DaemonHarness.wait(timeout: 300) { Self.completed(daemon, name) })
        #expect(daemon.stop() == 0)
        let entries = try journal.entries(matching: ["CASE_ID=\(name)"], timeout: 10)
        let events = Set(entries.compactMap { $0["EVENT"] })
        #expect(events.isSuperset(of: ["case-received", "case-started", "case-completed"]), "\(entries)")
        let completed = entries.first { $0["EVENT"] == "case-completed" }
        #expect(completed?["MESSAGE_ID"]?.count == 32)
        #expect(completed?["WT_ML"] != nil && completed?["DURATION_MS"] != nil && completed?["DICE_WT"] != nil)
    }

    @Test("student-first: the student's mask is published first, the ensemble's replaces it when idle and says what it superseded")
    func studentFirst() throws {
        let scratch = try TemporaryDirectory()
        let source = try Self.sources(scratch, count: 1)[0]
        let daemon = try DaemonHarness(root: scratch.file("root"), configuration: """
            [models]
            ensemble = ["unet", "cascade"]
            [watch]
            quiescence_seconds = 1
            [processing]
            mode = "student-first"
            """)
        #expect(try daemon.start() != nil, "\(daemon.log)")
        try daemon.copyInPlace(source, as: "fast")
        let reportPath = "\(daemon.output("fast"))/fast_report.json"
        #expect(DaemonHarness.wait(timeout: 300) { daemon.log.contains("ensemble mask replaced the student's") }, "\(daemon.log)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: reportPath))) as? [String: Any]
        let result = report?["result"] as? [String: Any]
        #expect(result?["producedBy"] as? String == "ensemble" && result?["revision"] as? Int == 2 && result?["final"] as? Bool == true)
        #expect((result?["supersedes"] as? String)?.hasPrefix("student mask (student") == true, "\(result ?? [:])")
        #expect(daemon.log.components(separatedBy: "case completed: fast").count == 3, "student pass then teachers' pass: \(daemon.log)")
        #expect(DaemonHarness.wait(timeout: 30) { FileManager.default.fileExists(atPath: "\(daemon.root)/archive/fast") })
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: "\(daemon.root)/deferred")) ?? ["?"]).isEmpty)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: daemon.output(""))) ?? []).allSatisfy { !$0.hasPrefix(".") })
        #expect(daemon.stop() == 0)
    }
}

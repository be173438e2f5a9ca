import Core
import Daemon
import Foundation
import Logging
import Testing
import TestSupport

/// The case runner's state machine, driven directly: a mock pipeline, a real ledger and a
/// temporary root (no executable, no models). Claim, resume, crash accounting, retry, fail,
/// publish, pool, and student-first revision 2.
@Suite("case runner (mock pipeline)")
struct CaseRunnerTests {
    /// A pipeline that publishes a fixed report, or throws what it is told to.
    final class MockPipeline: CasePipeline {
        var failures: [Error] = []
        var passes: [CasePass] = []
        var pool: PoolOutcome?
        var provisional: Set<String> = []
        let layout: RootLayout

        init(layout: RootLayout) { self.layout = layout }

        func run(_ claimed: ClaimedCase, pass: CasePass, received: Date?, progress: (String) -> Void,
                 shouldStop: () -> Bool) throws -> PassResult {
            passes.append(pass)
            progress("loading")
            if !failures.isEmpty { throw failures.removeFirst() }
            if shouldStop() { throw PassCancelled() }
            let report = CaseReport(
                caseIdentifier: claimed.name, times: .init(received: received, started: Date(), completed: Date(), stagesMilliseconds: .init()),
                inputs: claimed.digests.map { .init(role: "T1", name: ($0.path as NSString).lastPathComponent, bytes: $0.byteCount, sha256: $0.sha256) },
                geometry: .init(VolumeGeometry(dims: [2, 2, 2])), labelConvention: .brats2018,
                volumesMillilitres: .init(wholeTumour: 1, tumourCore: 0.5, enhancingTumour: 0.25),
                models: [.init(name: "mock", version: "1", inEnsemble: true)])
            if pass == .studentOnly { provisional.insert(claimed.name) } else { provisional.remove(claimed.name) }
            return PassResult(outputFolder: "\(layout.output)/\(claimed.name)", report: report, pool: pass == .studentOnly ? nil : pool)
        }

        func awaitsTeachersPass(caseName: String) -> Bool { provisional.contains(caseName) }
    }

    final class StubNotes: AttemptNotes {
        var previous: CrashNote?
        var stages: [String] = []
        var open = false
        func begin(caseID: Int64, attempt: Int, stage: String) { open = true; stages.append(stage) }
        func stage(_ name: String) { stages.append(name) }
        func end() { open = false }
    }

    /// Keeps every message logged, for assertions on the journal lines.
    final class CapturedLog: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        func append(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
        var messages: [String] { lock.lock(); defer { lock.unlock() }; return lines }
    }

    struct CapturingHandler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String,
                 function: String, line: UInt) {
            log.append("\(level) \(message) \(metadata?["EVENT"].map { "EVENT=\($0)" } ?? "")")
        }
    }

    let captured = CapturedLog()
    let scratch: TemporaryDirectory
    let layout: RootLayout
    let ledger: Ledger
    let pipeline: MockPipeline
    let notes = StubNotes()
    let runner: CaseRunner

    init() throws {
        scratch = try TemporaryDirectory()
        layout = RootLayout(root: scratch.file("root"))
        for folder in layout.folders { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        ledger = try Ledger(path: layout.ledger)
        pipeline = MockPipeline(layout: layout)
        var policy = CaseRunner.Policy()
        policy.retryBackoffSeconds = 10
        let log = captured
        runner = CaseRunner(ledger: ledger, pipeline: pipeline, notes: notes, layout: layout, policy: policy,
                            logger: Logger(label: "test") { _ in CapturingHandler(log: log) })
    }

    /// A case folder in work/ with two small files, claimed through intake.
    func claim(_ name: String, content: String = "a") throws -> ClaimedCase {
        let folder = "\(layout.work)/\(name)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for file in ["\(name)_t1.nii.gz", "\(name)_flair.nii.gz", ".hidden.part"] {
            try Data("\(file) \(content)".utf8).write(to: URL(fileURLWithPath: "\(folder)/\(file)"))
        }
        return try CaseIntake.examine(folder: folder, name: name, allowedRoot: layout.work, limits: .init()).get()
    }

    /// The folder `work/<name>` as it is, through intake again (a leftover offered again).
    func reclaim(_ name: String) throws -> ClaimedCase {
        try CaseIntake.examine(folder: "\(layout.work)/\(name)", name: name, allowedRoot: layout.work, limits: .init()).get()
    }

    func run(_ claimed: ClaimedCase, pass: CasePass = .ensemble, stop: Bool = false) -> CaseRunner.Verdict {
        runner.run(claimed, pass: pass, received: nil, progress: { _ in }, stopRequested: { stop })
    }

    func state(_ name: String) throws -> CaseState? { try ledger.cases(named: name).last?.state }

    /// The id of a `.new` registration, nil for any other answer.
    static func newID(_ registration: Registration) -> Int64? {
        if case .new(let id) = registration { return id }
        return nil
    }

    @Test("intake counts only the files that count, once")
    func intake() throws {
        let claimed = try claim("one")
        #expect(claimed.fileNames == ["one_flair.nii.gz", "one_t1.nii.gz"])
        #expect(claimed.digests.count == 2)
    }

    @Test("a new case completes: ledger completed, inputs archived, crash note opened and closed")
    func completes() throws {
        let claimed = try claim("one")
        #expect(run(claimed) == .completed)
        #expect(try state("one") == .completed)
        #expect(FileManager.default.fileExists(atPath: "\(layout.archive)/one"))
        #expect(notes.stages == ["starting", "loading"] && !notes.open)
    }

    @Test("the same content again is a duplicate: archived without a pass")
    func duplicate() throws {
        #expect(run(try claim("one")) == .completed)
        #expect(run(try claim("one")) == .duplicate)
        #expect(pipeline.passes.count == 1)
    }

    @Test("a transient error retries with back-off and keeps the inputs; a permanent one fails with error.txt")
    func retryAndFail() throws {
        pipeline.failures = [NiftiError(.writeFailed, path: "/x", "no space", errorNumber: ENOSPC)]
        guard case .retry(let notBefore) = run(try claim("full")) else { Issue.record("no retry"); return }
        #expect(notBefore.timeIntervalSinceNow > 5)
        #expect(try state("full") == .retrying)
        #expect(FileManager.default.fileExists(atPath: "\(layout.work)/full"))
        #expect(run(try CaseIntake.examine(folder: "\(layout.work)/full", name: "full", allowedRoot: layout.work, limits: .init()).get()) == .completed)

        pipeline.failures = [NiftiError(.notNifti, path: "\(layout.work)/bad/bad_t1.nii.gz", "not a NIfTI file")]
        guard case .failed(let reason) = run(try claim("bad")) else { Issue.record("not failed"); return }
        #expect(reason.contains("not a NIfTI file"))
        #expect(try state("bad") == .failed)
        let text = try String(contentsOfFile: "\(layout.failed)/bad/error.txt", encoding: .utf8)
        #expect(text.contains("not a NIfTI file"))
        // The file is named where it is now, in error.txt and in the ledger.
        #expect(text.contains("\(layout.failed)/bad/bad_t1.nii.gz") && !text.contains(layout.work), "\(text)")
        let recorded = try #require(try ledger.cases(named: "bad").last?.lastError)
        #expect(recorded.contains("\(layout.failed)/bad/bad_t1.nii.gz"), "\(recorded)")
    }

    @Test("a case refused at intake is in failed/ with error.txt and in the ledger as failed, and is no duplicate of anything")
    func refusalsAreRecorded() throws {
        let folder = "\(layout.incoming)/fifo-case"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try runner.refuse(folder: folder, name: "fifo-case", reason: "'x' is a FIFO, not a regular file")
        #expect(try state("fifo-case") == .failed)
        #expect(try String(contentsOfFile: "\(layout.failed)/fifo-case/error.txt", encoding: .utf8).contains("is a FIFO"))
        let overview = try ledger.overview(recentLimit: 10, failureLimit: 10)
        #expect(overview.failures.contains { $0.caseName == "fifo-case" }, "\(overview.failures)")
        // A later good case is registered normally, not matched to the refusal.
        #expect(run(try claim("fifo-case")) == .completed)
        #expect(try state("fifo-case") == .completed)
    }

    @Test("unsafe names refused in the same second are recorded under their own folders' names")
    func refusedUnsafeNamesStayApart() throws {
        var recorded: [String] = []
        for index in 0..<3 {
            let folder = "\(layout.incoming)/bad\(index)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try runner.refuse(folder: folder, name: "bad\u{7}\(index)", reason: "the name holds a control character")
        }
        let folders = try FileManager.default.contentsOfDirectory(atPath: layout.failed).filter { $0.hasPrefix("refused-") }.sorted()
        #expect(folders.count == 3)
        for name in folders { recorded += try ledger.cases(named: name).map(\.caseName) }
        #expect(recorded.sorted() == folders, "ledger \(recorded), folders \(folders)")
    }

    @Test("when failed/ or archive/ is unusable, the inputs stay in work/ and the journal says so")
    func unusableDestinations() throws {
        for destination in [layout.failed, layout.archive] {
            try FileManager.default.removeItem(atPath: destination)
            try Data("not a folder".utf8).write(to: URL(fileURLWithPath: destination))
        }
        pipeline.failures = [NiftiError(.notNifti, path: "/x", "not a NIfTI file")]
        guard case .failed(let failure) = run(try claim("bad")) else { Issue.record("not failed"); return }
        #expect(run(try claim("good")) == .completed)
        for name in ["bad", "good"] {
            #expect(FileManager.default.fileExists(atPath: "\(layout.work)/\(name)"), "\(name) left work/")
            #expect(captured.messages.contains { $0.contains("\(name): cannot move the inputs into") && $0.contains("the move is retried") },
                    "\(captured.messages)")
        }
        // Offered again while still unusable: nothing runs, nothing is recorded, the inputs stay.
        let records = try ledger.recentCases(limit: 100).count
        #expect(runner.fileFinishedLeftover(try reclaim("bad")) == .failed(reason: failure))
        #expect(runner.fileFinishedLeftover(try reclaim("good")) == .completed)
        #expect(FileManager.default.fileExists(atPath: "\(layout.work)/bad") && FileManager.default.fileExists(atPath: "\(layout.work)/good"))
        // Repaired: the next offer files each case where its outcome says, without a pass or a record.
        for destination in [layout.failed, layout.archive] {
            try FileManager.default.removeItem(atPath: destination)
            try FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: false)
        }
        #expect(runner.fileFinishedLeftover(try reclaim("bad")) == .failed(reason: failure))
        #expect(runner.fileFinishedLeftover(try reclaim("good")) == .completed)
        #expect(try String(contentsOfFile: "\(layout.failed)/bad/error.txt", encoding: .utf8).contains("not a NIfTI file"))
        #expect(FileManager.default.fileExists(atPath: "\(layout.archive)/good"))
        #expect(!FileManager.default.fileExists(atPath: "\(layout.work)/bad") && !FileManager.default.fileExists(atPath: "\(layout.work)/good"))
        #expect(pipeline.passes.count == 2, "run again")
        #expect(try ledger.recentCases(limit: 100).count == records, "a record added")
        #expect(try state("bad") == .failed && state("good") == .completed)
    }

    @Test("a copy of a result under a new name: renamed files and report; refused when the report lists other inputs or the folder exists")
    func publishCopy() throws {
        let claimed = try claim("orig")
        let result = try pipeline.run(claimed, pass: .ensemble, received: nil, progress: { _ in }, shouldStop: { false })
        let original = "\(layout.output)/orig"
        try FileManager.default.createDirectory(atPath: original, withIntermediateDirectories: true)
        try Data("mask".utf8).write(to: URL(fileURLWithPath: "\(original)/orig_seg.nii.gz"))
        try Data("png".utf8).write(to: URL(fileURLWithPath: "\(original)/orig_qc.png"))
        try result.report.write(to: "\(original)/orig_report.json")
        let publisher = OutputFolderPublisher(output: layout.output)
        let digests = Set(claimed.digests.map(\.sha256))
        #expect(throws: CaseReportError.self) {
            try publisher.publishCopy(of: original, originalName: "orig", as: "other", inputDigests: ["0123"], copyOf: "x")
        }
        #expect(!FileManager.default.fileExists(atPath: "\(layout.output)/other"), "published for other inputs")
        let copy = try publisher.publishCopy(of: original, originalName: "orig", as: "resent", inputDigests: digests, copyOf: "case #1 (orig)")
        #expect(try String(contentsOfFile: "\(copy)/resent_seg.nii.gz", encoding: .utf8) == "mask")
        #expect(try String(contentsOfFile: "\(copy)/resent_qc.png", encoding: .utf8) == "png")
        let report = try CaseReport.read(from: "\(copy)/resent_report.json")
        #expect(report.caseIdentifier == "resent" && report.result?.copyOf == "case #1 (orig)")
        #expect(throws: (any Error).self) {
            try publisher.publishCopy(of: original, originalName: "orig", as: "resent", inputDigests: digests, copyOf: "again")
        }
        #expect(try CaseReport.read(from: "\(copy)/resent_report.json").result?.copyOf == "case #1 (orig)", "an existing folder replaced")
        #expect(try FileManager.default.contentsOfDirectory(atPath: layout.output).allSatisfy { !$0.hasPrefix(".staging") })
    }

    @Test("a case dropped again after it failed is run, not filed as the old failure; unknown content is run")
    func leftoverOfANewDropIsRun() throws {
        pipeline.failures = [NiftiError(.notNifti, path: "/x", "not a NIfTI file")]
        guard case .failed = run(try claim("again")) else { Issue.record("not failed"); return }
        #expect(FileManager.default.fileExists(atPath: "\(layout.failed)/again"))
        Thread.sleep(forTimeInterval: 0.01)
        // The same content claimed anew (after the failure was recorded), interrupted before registration.
        let redropped = try claim("again")
        #expect(runner.fileFinishedLeftover(redropped) == nil)
        #expect(runner.fileFinishedLeftover(try claim("never-seen")) == nil)
        #expect(run(redropped) == .completed)
    }

    @Test("transient errors stop being retried after the attempt limit")
    func attemptLimit() throws {
        let error = CaseFolders.MoveError("cannot write", code: EIO)
        pipeline.failures = [error, error, error]
        var claimed = try claim("flaky")
        for _ in 0..<2 {
            guard case .retry = run(claimed) else { Issue.record("expected a retry"); return }
            claimed = try CaseIntake.examine(folder: claimed.folder, name: "flaky", allowedRoot: layout.work, limits: .init()).get()
        }
        guard case .failed(let reason) = run(claimed) else { Issue.record("expected failure"); return }
        #expect(reason.contains("after 3 attempts"))
    }

    @Test("resume after a crash: the note names the attempt; the second crash fails the case; an unnoted death only requeues")
    func crashAccounting() throws {
        let claimed = try claim("pill")
        // Simulate a death during attempt 1: the record stays in processing.
        let id = try #require(Self.newID(try ledger.register(caseName: "pill", contentHash: claimed.contentHash, inputFiles: claimed.files)))
        try ledger.transition(id, to: .processing, detail: nil)
        notes.previous = CrashNote(text: "signal=4\ncase=\(id)\nattempt=1\nstage=loading\n")
        // Attempt 2 starts (crash 1 recorded) and dies too.
        pipeline.failures = []
        try ledger.transition(id, to: .queued, detail: nil)
        _ = try ledger.recordInterruption(id, attempt: 1, cause: .crashed(signal: 4, stage: "loading"))
        try ledger.transition(id, to: .processing, detail: nil)
        notes.previous = CrashNote(text: "signal=4\ncase=\(id)\nattempt=2\nstage=unet\n")
        guard case .failed(let reason) = run(claimed) else { Issue.record("not failed"); return }
        #expect(reason.contains("killed the daemon 2 times") && reason.contains("during 'unet'"))
        #expect(pipeline.passes.isEmpty)
        #expect(FileManager.default.fileExists(atPath: "\(layout.failed)/pill/error.txt"))

        // A death with no note (kill -9) requeues and runs again.
        let other = try claim("killed")
        let otherID = try #require(Self.newID(try ledger.register(caseName: "killed", contentHash: other.contentHash, inputFiles: other.files)))
        try ledger.transition(otherID, to: .processing, detail: nil)
        notes.previous = nil
        #expect(run(other) == .completed)
        #expect(try ledger.interruptions(of: otherID).map(\.cause) == [.unexplained])
    }

    @Test("a stop between stages requeues the case in work/")
    func stop() throws {
        #expect(run(try claim("stopped"), stop: true) == .requeued)
        #expect(try state("stopped") == .queued)
        #expect(FileManager.default.fileExists(atPath: "\(layout.work)/stopped"))
    }

    @Test("student-first: the student pass defers the inputs; the teachers' pass archives them")
    func studentFirst() throws {
        #expect(run(try claim("sf"), pass: .studentOnly) == .deferred)
        #expect(FileManager.default.fileExists(atPath: "\(layout.deferred)/sf"))
        let deferred = try CaseIntake.examine(folder: "\(layout.deferred)/sf", name: "sf", allowedRoot: layout.deferred, limits: .init()).get()
        #expect(runner.runTeachersAfterStudent(deferred, progress: { _ in }, stopRequested: { false }) == .completed)
        #expect(pipeline.passes == [.studentOnly, .teachersAfterStudent])
        #expect(FileManager.default.fileExists(atPath: "\(layout.archive)/sf"))
    }

    @Test("student-first: a teachers' pass that killed the daemon is not run again; the inputs are archived")
    func teachersPassPoisonPill() throws {
        #expect(run(try claim("pill2"), pass: .studentOnly) == .deferred)
        let deferred = try CaseIntake.examine(folder: "\(layout.deferred)/pill2", name: "pill2", allowedRoot: layout.deferred, limits: .init()).get()
        notes.previous = CrashNote(text: "signal=11\ncase=0\nattempt=0\nstage=teachers-after-student pill2: unet\n")
        guard case .failed(let reason) = runner.runTeachersAfterStudent(deferred, progress: { _ in }, stopRequested: { false }) else {
            Issue.record("ran again"); return
        }
        #expect(reason.contains("SIGSEGV") && reason.contains("during 'unet'"))
        #expect(pipeline.passes == [.studentOnly], "the teachers' pass did not run again")
        #expect(FileManager.default.fileExists(atPath: "\(layout.archive)/pill2"))
        // A note about another case does not stop this one.
        #expect(run(try claim("other"), pass: .studentOnly) == .deferred)
        let other = try CaseIntake.examine(folder: "\(layout.deferred)/other", name: "other", allowedRoot: layout.deferred, limits: .init()).get()
        #expect(runner.runTeachersAfterStudent(other, progress: { _ in }, stopRequested: { false }) == .completed)
        #expect(notes.stages.contains("teachers-after-student other: loading"))
    }

    @Test("student-first: a duplicate whose teachers' pass is owed goes to deferred/, not archive/")
    func owedTeachersPass() throws {
        #expect(run(try claim("owed"), pass: .studentOnly) == .deferred)
        // The inputs came back to work/ (the kill before the move to deferred/).
        try FileManager.default.moveItem(atPath: "\(layout.deferred)/owed", toPath: "\(layout.work)/owed")
        let again = try CaseIntake.examine(folder: "\(layout.work)/owed", name: "owed", allowedRoot: layout.work, limits: .init()).get()
        #expect(run(again, pass: .studentOnly) == .deferred)
        #expect(FileManager.default.fileExists(atPath: "\(layout.deferred)/owed"))
    }

    @Test("the pool's decision and the completion reach the journal as events")
    func poolAndEvents() throws {
        let assessment = ConfidenceAssessment(teacherDice: nil, entropy: .init(wholeTumour: 0.7, tumourCore: 0.7, enhancingTumour: 0.7),
                                              nestingViolation: 0, wholeTumourMillilitres: 1, dominantComponentFraction: 1, score: 0.1,
                                              passes: false, reasons: ["WT entropy 0.70 > 0.60"])
        pipeline.pool = .rejected(assessment, reason: "not admitted: a confidence check failed")
        #expect(run(try claim("pooled")) == .completed)
        let lines = captured.messages
        #expect(lines.contains { $0.contains("case started: pooled") && $0.contains("EVENT=case-started") })
        #expect(lines.contains { $0.contains("EVENT=case-completed") })
        #expect(lines.contains { $0.contains("pool: rejected pooled") && $0.contains("WT entropy 0.70 > 0.60") && $0.contains("EVENT=pool-rejected") },
                "\(lines)")
    }

    @Test("failure classes come from error codes: a full or read-only storage, a transient fault, the case's own")
    func retryClasses() {
        #expect(RetryPolicy.classify(NiftiError(.writeFailed, path: "/x", "disk full", errorNumber: ENOSPC)) == .storage)
        #expect(RetryPolicy.classify(NiftiError(.writeFailed, path: "/x", "no space left on device")) == .permanent, "text is not read")
        #expect(RetryPolicy.classify(LedgerError(.database, path: "/l", detail: "x", errorNumber: ENOSPC)) == .storage)
        #expect(RetryPolicy.classify(LedgerError(.database, path: "/l", detail: "x", errorNumber: EIO)) == .transient)
        #expect(RetryPolicy.classify(NiftiError(.writeFailed, path: "/x", "quota", errorNumber: EDQUOT)) == .storage)
        #expect(RetryPolicy.classify(CaseFolders.MoveError("x", code: EACCES)) == .permanent)
    }

    /// A storage fault that lasts longer than `max_attempts` retries (here 3).
    static let storageFault = ResultsStorageError(wrapping: POSIXError(.ENOTDIR), folder: "/root/output")!

    @Test("a storage fault is retried past max_attempts, each delay doubling up to its cap, and the case completes once repaired")
    func storageFaultsAreRetriedUntilRepaired() throws {
        runner.policy.maximumRetryDelaySeconds = 25
        pipeline.failures = Array(repeating: Self.storageFault, count: 5)
        var delays: [Double] = []
        var claimed = try claim("outage")
        for _ in 0..<5 {
            guard case .retry(let notBefore) = run(claimed) else { Issue.record("not retried"); return }
            delays.append(notBefore.timeIntervalSinceNow)
            #expect(try state("outage") == .retrying)
            claimed = try reclaim("outage")
        }
        #expect(zip(delays, [10.0, 20, 25, 25, 25]).allSatisfy { abs($0 - $1) < 2 }, "\(delays)")
        #expect(run(claimed) == .completed)
        #expect(try ledger.cases(named: "outage").count == 1 && (try ledger.cases(named: "outage").last?.attempts) == 6)
        #expect(!FileManager.default.fileExists(atPath: "\(layout.failed)/outage"))
    }

    @Test("a transient fault that is not the storage's fails the case after max_attempts")
    func transientFaultsAreLimited() throws {
        pipeline.failures = Array(repeating: NiftiError(.unreadable, path: "/x", "I/O error", errorNumber: EIO), count: 3)
        var claimed = try claim("flaky")
        for _ in 0..<2 {
            guard case .retry = run(claimed) else { Issue.record("not retried"); return }
            claimed = try reclaim("flaky")
        }
        guard case .failed(let reason) = run(claimed) else { Issue.record("not failed"); return }
        #expect(reason.contains("after 3 attempts"))
        #expect(FileManager.default.fileExists(atPath: "\(layout.failed)/flaky/error.txt"))
    }

    /// The real ledger, except that `register` throws `registerError` while it is set.
    final class FullLedger: CaseLedger {
        let ledger: Ledger
        var registerError: Error?
        init(_ ledger: Ledger) { self.ledger = ledger }
        func register(caseName: String, contentHash: String, inputFiles: [String]) throws -> Registration {
            if let registerError { throw registerError }
            return try ledger.register(caseName: caseName, contentHash: contentHash, inputFiles: inputFiles)
        }
        func transition(_ id: Int64, to state: CaseState, detail: String?) throws { try ledger.transition(id, to: state, detail: detail) }
        func recordCompletion(_ id: Int64, results: CaseResults, detail: String?) throws {
            try ledger.recordCompletion(id, results: results, detail: detail)
        }
        func recordAttemptFailure(_ id: Int64, error: String, willRetry: Bool) throws {
            try ledger.recordAttemptFailure(id, error: error, willRetry: willRetry)
        }
        func recordInterruption(_ id: Int64, attempt: Int, cause: InterruptionCause) throws -> [Interruption] {
            try ledger.recordInterruption(id, attempt: attempt, cause: cause)
        }
        func caseRecord(_ id: Int64) throws -> CaseRecord? { try ledger.caseRecord(id) }
        func cases(named caseName: String) throws -> [CaseRecord] { try ledger.cases(named: caseName) }
        func recordRefusal(caseName: String, reason: String) throws -> Int64 { try ledger.recordRefusal(caseName: caseName, reason: reason) }
    }

    @Test("a ledger that cannot register a case (disk full) keeps it in work/ and retries; it is not refused")
    func ledgerFullAtRegistration() throws {
        let full = FullLedger(ledger)
        full.registerError = LedgerError(.database, path: layout.ledger, detail: "database or disk is full", errorNumber: ENOSPC)
        var policy = CaseRunner.Policy()
        policy.retryBackoffSeconds = 10
        let runner = CaseRunner(ledger: full, pipeline: pipeline, notes: notes, layout: layout, policy: policy, logger: Logger(label: "test"))
        guard case .retry(let notBefore) = runner.run(try claim("early"), pass: .ensemble, received: nil, progress: { _ in },
                                                     stopRequested: { false }) else { Issue.record("not retried"); return }
        #expect(abs(notBefore.timeIntervalSinceNow - 10) < 2)
        #expect(FileManager.default.fileExists(atPath: "\(layout.work)/early"))
        #expect(!FileManager.default.fileExists(atPath: "\(layout.failed)/early"))
        #expect(pipeline.passes.isEmpty)
        full.registerError = nil
        #expect(runner.run(try reclaim("early"), pass: .ensemble, received: nil, progress: { _ in }, stopRequested: { false }) == .completed)
        #expect(try state("early") == .completed)
    }

    @Test("failing to store the results is the storage's fault whatever the error number; an error without one is not")
    func resultsStorageFaults() throws {
        for code in [EROFS, EACCES, EPERM, ENOTDIR] {
            let cocoa = CocoaError(.fileWriteNoPermission, userInfo: [NSUnderlyingErrorKey: NSError(domain: NSPOSIXErrorDomain, code: Int(code))])
            let fault = try #require(ResultsStorageError(wrapping: cocoa, folder: "/root/output"))
            #expect(RetryPolicy.classify(fault) == .storage)
            // The same error elsewhere stays the case's, except a read-only file system, which
            // is the storage's wherever it is met.
            #expect(RetryPolicy.classify(cocoa) == (code == EROFS ? .storage : .permanent), "errno \(code)")
            #expect(fault.description.contains("cannot write the results into /root/output: \(String(cString: strerror(code)))"))
        }
        #expect(ResultsStorageError(wrapping: CaseReportError(path: "x", "the report cannot be built"), folder: "/o") == nil)
        // What Foundation throws when output/ is a file.
        let scratch = try TemporaryDirectory()
        try Data("x".utf8).write(to: URL(fileURLWithPath: scratch.file("output")))
        do {
            try FileManager.default.createDirectory(atPath: scratch.file("output/.staging"), withIntermediateDirectories: true)
            Issue.record("created a folder inside a file")
        } catch {
            #expect(ResultsStorageError(wrapping: error, folder: "output")?.code == ENOTDIR, "\(type(of: error)): \(error)")
        }
    }
}

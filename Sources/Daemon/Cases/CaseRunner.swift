import Core
import Foundation
import Logging

/// Runs one claimed case through its lifecycle, top to bottom (SPEC.md §2–3):
///
/// 1. **register** the content in the ledger: a duplicate is archived (or, in student-first
///    mode, sent on to `deferred/` when its teachers' pass is still owed); a record left in
///    `processing` means the daemon died during it, and `accountForInterruption` decides
///    whether the case has now killed it too often;
/// 2. **run** the pass through the pipeline, with the attempt named in the crash note;
/// 3. **file**: completion recorded, inputs to `archive/` (or `deferred/` after a student-only
///    pass); a stop requeues; a transient failure (`RetryPolicy`) asks to be retried later with
///    the inputs kept in `work/`, a storage fault (disk full, `output/` unusable, the ledger
///    unable to write) as often as it takes; anything else goes to `failed/` with `error.txt`.
///
/// The runner knows no loop, queue or signal: the service asks it to run a case and acts on
/// the `Verdict`. Its collaborators are protocols (`CaseLedger`, `CasePipeline`,
/// `AttemptNotes`) so tests drive it with a mock pipeline on a temporary root.
public final class CaseRunner {
    /// Limits that decide between retrying, requeueing and failing.
    public struct Policy: Sendable {
        /// Attempts of a case that fails transiently (`RetryPolicy.Class.transient`) before it
        /// is failed; storage faults are retried without this limit.
        public var maximumAttempts = 3
        /// The first retry's delay; each further one doubles it, up to `maximumRetryDelaySeconds`.
        public var retryBackoffSeconds: Double = 30
        public var maximumRetryDelaySeconds: Double = 600
        public var maximumCrashes = 2
        public var maximumUnexplainedDeaths = 5
        /// On a stop request, a case expected to end within this many seconds is finished.
        public var stopTimeoutSeconds: Double = 60

        public init() {}

        public init(_ configuration: DaemonConfiguration) {
            maximumAttempts = configuration.maximumAttempts
            retryBackoffSeconds = configuration.retryBackoffSeconds
            maximumCrashes = configuration.maximumCrashes
            maximumUnexplainedDeaths = configuration.maximumUnexplainedDeaths
            stopTimeoutSeconds = configuration.stopTimeoutSeconds
        }
    }

    /// How a run ended, for the service.
    public enum Verdict: Sendable, Equatable {
        case completed
        /// Same content completed before: archived without processing.
        case duplicate
        /// Student-first: the student mask is out; the inputs wait in `deferred/`.
        case deferred
        /// Stopped between stages; stays in `work/` for the next start.
        case requeued
        /// A transient failure: run it again at `notBefore` (inputs kept in `work/`).
        case retry(notBefore: Date)
        case failed(reason: String)
    }

    let ledger: CaseLedger
    /// Replaced when the models are reloaded.
    public var pipeline: CasePipeline
    let notes: AttemptNotes
    let layout: RootLayout
    /// Replaced when the configuration is reloaded.
    public var policy: Policy
    let logger: Logger
    let clock: () -> Date
    /// The last case's wall time, to judge whether a case finishes within the stop timeout.
    public private(set) var lastCaseSeconds: Double?

    public init(ledger: CaseLedger, pipeline: CasePipeline, notes: AttemptNotes, layout: RootLayout, policy: Policy,
                logger: Logger, clock: @escaping () -> Date = { Date() }) {
        self.ledger = ledger
        self.pipeline = pipeline
        self.notes = notes
        self.layout = layout
        self.policy = policy
        self.logger = logger
        self.clock = clock
    }

    /// Runs `claimed` (in `work/`) with `pass`. `progress` gets the stage names; `stopRequested`
    /// says whether SIGTERM arrived (the case is finished when it will end within the stop
    /// timeout, else stopped between stages).
    public func run(_ claimed: ClaimedCase, pass: CasePass, received: Date?,
                    progress: @escaping (String) -> Void, stopRequested: @escaping () -> Bool) -> Verdict {
        let identifier: Int64
        switch register(claimed) {
        case .finished(let verdict): return verdict
        case .proceed(let id): identifier = id
        }
        let attempt = ((try? ledger.caseRecord(identifier))??.attempts) ?? 1
        notes.begin(caseID: identifier, attempt: attempt, stage: "starting")
        defer { notes.end() }
        logger.log(.caseStarted, fields: [.caseID: claimed.name])
        FaultInjection.check(.trap, caseName: claimed.name)
        let started = clock()
        let expected = lastCaseSeconds
        do {
            let result = try pipeline.run(claimed, pass: pass, received: received, progress: { stage in
                self.notes.stage(stage)
                progress(stage)
            }, shouldStop: {
                guard stopRequested() else { return false }
                return (expected ?? .infinity) - self.clock().timeIntervalSince(started) > self.policy.stopTimeoutSeconds
            })
            let seconds = clock().timeIntervalSince(started)
            lastCaseSeconds = seconds
            try ledger.recordCompletion(identifier, results: Self.results(of: result, seconds: seconds), detail: nil)
            if pass == .studentOnly { FaultInjection.check(.killAfterStudentPass, caseName: claimed.name) }
            fileInputs(claimed, into: pass == .studentOnly ? layout.deferred : layout.archive)
            CaseEventLog(logger: logger).completed(claimed.name, result: result, seconds: seconds)
            return pass == .studentOnly ? .deferred : .completed
        } catch is PassCancelled {
            try? ledger.transition(identifier, to: .queued, detail: "stopped by SIGTERM; resumed at the next start")
            logger.notice("\(claimed.name): stopped before completion; it stays in work/ and is resumed at the next start",
                          metadata: ["CASE_ID": "\(claimed.name)"])
            return .requeued
        } catch {
            return attemptFailed(claimed, identifier: identifier, error: error)
        }
    }

    /// Student-first mode's second pass over a case in `deferred/`: the ensemble replaces the
    /// student's mask (revision 2) and feeds the pool; the inputs go to `archive/`. A stop
    /// leaves the case in `deferred/`; a failure keeps the student's result.
    ///
    /// Poison pills here too: the crash note names the deferred case, and a case whose teachers'
    /// pass killed the daemon is not run again: its inputs go to `archive/`, the student's mask
    /// stays the result, and an err-priority event says why (the mask is out, nothing is lost).
    public func runTeachersAfterStudent(_ claimed: ClaimedCase, progress: @escaping (String) -> Void,
                                        stopRequested: @escaping () -> Bool) -> Verdict {
        let notePrefix = "teachers-after-student \(claimed.name): "
        if let note = notes.previous, note.caseID == 0, note.stage.hasPrefix(notePrefix) {
            let reason = "the teachers' pass killed the daemon (\(SignalName.describe(note.signal)) during '\(note.stage.dropFirst(notePrefix.count))'); "
                + "it is not run again: the student's mask stays the result and the inputs are archived"
            logger.log(.caseFailed, "case failed: \(claimed.name): \(reason)", fields: [.caseID: claimed.name, .stage: "teachers", .reason: reason])
            fileInputs(claimed, into: layout.archive)
            return .failed(reason: reason)
        }
        notes.begin(caseID: 0, attempt: 0, stage: notePrefix + "starting")
        defer { notes.end() }
        let started = clock()
        do {
            let result = try pipeline.run(claimed, pass: .teachersAfterStudent, received: nil, progress: { stage in
                self.notes.stage(notePrefix + stage)
                progress(stage)
            }, shouldStop: stopRequested)
            CaseEventLog(logger: logger).completed(claimed.name, result: result, seconds: clock().timeIntervalSince(started), stage: "teachers")
        } catch is PassCancelled {
            return .requeued
        } catch {
            logger.error("\(claimed.name): the teachers' pass failed; the student's mask stays: \(error)", metadata: ["CASE_ID": "\(claimed.name)"])
        }
        fileInputs(claimed, into: layout.archive)
        return .completed
    }

    /// Files a case that was refused before registration (by the safety checks, incomplete)
    /// into `failed/` with the reason, and records it in the ledger as failed
    /// (`Ledger.recordRefusal`). Throws `CaseFolders.MoveError` when it cannot be moved (and
    /// records nothing: the caller retries the move).
    ///
    /// A name that is not safe as a folder name (control characters, too long) is replaced by
    /// `refused-<seconds since 1970>`; the ledger and the journal then use the folder's final
    /// name (which `fileAway` makes unique, e.g. `refused-1796680854-2`), so that each refusal
    /// can be matched to its folder.
    public func refuse(folder: String, name: String, reason: String) throws {
        let isSafe = RootLayout.isSafeCaseName(name)
        let moved = try CaseFolders.fileAway(folder, into: layout.failed, name: isSafe ? name : "refused-\(Int(clock().timeIntervalSince1970))")
        let safeName = isSafe ? name : URL(fileURLWithPath: moved).lastPathComponent
        let reason = Self.relocated(reason, from: folder, to: moved)
        CaseFolders.writeReason(reason, into: moved)
        logger.log(.caseFailed, "case refused: \(safeName): \(reason)", fields: [.caseID: safeName, .reason: reason])
        do {
            try ledger.recordRefusal(caseName: safeName, reason: reason)
        } catch {
            logger.warning("\(safeName): the refusal is in failed/ and the journal, not in the ledger: \(error)", metadata: ["CASE_ID": "\(safeName)"])
        }
    }

    /// A case folder in `work/` whose content an earlier run already finished (completed or
    /// failed) but could not file away, because `archive/` or `failed/` was unusable then:
    /// files it where its outcome says, now, without running it or adding a ledger record.
    /// Returns nil when the ledger holds no such outcome: the case is to be run (resumed).
    ///
    /// A failure counts only when it was recorded after the folder entered `work/` (the
    /// folder's change time): the same content dropped again after a failure, and interrupted
    /// before it was registered, is a new drop and is run.
    public func fileFinishedLeftover(_ claimed: ClaimedCase) -> Verdict? {
        guard let last = ((try? ledger.cases(named: claimed.name)) ?? []).last(where: { $0.contentHash == claimed.contentHash }) else {
            return nil
        }
        switch last.state {
        case .completed, .duplicate:
            let destination = pipeline.awaitsTeachersPass(caseName: claimed.name) ? layout.deferred : layout.archive
            guard fileInputs(claimed, into: destination) != nil else { return .completed }
            logger.notice("\(claimed.name): finished before (case #\(last.id)); inputs moved into \(destination) now",
                          metadata: ["CASE_ID": "\(claimed.name)"])
            return destination == layout.deferred ? .deferred : .completed
        case .failed:
            var status = stat()
            guard lstat(claimed.folder, &status) == 0,
                  // The ledger keeps milliseconds: a failure within the claim's millisecond counts.
                  last.updatedAt.timeIntervalSince1970 + 0.001 >= Double(status.st_ctim.tv_sec) + Double(status.st_ctim.tv_nsec) / 1e9 else {
                return nil
            }
            let reason = last.lastError ?? "failed (case #\(last.id))"
            guard let moved = fileInputs(claimed, into: layout.failed) else { return .failed(reason: reason) }
            CaseFolders.writeReason(reason, into: moved)
            logger.notice("\(claimed.name): failed before (case #\(last.id)); inputs moved into \(layout.failed) now",
                          metadata: ["CASE_ID": "\(claimed.name)"])
            return .failed(reason: reason)
        default:
            return nil
        }
    }

    // MARK: - Stages

    private enum RegistrationStep {
        case proceed(Int64)
        case finished(Verdict)
    }

    /// Step 1: the ledger's view of this content, and the attempt about to start.
    private func register(_ claimed: ClaimedCase) -> RegistrationStep {
        do {
            switch try ledger.register(caseName: claimed.name, contentHash: claimed.contentHash, inputFiles: claimed.files) {
            case .duplicate(_, let original):
                return .finished(fileDuplicate(claimed, original: original))
            case .new(let id):
                try ledger.transition(id, to: .processing, detail: "attempt started")
                return .proceed(id)
            case .resumed(let id, let state):
                if state == .processing, let verdict = try accountForInterruption(id) {
                    return .finished(fail(claimed, identifier: id, reason: verdict))
                }
                try ledger.transition(id, to: .processing, detail: "attempt started")
                return .proceed(id)
            }
        } catch {
            let reason = "cannot register the case: \(error)"
            guard RetryPolicy.classify(error) == .permanent else {
                // The ledger cannot write (disk full, I/O): not the case's fault, and with no
                // record to count attempts on, it is retried until the ledger writes again.
                let delay = policy.retryBackoffSeconds
                logger.log(.caseRetried, "\(claimed.name): \(reason); the inputs stay in work/, retrying in \(Int(delay)) s",
                           fields: [.caseID: claimed.name, .reason: reason])
                return .finished(.retry(notBefore: clock().addingTimeInterval(delay)))
            }
            do { try refuse(folder: claimed.folder, name: claimed.name, reason: reason) } catch {}
            return .finished(.failed(reason: reason))
        }
    }

    private func fileDuplicate(_ claimed: ClaimedCase, original: Int64) -> Verdict {
        if pipeline.awaitsTeachersPass(caseName: claimed.name) {
            // Student-first: the daemon died after the student pass was recorded and before
            // the inputs reached deferred/; the teachers' pass is still owed.
            logger.notice("\(claimed.name): student mask recorded (case #\(original)); inputs moved to deferred/ for the teachers' pass",
                          metadata: ["CASE_ID": "\(claimed.name)"])
            fileInputs(claimed, into: layout.deferred)
            return .deferred
        }
        let copy = publishCopyOfResult(for: claimed, original: original)
        logger.info("\(claimed.name): same content as case #\(original), already processed; archived without processing\(copy)",
                    metadata: ["CASE_ID": "\(claimed.name)"])
        fileInputs(claimed, into: layout.archive)
        return .duplicate
    }

    /// Same inputs under a new name (a sender that re-sends under another accession number):
    /// the sender waits for `output/<its name>/`, so the earlier result is published there as a
    /// copy (`OutputFolderPublisher.publishCopy`), never recomputed. Only when that folder does
    /// not exist and the original's published report still lists these inputs (it may have
    /// been replaced since). Returns the clause for the journal line ("" when nothing was done).
    private func publishCopyOfResult(for claimed: ClaimedCase, original: Int64) -> String {
        guard let record = try? ledger.caseRecord(original), record.caseName != claimed.name,
              let folder = record.results.outputs["folder"],
              !FileManager.default.fileExists(atPath: "\(layout.output)/\(claimed.name)") else { return "" }
        let completed = CaseReport.timestampFormatter(fractionalSeconds: false).string(from: record.updatedAt)
        do {
            let copy = try OutputFolderPublisher(output: layout.output).publishCopy(
                of: folder, originalName: record.caseName, as: claimed.name, inputDigests: Set(claimed.digests.map(\.sha256)),
                copyOf: "case #\(original) (\(record.caseName)), \(folder), completed \(completed)")
            return "; its result is published as \(copy) (a copy of \(folder))"
        } catch {
            return "; case #\(original)'s result could not be copied under this name: \(error)"
        }
    }

    /// Records how the last attempt of case `id` (left in `processing`) ended: a crash the note
    /// names (signal and stage) or an unexplained death, requeueing the case. Returns the reason
    /// to fail it with when it has now killed the daemon `maximumCrashes` times (or died without
    /// a note `maximumUnexplainedDeaths` times), else nil.
    private func accountForInterruption(_ id: Int64) throws -> String? {
        let attempt = try ledger.caseRecord(id)?.attempts ?? 0
        var cause = InterruptionCause.unexplained
        if let note = notes.previous, note.caseID == id, note.attempt == attempt {
            cause = .crashed(signal: note.signal, stage: note.stage)
        }
        let history = try ledger.recordInterruption(id, attempt: attempt, cause: cause)
        let crashes = history.compactMap { entry -> String? in
            guard case .crashed(let signal, let stage) = entry.cause else { return nil }
            return "attempt \(entry.attempt): \(SignalName.describe(signal)) during '\(stage)'"
        }
        let unexplained = history.count - crashes.count
        if crashes.count >= policy.maximumCrashes {
            return "this case killed the daemon \(crashes.count) times (\(crashes.joined(separator: "; "))), after \(attempt) attempts; "
                + "it was set aside so that the cases behind it proceed. The inputs are unchanged here; please report it with this folder"
        }
        if unexplained >= policy.maximumUnexplainedDeaths {
            return "the daemon was killed \(unexplained) times while processing this case without a crash note (SIGKILL: out of memory, or an operator), "
                + "after \(attempt) attempts; it was set aside so that the cases behind it proceed"
        }
        return nil
    }

    /// Step 3 for a failed attempt: a storage fault is retried until repaired, a transient
    /// failure while attempts remain; anything else fails.
    private func attemptFailed(_ claimed: ClaimedCase, identifier: Int64, error: Error) -> Verdict {
        let kind = RetryPolicy.classify(error)
        guard kind != .permanent else { return fail(claimed, identifier: identifier, reason: "\(error)") }
        let attempts = ((try? ledger.caseRecord(identifier))??.attempts) ?? 1
        guard kind == .storage || attempts < policy.maximumAttempts else {
            return fail(claimed, identifier: identifier, reason: "\(error) (after \(attempts) attempts)")
        }
        try? ledger.recordAttemptFailure(identifier, error: "\(error)", willRetry: true)
        let delay = min(policy.retryBackoffSeconds * pow(2, Double(max(0, attempts - 1))), policy.maximumRetryDelaySeconds)
        let until = kind == .storage ? " (attempt \(attempts); storage faults are retried until repaired)" : ""
        logger.log(.caseRetried, "\(claimed.name): \(error); retrying in \(Int(delay)) s\(until)",
                   fields: [.caseID: claimed.name, .reason: "\(error)", .attempt: attempts])
        return .retry(notBefore: clock().addingTimeInterval(delay))
    }

    /// Moves a finished case's inputs out of `work/` into `destination` (`archive/`, `failed/`,
    /// `deferred/`); the new path, or nil when the move failed (the destination replaced by a
    /// file, no permission). Such a failure is logged at err priority, not hidden: the inputs
    /// stay in `work/<case>`; the service offers the folder again later (`fileFinishedLeftover`).
    @discardableResult
    private func fileInputs(_ claimed: ClaimedCase, into destination: String) -> String? {
        do {
            return try CaseFolders.fileAway(claimed.folder, into: destination, name: claimed.name)
        } catch {
            logger.error("\(claimed.name): cannot move the inputs into \(destination): \(error); they stay in \(claimed.folder) and the move is retried",
                         metadata: ["CASE_ID": "\(claimed.name)"])
            return nil
        }
    }

    /// The ledger records the failure before the inputs move (so a kill in between leaves a
    /// failed record and a leftover in `work/`, which is then filed), with the paths in the
    /// reason already pointing where the inputs are going; `error.txt` names where they went.
    private func fail(_ claimed: ClaimedCase, identifier: Int64, reason: String) -> Verdict {
        try? ledger.transition(identifier, to: .failed,
                               detail: Self.relocated(reason, from: claimed.folder, to: "\(layout.failed)/\(claimed.name)"))
        if let moved = fileInputs(claimed, into: layout.failed) {
            CaseFolders.writeReason(Self.relocated(reason, from: claimed.folder, to: moved), into: moved)
        }
        let attempt = ((try? ledger.caseRecord(identifier))??.attempts) ?? 0
        logger.log(.caseFailed, "case failed: \(claimed.name): \(reason)", fields: [.caseID: claimed.name, .reason: reason, .attempt: attempt])
        return .failed(reason: reason)
    }

    /// `reason` with the paths of files inside `folder` rewritten to the same files inside
    /// `destination`: a reader's error names `work/<case>/<file>`, which no longer exists once
    /// the case is filed away.
    static func relocated(_ reason: String, from folder: String, to destination: String) -> String {
        reason.replacingOccurrences(of: folder + "/", with: destination + "/")
    }

    /// What the ledger keeps of a completed pass.
    static func results(of result: PassResult, seconds: Double) -> CaseResults {
        let volumes = result.report.volumesMillilitres
        var results = CaseResults(
            outputs: ["folder": result.outputFolder],
            modelVersions: Dictionary(uniqueKeysWithValues: result.report.models.map { ($0.name, $0.version) }),
            timings: ["total": seconds],
            volumes: ["WT": volumes.wholeTumour, "TC": volumes.tumourCore, "ET": volumes.enhancingTumour])
        if let evaluation = result.report.evaluation {
            results.dice = Dictionary(uniqueKeysWithValues: BratsRegion.allCases.map { ($0.rawValue, evaluation[$0].dice) })
        }
        return results
    }
}

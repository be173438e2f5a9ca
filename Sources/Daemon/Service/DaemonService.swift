import CPosix
import Core
import Foundation
import Logging
import Plugins

/// `brainseg serve`: the drop-folder daemon (SPEC.md §2–3, §7).
///
/// Start-up: configuration, folders, ledger, models (installed into the root on first start),
/// then the watcher and a full rescan; `READY=1` only then. The work loop waits for watcher
/// events (never longer than the next readiness check), turns complete cases into a queue,
/// and processes one case at a time: safety check, claim by rename into `work/`, safety check
/// again, content hash and ledger registration (a duplicate is archived, not processed),
/// segmentation and outputs (`CaseProcessor`), ledger completion, move to `archive/`. Invalid
/// cases go to `failed/<case>/` with `error.txt`; transient errors (disk full, out of memory)
/// retry with back-off and keep the inputs in `work/`. Anything left in `work/` by a crash or a
/// stop is resumed first at the next start, so a `kill -9` loses nothing and processes nothing
/// twice. SIGTERM: `STOPPING=1`; the case in progress finishes when it is expected to finish
/// within the stop timeout, otherwise it stops at the next stage and is resumed at the next
/// start. SIGHUP: `RELOADING=1`, configuration and models reloaded, `READY=1`. A watchdog
/// thread sends `WATCHDOG=1` at half the interval while the work loop's heartbeat is fresh.
public final class DaemonService {
    private var configuration: DaemonConfiguration
    private let configurationPath: String?
    private let rootOverride: String?
    private let logger: Logger
    private let notifier = SystemdNotifier()
    private var layout: RootLayout
    private var ledger: Ledger!
    private var processor: CaseProcessor!
    private var modelSummary = ""
    /// Model name → version loaded (for noticing promotions and rollbacks).
    private var loadedVersions: [String: String] = [:]
    private var queue: [String] = []
    private var retries: [(folder: String, name: String, notBefore: Date)] = []
    private var lastCaseSeconds: Double?
    private let heartbeat = Heartbeat()
    private var lastStatus = ""
    /// Arms the fatal-signal note and remembers what the last process left (poison pills).
    private var crashRecorder: CrashRecorder!
    /// Entries of incoming/ that cannot be moved (permissions), retried with back-off.
    private var claimBackoff = ClaimBackoff()
    /// Idle memory: when the last case ended, and whether memory was given back since.
    private var lastActivity = Date()
    private var memoryReleased = true

    public init(configurationPath: String?, rootOverride: String?, logger: Logger) throws {
        self.configurationPath = configurationPath
        self.rootOverride = rootOverride
        self.logger = logger
        configuration = try DaemonConfiguration.load(path: configurationPath)
        if let rootOverride { configuration.root = rootOverride }
        layout = RootLayout(root: configuration.root)
    }

    /// Runs until SIGTERM/SIGINT. Throws only for start-up failures (configuration, folders,
    /// ledger, models); per-case problems never stop the daemon.
    public func run() throws {
        for folder in layout.folders {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        ledger = try Ledger(path: layout.ledger)
        crashRecorder = CrashRecorder(path: "\(layout.root)/.crash-note")
        if !crashRecorder.isArmed { logger.warning("cannot write \(layout.root)/.crash-note: a case that crashes the daemon will not be recognised") }
        DistillationPool(directory: layout.pool, maximumEntries: configuration.pool.maximumEntries).removeStaleStaging()
        for stale in ModelInstaller.removeStaleStaging(layout: layout) + CaseProcessor.removeStaleStaging(layout: layout) {
            logger.notice("removed \(stale), left by an interrupted install or publication")
        }
        try loadModels()
        let mode: DropFolderWatcher.Mode
        switch configuration.watchMode {
        case "poll": mode = .polling(interval: .milliseconds(Int(configuration.pollIntervalSeconds * 1000)))
        case "inotify": mode = .inotify
        default: mode = .automatic
        }
        let watcher = try DropFolderWatcher(incoming: layout.incoming, mode: mode,
                                            pollingInterval: .milliseconds(Int(configuration.pollIntervalSeconds * 1000)))
        defer { watcher.close() }
        let signals = SignalMonitor { watcher.wake() }
        var readiness = CaseReadiness(settings: .init(markerFileName: configuration.marker,
                                                      quiescencePeriod: .milliseconds(Int(configuration.quiescenceSeconds * 1000))))
        let watchdog = WatchdogThread(notifier: notifier, heartbeat: heartbeat)
        watchdog.start()
        defer { watchdog.stop() }

        // Cases a crash or a stop left in work/ come first.
        let leftovers = ((try? FileManager.default.contentsOfDirectory(atPath: layout.work)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        logger.info("brainseg \(layout.root): watching \(layout.incoming) (\(watcher.effectiveMode)); models \(modelSummary); \(leftovers.count) case(s) to resume")
        _ = notifier.ready(status: statusLine())
        for name in leftovers where !signals.stopRequested {
            processClaimed(folder: "\(layout.work)/\(name)", caseName: name, received: nil, signals: signals)
        }
        var pendingEvents: [DropFolderEvent] = [.fullRescan]
        while !signals.stopRequested {
            heartbeat.beat()
            if signals.takeReloadRequest() { reload() } else if modelsChangedOnDisk() { reloadModels() }
            let now = ContinuousClock.now
            let ready = readiness.refresh(incoming: layout.incoming, events: pendingEvents, at: now)
            for name in ready where !queue.contains(name) && !claimBackoff.isWaiting(name, at: now) {
                queue.append(name)
                if claimBackoff.entries[name] == nil { logger.log(.caseReceived, fields: [.caseID: name]) }
            }
            failIncompleteCases(&readiness, at: now)
            if let name = queue.first {
                queue.removeFirst()
                readiness.forget(name)
                publishStatus(statusLine(current: name))
                processIncoming(name: name, signals: signals)
                publishStatus(statusLine())
                pendingEvents = [.fullRescan]
                continue
            }
            if let retry = retries.first, retry.notBefore <= Date() {
                retries.removeFirst()
                processClaimed(folder: retry.folder, caseName: retry.name, received: nil, signals: signals)
                continue
            }
            if let name = nextDeferredCase() {
                publishStatus("teachers for \(name) (student mask out) · \(modelSummary)")
                processDeferred(name: name, signals: signals)
                publishStatus(statusLine())
                continue
            }
            pruneArchiveIfDue()
            forgetVanishedStuckCases()
            releaseMemoryIfIdle()
            let wait = readiness.nextRefresh(at: now).map { max(.zero, $0 - now) } ?? .seconds(1)
            pendingEvents = watcher.nextEvents(timeout: min(wait, .seconds(1)))
        }
        _ = notifier.stopping(status: "stopping")
        logger.info("brainseg stopping")
    }

    // MARK: - Cases

    /// A complete case in incoming/: check, claim, process. An entry that cannot be moved out
    /// of incoming/ (permissions) is reported once and retried with back-off (`ClaimBackoff`).
    private func processIncoming(name: String, signals: SignalMonitor) {
        let incomingPath = "\(layout.incoming)/\(name)"
        let received = Date()
        if case .failure(let refusal) = DropFolderSafety.inspect(caseDirectory: incomingPath, allowedRoot: layout.incoming,
                                                                  limits: safetyLimits) {
            do {
                try refuse(folder: incomingPath, name: name, reason: refusal.reason)
                clearStuck(name)
            } catch let error as CaseFolders.MoveError {
                recordStuck(name, path: incomingPath, error: error, action: "refused and moved to failed/ (\(refusal.reason))")
            } catch {}
            return
        }
        let claimed: String
        do {
            claimed = try CaseFolders.move(incomingPath, into: layout.work, name: name)
        } catch let error as CaseFolders.MoveError where error.code != ENOENT {
            recordStuck(name, path: incomingPath, error: error, action: "claimed (moved into work/)")
            return
        } catch {
            logger.warning("could not claim \(name): \(error)")   // another daemon took it, or it vanished
            return
        }
        clearStuck(name)
        processClaimed(folder: claimed, caseName: name, received: received, signals: signals)
    }

    /// One failed move out of incoming/: back off, remember it for `status`, and say what is
    /// wrong once (journal priority err); later tries log at debug level only.
    private func recordStuck(_ name: String, path: String, error: CaseFolders.MoveError, action: String) {
        let (failures, delay) = claimBackoff.recordFailure(name, at: .now)
        let reason = ClaimDiagnosis.explain(caseName: name, path: path, errorNumber: error.code, action: action)
        _ = try? ledger.recordStuck(name: name, reason: reason)
        if failures == 1 {
            logger.log(.caseStuck, reason, fields: [.caseID: name, .reason: reason])
        } else {
            logger.debug("\(name): still cannot be moved (try \(failures)); next try in \(delay)")
        }
    }

    private func clearStuck(_ name: String) {
        guard claimBackoff.forget(name) else { return }
        try? ledger.clearStuck(name: name)
        logger.notice("\(name): no longer stuck in incoming/", metadata: ["CASE_ID": "\(name)"])
    }

    /// Stuck entries that are gone from incoming/ (the operator moved or deleted them).
    private func forgetVanishedStuckCases() {
        for name in claimBackoff.names {
            var status = stat()
            if lstat("\(layout.incoming)/\(name)", &status) != 0 { clearStuck(name) }
        }
    }

    /// After `idleMemoryReleaseSeconds` without a case, gives the engine's buffer pool and free
    /// heap back to the system (the next case allocates them again, about 1 s).
    private func releaseMemoryIfIdle() {
        guard !memoryReleased, configuration.idleMemoryReleaseSeconds > 0,
              Date().timeIntervalSince(lastActivity) >= configuration.idleMemoryReleaseSeconds else { return }
        memoryReleased = true
        let before = ResidentMemory.currentMegabytes()
        let pooled = BufferPool.shared.idleBytes
        BufferPool.shared.drain()
        _ = cposix_malloc_trim()
        let after = ResidentMemory.currentMegabytes()
        logger.info("idle for \(Int(configuration.idleMemoryReleaseSeconds)) s: released \(pooled >> 20) MB of engine buffers; resident memory \(before) MB → \(after) MB")
    }

    /// A case folder inside work/: register, process, file away.
    private func processClaimed(folder: String, caseName: String, received: Date?, signals: SignalMonitor) {
        if case .failure(let refusal) = DropFolderSafety.inspect(caseDirectory: folder, allowedRoot: layout.work, limits: safetyLimits) {
            try? refuse(folder: folder, name: caseName, reason: refusal.reason)
            return
        }
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
            .map { "\(folder)/\($0)" }
        let identifier: Int64
        var digests: [ContentHash.FileDigest] = []
        do {
            let hash = try ContentHash.compute(files: files)
            digests = hash.files
            switch try ledger.register(caseName: caseName, contentHash: hash.description, inputFiles: files) {
            case .duplicate(_, let original):
                if CaseProcessor.awaitsTeachersPass(caseName: caseName, layout: layout) {
                    // Student-first: the daemon died after the student pass was recorded and
                    // before the inputs reached deferred/; the teachers' pass is still owed.
                    logger.notice("\(caseName): student mask recorded (case #\(original)); inputs moved to deferred/ for the teachers' pass",
                                  metadata: ["CASE_ID": "\(caseName)"])
                    _ = try? CaseFolders.move(folder, into: layout.deferred, name: caseName)
                    return
                }
                logger.info("\(caseName): same content as case #\(original), already processed; archived without processing",
                            metadata: ["CASE_ID": "\(caseName)"])
                _ = try? CaseFolders.move(folder, into: layout.archive, name: caseName)
                return
            case .new(let id):
                identifier = id
            case .resumed(let id, let state):
                identifier = id
                if state == .processing {
                    // The daemon died during this case: record how, and set the case aside when it keeps killing it.
                    if let verdict = try accountForInterruption(id) {
                        fail(folder: folder, name: caseName, identifier: id, reason: verdict)
                        return
                    }
                }
            }
            try ledger.transition(identifier, to: .processing, detail: "attempt started")
        } catch {
            try? refuse(folder: folder, name: caseName, reason: "cannot register the case: \(error)")
            return
        }
        let attempt = ((try? ledger.caseRecord(identifier))??.attempts) ?? 1
        crashRecorder.begin(caseID: identifier, attempt: attempt, stage: "starting")
        defer { crashRecorder.end() }
        lastActivity = Date()
        memoryReleased = false
        defer { lastActivity = Date() }
        logger.log(.caseStarted, fields: [.caseID: caseName])
        FaultInjection.check(.trap, caseName: caseName)
        let started = Date()
        let expected = lastCaseSeconds
        do {
            let pass: CaseProcessor.Pass = configuration.inferenceMode == .studentFirst ? .studentOnly : .ensemble
            let outcome = try processor.process(folder: folder, caseName: caseName, received: received, pass: pass, knownDigests: digests,
                                                progress: { stage in
                self.heartbeat.beat()
                self.crashRecorder.stage(stage)
                self.publishStatus("segmenting \(caseName) (\(stage))")
            }, shouldStop: {
                // Finish the case when it will end within the stop timeout; else stop between stages.
                guard signals.stopRequested else { return false }
                let elapsed = Date().timeIntervalSince(started)
                return (expected ?? .infinity) - elapsed > configuration.stopTimeoutSeconds
            })
            let seconds = Date().timeIntervalSince(started)
            lastCaseSeconds = seconds
            let volumes = outcome.report.volumesMillilitres
            var results = CaseResults(
                outputs: ["folder": outcome.outputFolder],
                modelVersions: Dictionary(uniqueKeysWithValues: outcome.report.models.map { ($0.name, $0.version) }),
                timings: ["total": seconds],
                volumes: ["WT": volumes.wholeTumour, "TC": volumes.tumourCore, "ET": volumes.enhancingTumour])
            if let evaluation = outcome.report.evaluation {
                results.dice = Dictionary(uniqueKeysWithValues: BratsRegion.allCases.map { ($0.rawValue, evaluation[$0].dice) })
            }
            try ledger.recordCompletion(identifier, results: results)
            if pass == .studentOnly { FaultInjection.check(.killAfterStudentPass, caseName: caseName) }
            // Student-first: the inputs wait in deferred/ for the teachers' pass.
            _ = try? CaseFolders.move(folder, into: pass == .studentOnly ? layout.deferred : layout.archive, name: caseName)
            var fields: KeyValuePairs<DaemonEventField, any CustomStringConvertible & Sendable> = [
                .caseID: caseName, .durationMilliseconds: Int(seconds * 1000),
                .wholeTumourMillilitres: rounded(volumes.wholeTumour), .tumourCoreMillilitres: rounded(volumes.tumourCore),
                .enhancingTumourMillilitres: rounded(volumes.enhancingTumour)]
            if let evaluation = outcome.report.evaluation {
                fields = [.caseID: caseName, .durationMilliseconds: Int(seconds * 1000),
                          .wholeTumourMillilitres: rounded(volumes.wholeTumour), .tumourCoreMillilitres: rounded(volumes.tumourCore),
                          .enhancingTumourMillilitres: rounded(volumes.enhancingTumour),
                          .diceWholeTumour: rounded(evaluation[.wholeTumour].dice), .diceTumourCore: rounded(evaluation[.tumourCore].dice),
                          .diceEnhancingTumour: rounded(evaluation[.enhancingTumour].dice)]
            }
            logger.log(.caseCompleted, fields: fields)
            logPoolOutcome(outcome.pool, caseName: caseName)
        } catch is CaseProcessor.Cancelled {
            try? ledger.transition(identifier, to: .queued, detail: "stopped by SIGTERM; resumed at the next start")
            logger.notice("\(caseName): stopped before completion; it stays in work/ and is resumed at the next start",
                          metadata: ["CASE_ID": "\(caseName)"])
        } catch where Self.isTransient(error) {
            let attempts = ((try? ledger.caseRecord(identifier))??.attempts) ?? 1
            let willRetry = attempts < configuration.maximumAttempts
            try? ledger.recordAttemptFailure(identifier, error: "\(error)", willRetry: willRetry)
            if willRetry {
                let delay = configuration.retryBackoffSeconds * pow(2, Double(max(0, attempts - 1)))
                retries.append((folder, caseName, Date().addingTimeInterval(delay)))
                logger.log(.caseRetried, "\(caseName): \(error); retrying in \(Int(delay)) s", fields: [.caseID: caseName, .reason: "\(error)"])
            } else {
                fail(folder: folder, name: caseName, identifier: identifier, reason: "\(error) (after \(attempts) attempts)")
            }
        } catch {
            fail(folder: folder, name: caseName, identifier: identifier, reason: "\(error)")
        }
    }

    /// Records how the last attempt of case `id` (left in `processing`) ended: a crash the note
    /// names (signal and stage) or an unexplained death, requeueing the case. Returns the reason
    /// to fail it with when it has now killed the daemon `maximumCrashes` times (or died without
    /// a note `maximumUnexplainedDeaths` times), else nil.
    private func accountForInterruption(_ id: Int64) throws -> String? {
        let attempt = try ledger.caseRecord(id)?.attempts ?? 0
        var cause = InterruptionCause.unexplained
        if let note = crashRecorder.previous, note.caseID == id, note.attempt == attempt {
            cause = .crashed(signal: note.signal, stage: note.stage)
        }
        let history = try ledger.recordInterruption(id, attempt: attempt, cause: cause)
        let crashes = history.compactMap { entry -> String? in
            guard case .crashed(let signal, let stage) = entry.cause else { return nil }
            return "attempt \(entry.attempt): \(SignalName.describe(signal)) during '\(stage)'"
        }
        let unexplained = history.count - crashes.count
        if crashes.count >= configuration.maximumCrashes {
            return "this case killed the daemon \(crashes.count) times (\(crashes.joined(separator: "; "))), after \(attempt) attempts; "
                + "it was set aside so that the cases behind it proceed. The inputs are unchanged here; please report it with this folder"
        }
        if unexplained >= configuration.maximumUnexplainedDeaths {
            return "the daemon was killed \(unexplained) times while processing this case without a crash note (SIGKILL: out of memory, or an operator), "
                + "after \(attempt) attempts; it was set aside so that the cases behind it proceed"
        }
        return nil
    }

    // MARK: - Student-first mode: the teachers' pass when idle

    private func nextDeferredCase() -> String? {
        ((try? FileManager.default.contentsOfDirectory(atPath: layout.deferred)) ?? []).filter { !$0.hasPrefix(".") }.sorted().first
    }

    /// Runs the ensemble on a case whose student mask is already out, replaces the mask and
    /// report (revision 2), feeds the pool, and archives the inputs. A stop leaves the case in
    /// deferred/ for the next start; an error keeps the student's result and archives the inputs.
    private func processDeferred(name: String, signals: SignalMonitor) {
        let folder = "\(layout.deferred)/\(name)"
        let started = Date()
        do {
            let outcome = try processor.process(folder: folder, caseName: name, received: nil, pass: .teachersAfterStudent, progress: { stage in
                self.heartbeat.beat()
                self.publishStatus("teachers for \(name) (\(stage))")
            }, shouldStop: { signals.stopRequested })
            let volumes = outcome.report.volumesMillilitres
            logger.log(.caseCompleted, "case completed: \(name) (ensemble mask replaced the student's)",
                       fields: [.caseID: name, .stage: "teachers", .durationMilliseconds: Int(Date().timeIntervalSince(started) * 1000),
                                .wholeTumourMillilitres: rounded(volumes.wholeTumour), .tumourCoreMillilitres: rounded(volumes.tumourCore),
                                .enhancingTumourMillilitres: rounded(volumes.enhancingTumour)])
            logPoolOutcome(outcome.pool, caseName: name)
        } catch is CaseProcessor.Cancelled {
            return
        } catch {
            logger.error("\(name): the teachers' pass failed; the student's mask stays: \(error)", metadata: ["CASE_ID": "\(name)"])
        }
        _ = try? CaseFolders.move(folder, into: layout.archive, name: name)
    }

    private func logPoolOutcome(_ outcome: CaseProcessor.PoolOutcome?, caseName: String) {
        switch outcome {
        case .admitted(let entry, let evicted)?:
            let evictedText = evicted.filter { $0 != caseName }.isEmpty ? "" : "; evicted \(evicted.filter { $0 != caseName }.joined(separator: ", "))"
            logger.log(.poolAdmitted, String(format: "pool: admitted %@ (%@, score %.3f)%@: %@", caseName, entry.kind.rawValue, entry.confidence.score,
                                             evictedText, entry.confidence.reasons.joined(separator: "; ")),
                       fields: [.caseID: caseName, .score: String(format: "%.4f", entry.confidence.score)])
        case .rejected(let assessment, let reason)?:
            logger.log(.poolRejected, String(format: "pool: rejected %@ (score %.3f): %@; %@", caseName, assessment.score, reason,
                                             assessment.reasons.joined(separator: "; ")),
                       fields: [.caseID: caseName, .score: String(format: "%.4f", assessment.score), .reason: reason])
        case nil:
            break
        }
    }

    private var lastPrune = Date.distantPast

    /// Removes archived inputs older than `archiveRetentionDays` (hourly, when idle).
    private func pruneArchiveIfDue() {
        guard configuration.archiveRetentionDays > 0, Date().timeIntervalSince(lastPrune) > 3600 else { return }
        lastPrune = Date()
        let limit = Date().addingTimeInterval(-Double(configuration.archiveRetentionDays) * 86_400)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: layout.archive)) ?? [] {
            let path = "\(layout.archive)/\(name)"
            if let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date, modified < limit {
                try? FileManager.default.removeItem(atPath: path)
                logger.info("archive: removed \(name) (older than \(configuration.archiveRetentionDays) days)")
            }
        }
    }

    /// A case that lacks a modality is failed when its marker file says the sender is done, or
    /// when it stayed incomplete for `incompleteTimeoutSeconds`; its files go to failed/ intact.
    private func failIncompleteCases(_ readiness: inout CaseReadiness, at now: ContinuousClock.Instant) {
        for name in readiness.trackedCases where !claimBackoff.isWaiting(name, at: now) {
            guard case .incomplete(let missing, let since)? = readiness.state(of: name, at: now) else { continue }
            let folder = "\(layout.incoming)/\(name)"
            let markerPresent = readiness.snapshotHasMarker(name)
            let waited = now - since
            guard markerPresent || waited > .milliseconds(Int(configuration.incompleteTimeoutSeconds * 1000)) else { continue }
            let missingText = missing.map(\.description).joined(separator: ", ")
            let reason = markerPresent
                ? "incomplete case: the \(configuration.marker) marker is present but \(missingText) is missing (expected T1, T1ce, T2 and FLAIR NIfTI files)"
                : "incomplete case: \(missingText) still missing after \(Int(configuration.incompleteTimeoutSeconds)) s"
            readiness.forget(name)
            do {
                try refuse(folder: folder, name: name, reason: reason)
            } catch let error as CaseFolders.MoveError {
                recordStuck(name, path: folder, error: error, action: "moved to failed/ (\(reason))")
            } catch {}
        }
    }

    private func rounded(_ value: Double) -> String { String(format: "%.3f", value) }

    private var safetyLimits: DropFolderSafety.Limits {
        DropFolderSafety.Limits(maximumTotalBytes: Int64(configuration.maximumCaseBytes), maximumFileCount: configuration.maximumCaseFiles)
    }

    /// Disk full, out of memory, I/O errors: worth retrying later with the inputs kept.
    static func isTransient(_ error: Error) -> Bool {
        let text = "\(error)".lowercased()
        return text.contains("no space left") || text.contains("disk full") || text.contains("cannot allocate memory")
            || text.contains("input/output error")
    }

    /// A refused case (unsafe or unreadable): to failed/ with the reason; nothing is lost.
    /// Throws `CaseFolders.MoveError` when it cannot be moved (nothing is logged then: the
    /// caller backs off and reports it as stuck).
    private func refuse(folder: String, name: String, reason: String) throws {
        let safeName = RootLayout.isSafeCaseName(name) ? name : "refused-\(Int(Date().timeIntervalSince1970))"
        let moved = try CaseFolders.fileAway(folder, into: layout.failed, name: safeName)
        CaseFolders.writeReason(reason, into: moved)
        logger.log(.caseFailed, "case refused: \(safeName): \(reason)", fields: [.caseID: safeName, .reason: reason])
    }

    private func fail(folder: String, name: String, identifier: Int64, reason: String) {
        try? ledger.transition(identifier, to: .failed, detail: reason)
        if let moved = try? CaseFolders.fileAway(folder, into: layout.failed, name: name) {
            CaseFolders.writeReason(reason, into: moved)
        }
        let attempt = ((try? ledger.caseRecord(identifier))??.attempts) ?? 0
        logger.log(.caseFailed, "case failed: \(name): \(reason)", fields: [.caseID: name, .reason: reason, .attempt: attempt])
    }

    // MARK: - Models, reload, status

    private func loadModels() throws {
        var names = configuration.ensemble
        let studentSeparately = (configuration.studentAlongside || configuration.inferenceMode == .studentFirst) && !names.contains("student")
        if studentSeparately { names.append("student") }
        let loaded = try ModelInstaller.load(names, layout: layout, profile: configuration.profile,
                                             searchFolder: configuration.modelsDirectory) { [logger] in logger.warning("\($0)") }
        let ensemble = configuration.ensemble.map { loaded[$0]! }
        processor = CaseProcessor(configuration: configuration, layout: layout,
                                  models: .init(ensemble: ensemble, student: studentSeparately ? loaded["student"] : nil))
        loadedVersions = Dictionary(uniqueKeysWithValues: names.map { ($0, loaded[$0]!.version) })
        modelSummary = names.map { name in
            let version = loaded[name]!.version
            return Int(version) != nil ? "\(name) v\(version)" : "\(name) (\(version))"
        }.joined(separator: ", ")
    }

    /// Whether a `models/<name>/current` link now points elsewhere than the loaded version (a
    /// promotion or rollback): one readlink per model per loop turn, so idle cost stays nil.
    private func modelsChangedOnDisk() -> Bool {
        loadedVersions.contains { name, version in
            guard let onDisk = ModelInstaller.currentVersion(name, layout: layout) else { return false }
            return onDisk != version
        }
    }

    /// Loads the models `current` now points to; a failure keeps the models in service.
    private func reloadModels() {
        let before = modelSummary
        do {
            try loadModels()
            logger.log(.configurationReloaded, "models changed on disk: \(before) → \(modelSummary)")
            publishStatus(statusLine())
        } catch {
            logger.error("models changed on disk but could not be loaded; keeping \(before): \(error)")
            // Do not retry every loop turn: remember the versions on disk as seen.
            for name in loadedVersions.keys { loadedVersions[name] = ModelInstaller.currentVersion(name, layout: layout) ?? loadedVersions[name] }
        }
    }

    private func reload() {
        _ = notifier.reloading()
        do {
            var fresh = try DaemonConfiguration.load(path: configurationPath)
            if let rootOverride { fresh.root = rootOverride }
            if fresh.root != configuration.root {
                logger.warning("root changes need a restart; keeping \(configuration.root)")
                fresh.root = configuration.root
            }
            configuration = fresh
            try loadModels()
            logger.log(.configurationReloaded, "configuration and models reloaded: \(modelSummary)")
        } catch {
            logger.error("reload failed, keeping the previous configuration and models: \(error)")
        }
        _ = notifier.ready(status: statusLine())
    }

    /// Sends STATUS= only when it changed (systemd keeps the last one).
    private func publishStatus(_ text: String) {
        guard text != lastStatus else { return }
        lastStatus = text
        _ = notifier.status(text)
    }

    private func statusLine(current: String? = nil) -> String {
        if let current { return "segmenting \(current) · queue \(queue.count) · \(modelSummary)" }
        return "idle · queue \(queue.count) · \(modelSummary)"
    }
}

/// The work loop's liveness: updated every loop iteration and at every pipeline stage.
final class Heartbeat: @unchecked Sendable {
    private let lock = NSLock()
    private var last = Date()

    func beat() {
        lock.lock(); last = Date(); lock.unlock()
    }

    var age: TimeInterval {
        lock.lock(); defer { lock.unlock() }
        return Date().timeIntervalSince(last)
    }
}

/// Sends `WATCHDOG=1` at half the configured interval while the work loop's heartbeat is
/// younger than the interval; a hung loop stops the pings and systemd restarts the service.
final class WatchdogThread: @unchecked Sendable {
    private let notifier: SystemdNotifier
    private let heartbeat: Heartbeat
    private let pacer = WatchdogPacer.fromEnvironment()
    private var thread: Thread?
    private let lock = NSLock()
    private var running = false

    init(notifier: SystemdNotifier, heartbeat: Heartbeat) {
        self.notifier = notifier
        self.heartbeat = heartbeat
    }

    func start() {
        guard let interval = SystemdNotifier.watchdogInterval() else { return }
        let limit = Double(interval.components.seconds) + Double(interval.components.attoseconds) * 1e-18
        lock.lock(); running = true; lock.unlock()
        let thread = Thread { [self] in
            while isRunning {
                if heartbeat.age < limit { _ = pacer.pingIfDue(using: notifier) }
                Thread.sleep(forTimeInterval: min(1, limit / 4))
            }
        }
        thread.name = "brainseg-watchdog"
        thread.start()
        self.thread = thread
    }

    private var isRunning: Bool {
        lock.lock(); defer { lock.unlock() }
        return running
    }

    func stop() {
        lock.lock(); running = false; lock.unlock()
    }
}

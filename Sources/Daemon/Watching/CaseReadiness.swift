import Core

/// Decides when an entry of `incoming/` is complete enough to be claimed (SPEC.md §1): all four
/// modalities are present (`CaseFiles.missingModalities`) and either the marker file (`READY`
/// by default) exists or nothing in the case changed — names, sizes, modification and change
/// times — for the quiescence period (30 s by default). Either way no file may still be open for
/// writing (SPEC.md §1: "every file has been closed after writing"), where the kernel can tell
/// (`CaseSnapshot.Entry.isOpenForWriting`): a sender stalled in the middle of a file, or one that
/// writes the marker before closing the last file, is waited for, not claimed half-written.
///
/// The tracker only knows what it is shown. A writer that keeps a file open and appends to it
/// produces no inotify event until it closes the file, so the caller must show it fresh
/// snapshots of every tracked case regularly: `refresh(incoming:events:at:)` does exactly that
/// (it snapshots every case named by the events and every case already tracked) and returns
/// the ready cases, and is the intended entry point for the service loop. Call it after every
/// `DropFolderWatcher.nextEvents` and at least every `Settings.recheckInterval` while cases are
/// pending (`nextRefresh(at:)` says when). `readyCases(at:)` on stale snapshots would trust
/// files that might have grown since.
///
/// Entries that are not directories (stray files, symlinks, FIFOs at the top level of
/// `incoming/`) become ready after the quiescence period without any modality check, so that
/// the service hands them to `DropFolderSafety`, which refuses them with a reason, instead of
/// leaving them unnoticed. A case in which a modality is still missing is never ready, marker
/// or not; its state says what is missing. Quiescence is measured from the first observation of
/// the current snapshot, so after a restart a quiet case waits one more period.
public struct CaseReadiness: Sendable {
    public struct Settings: Sendable, Equatable {
        /// The file whose presence says "complete" (exact, case-sensitive name).
        public var markerFileName: String
        /// How long a case must stay unchanged when there is no marker.
        public var quiescencePeriod: Duration
        /// How often pending cases should be snapshotted again (see `nextRefresh`).
        public var recheckInterval: Duration

        public init(markerFileName: String = "READY", quiescencePeriod: Duration = .seconds(30),
                    recheckInterval: Duration = .seconds(1)) {
            self.markerFileName = markerFileName
            self.quiescencePeriod = quiescencePeriod
            self.recheckInterval = recheckInterval
        }
    }

    /// Where a tracked entry stands.
    public enum State: Sendable, Equatable {
        /// Modalities are missing; waiting for more files. `since` is the last change, so the
        /// service can give up on a case that stays incomplete for too long.
        case incomplete(missing: [Modality], since: ContinuousClock.Instant)
        /// Complete, but a process still holds these files open for writing; `since` is the
        /// last change, so the service can give up on a writer that never closes them.
        case beingWritten(files: [String], since: ContinuousClock.Instant)
        /// Complete, no marker; ready at `readyAt` if nothing changes until then.
        case settling(readyAt: ContinuousClock.Instant)
        case ready(ReadyReason)
    }

    public enum ReadyReason: Sendable, Equatable {
        case marker
        case quiescent
        /// Not a directory: ready to be refused by the safety check.
        case notADirectory
        /// A directory the daemon may not open (permissions): ready at once, so the service
        /// reports it (stuck, with the permission it lacks) instead of waiting in silence.
        case unreadable
        /// A directory with more entries than a snapshot reads: ready to be refused by the
        /// safety check's file count once nothing changes.
        case tooManyEntries
    }

    private struct Tracked: Sendable {
        var snapshot: CaseSnapshot
        var lastChange: ContinuousClock.Instant
        var firstSeen: ContinuousClock.Instant
    }

    /// Replaced on a configuration reload; tracked cases keep their observations and are
    /// judged by the new settings from then on.
    public var settings: Settings
    private var tracked: [String: Tracked] = [:]

    public init(settings: Settings = Settings()) {
        self.settings = settings
    }

    /// The names currently tracked (pending or ready, not yet forgotten), sorted.
    public var trackedCases: [String] { tracked.keys.sorted() }

    /// Records what `caseName` looks like at `instant`. A snapshot that differs from the last
    /// one restarts the quiescence period; nil (nothing there any more) forgets the case.
    public mutating func observe(caseName: String, snapshot: CaseSnapshot?, at instant: ContinuousClock.Instant) {
        guard let snapshot else {
            tracked.removeValue(forKey: caseName)
            return
        }
        if var entry = tracked[caseName] {
            if entry.snapshot != snapshot {
                entry.snapshot = snapshot
                entry.lastChange = instant
                tracked[caseName] = entry
            }
        } else {
            tracked[caseName] = Tracked(snapshot: snapshot, lastChange: instant, firstSeen: instant)
        }
    }

    /// Stops tracking `caseName` (after it was claimed or refused). If it is still in
    /// `incoming/` at the next refresh, it is tracked afresh.
    public mutating func forget(_ caseName: String) {
        tracked.removeValue(forKey: caseName)
    }

    /// The state of `caseName` at `instant`, or nil when it is not tracked.
    public func state(of caseName: String, at instant: ContinuousClock.Instant) -> State? {
        guard let entry = tracked[caseName] else { return nil }
        let readyAt = entry.lastChange + settings.quiescencePeriod
        if entry.snapshot.isUnreadable { return .ready(.unreadable) }
        guard entry.snapshot.kind == .directory else {
            return instant >= readyAt ? .ready(.notADirectory) : .settling(readyAt: readyAt)
        }
        // More entries than a snapshot reads (`CaseSnapshot.entryLimit`): whatever is missing
        // from the snapshot may be among the entries it did not read, and no case has that many
        // files, so it goes to the safety check (which refuses it by its file count) once quiet,
        // instead of waiting as "incomplete" for the incomplete timeout.
        if entry.snapshot.isTruncated { return instant >= readyAt ? .ready(.tooManyEntries) : .settling(readyAt: readyAt) }
        let missing = CaseFiles.missingModalities(names: entry.snapshot.names)
        guard missing.isEmpty else { return .incomplete(missing: missing, since: entry.lastChange) }
        let open = entry.snapshot.filesOpenForWriting
        guard open.isEmpty else { return .beingWritten(files: open, since: entry.lastChange) }
        if entry.snapshot.entries.contains(where: { $0.name == settings.markerFileName }) { return .ready(.marker) }
        return instant >= readyAt ? .ready(.quiescent) : .settling(readyAt: readyAt)
    }

    /// Whether the last snapshot of `caseName` holds the marker file. Decisions that combine
    /// the marker with the missing modalities must use this, not a fresh look at the disk:
    /// the sender writes the marker last, so only the same snapshot tells "marker, yet
    /// incomplete" from "complete, the snapshot is a moment old".
    public func snapshotHasMarker(_ caseName: String) -> Bool {
        tracked[caseName]?.snapshot.entries.contains { $0.name == settings.markerFileName } ?? false
    }

    /// The tracked cases that are ready at `instant`, oldest first (by first observation, then
    /// name). Only meaningful right after fresh snapshots were observed; prefer `refresh`.
    public func readyCases(at instant: ContinuousClock.Instant) -> [String] {
        tracked
            .filter { if case .ready = state(of: $0.key, at: instant) { return true } else { return false } }
            .sorted { ($0.value.firstSeen, $0.key) < ($1.value.firstSeen, $1.key) }
            .map(\.key)
    }

    /// Applies the watcher's events and re-snapshots every tracked case, then returns the
    /// cases ready at `instant`. `.fullRescan` lists `incoming` (`DropFolderListing`), forgets
    /// entries that are gone and snapshots every one that is there; `.caseChanged` snapshots that
    /// case. Names that are not safe case names are still tracked (so that the safety check can
    /// refuse them), but are never joined into a path that leaves `incoming`: such names (`..`,
    /// anything with `/`) are dropped here.
    public mutating func refresh(incoming: String, events: [DropFolderEvent], at instant: ContinuousClock.Instant) -> [String] {
        var names = Set(tracked.keys)
        for event in events {
            switch event {
            case .caseChanged(let name):
                names.insert(name)
            case .fullRescan:
                let listed = Set(DropFolderListing.entryNames(incoming: incoming) ?? [])
                for name in names where !listed.contains(name) { tracked.removeValue(forKey: name) }
                names = listed
            }
        }
        for name in names {
            guard !name.isEmpty, name != ".", name != "..", !name.contains("/") else {
                tracked.removeValue(forKey: name)
                continue
            }
            observe(caseName: name, snapshot: CaseSnapshot.take(path: "\(incoming)/\(name)"), at: instant)
        }
        return readyCases(at: instant)
    }

    /// When the service loop should refresh next: nil when nothing is tracked (wait for the
    /// watcher alone), otherwise within `recheckInterval`, or earlier when a quiet case's period
    /// ends before that.
    public func nextRefresh(at instant: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        guard !tracked.isEmpty else { return nil }
        var next = instant + settings.recheckInterval
        for name in tracked.keys {
            if case .settling(let readyAt) = state(of: name, at: instant) { next = min(next, max(readyAt, instant)) }
        }
        return next
    }
}
